"""The REST proxy (gateway/rest/, the real binary) in front of a canned gRPC backend, checked over HTTP: error
mapping with google.rpc details, headers, query parameters, methods, health and the OpenAPI document."""

from __future__ import annotations

import json
import socket
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.client import HTTPConnection
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from exchange.v1 import common_pb2, market_data_service_pb2, trading_service_pb2
from gateway.trading import BATCH_ORDERS_MAX

from .conftest import HEALTH_NOT_SERVING, Backend, HttpResponse, Proxy, http, start_proxy, stop_proxy

Rest = Callable[..., HttpResponse]
DOMAIN = "exchange.v1"
AUTH = {"Authorization": "Bearer test-key-1"}
BODY_LIMIT_BYTES = 1 << 20  # maxBodyBytes in gateway/rest/body.go


def _error_info(reason: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata={"symbol": "BTC_USDT"})


def _bad_request(field: str) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=field, description=f"{field} is wrong")])


def _details_by_type(response: HttpResponse) -> dict[str, dict]:
    assert isinstance(response.body, dict), response
    return {detail["@type"].rsplit("/", 1)[1]: detail for detail in response.body["details"]}


@pytest.mark.parametrize(("code", "http_status"), [
    (grpc.StatusCode.INVALID_ARGUMENT, 400),
    (grpc.StatusCode.NOT_FOUND, 404),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (grpc.StatusCode.FAILED_PRECONDITION, 400),
    (grpc.StatusCode.ALREADY_EXISTS, 409),
    (grpc.StatusCode.UNAUTHENTICATED, 401),
    (grpc.StatusCode.PERMISSION_DENIED, 403),
    (grpc.StatusCode.UNAVAILABLE, 503),
], ids=lambda value: getattr(value, "name", str(value)))
def test_error_with_details_maps_to_http_status_with_reason_in_body(
    rest: Rest, backend: Backend, code: grpc.StatusCode, http_status: int
) -> None:
    """A refusal with ErrorInfo and BadRequest details keeps both in the JSON body under its HTTP status."""
    reason = f"REJECT_REASON_TEST_{code.name}"
    backend.double.fail("TradingService/PlaceOrder", code, "refused for the test",
                        _error_info(reason), _bad_request("price"))

    response = rest("POST", "/v1/orders", {"symbol": "BTC_USDT", "side": "SIDE_BUY"}, AUTH)

    assert response.status == http_status, response
    assert response.body["code"] == code.value[0]
    assert response.body["message"] == "refused for the test"
    details = _details_by_type(response)
    assert details["google.rpc.ErrorInfo"]["reason"] == reason
    assert details["google.rpc.ErrorInfo"]["domain"] == DOMAIN
    assert details["google.rpc.ErrorInfo"]["metadata"] == {"symbol": "BTC_USDT"}
    assert details["google.rpc.BadRequest"]["field_violations"][0]["field"] == "price"


def test_resource_exhausted_with_retry_info_sets_retry_after_rounded_up(rest: Rest, backend: Backend) -> None:
    """RetryInfo of 1.2 s becomes `Retry-After: 2` (whole seconds, never shorter than asked)."""
    backend.double.fail("TradingService/PlaceOrder", grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down",
                        _error_info("REJECT_REASON_RATE_LIMITED"),
                        error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1, nanos=200_000_000)))

    response = rest("POST", "/v1/orders", {"symbol": "BTC_USDT"}, AUTH)

    assert response.status == 429
    assert response.headers["retry-after"] == "2"
    assert _details_by_type(response)["google.rpc.RetryInfo"]["retry_delay"] == "1.200s"


def test_unavailable_with_retry_info_sets_retry_after(rest: Rest, backend: Backend) -> None:
    """UBSCore shedding load (UBSCORE_BUSY) is UNAVAILABLE with a RetryInfo: 503 and Retry-After."""
    backend.double.fail("TradingService/PlaceOrder", grpc.StatusCode.UNAVAILABLE, "busy",
                        _error_info("REJECT_REASON_UBSCORE_BUSY"),
                        error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=50_000_000)))

    response = rest("POST", "/v1/orders", {"symbol": "BTC_USDT"}, AUTH)

    assert response.status == 503
    assert response.headers["retry-after"] == "1"


def test_unauthenticated_answer_has_a_bearer_challenge(rest: Rest, backend: Backend) -> None:
    backend.double.fail("AccountService/GetBalances", grpc.StatusCode.UNAUTHENTICATED, "no such key",
                        _error_info("REJECT_REASON_UNAUTHENTICATED"))

    response = rest("GET", "/v1/balances", headers=AUTH)

    assert response.status == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="exchange"'


def test_resource_exhausted_without_retry_info_has_no_retry_after(rest: Rest, backend: Backend) -> None:
    backend.double.fail("TradingService/PlaceOrder", grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down",
                        _error_info("REJECT_REASON_RATE_LIMITED"))

    response = rest("POST", "/v1/orders", {"symbol": "BTC_USDT"}, AUTH)

    assert response.status == 429
    assert "retry-after" not in response.headers


def test_authorization_reaches_backend_exactly_once(rest: Rest, backend: Backend) -> None:
    """One `authorization` value arrives, and no other metadata key carries a copy of the credential."""
    rest("GET", "/v1/balances", headers={**AUTH, "X-Request-Id": "req-7"})

    (call,) = backend.double.calls_of("AccountService/GetBalances")
    assert [value for key, value in call.metadata if key == "authorization"] == ["Bearer test-key-1"]
    assert [key for key, value in call.metadata if value == "Bearer test-key-1"] == ["authorization"]
    assert ("x-request-id", "req-7") in call.metadata


def test_w3c_trace_context_headers_reach_the_backend_as_metadata(rest: Rest, backend: Backend) -> None:
    """A REST caller's trace continues: `traceparent` and `tracestate` arrive under their own (W3C) names."""
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    rest("GET", "/v1/balances", headers={**AUTH, "traceparent": parent, "tracestate": "vendor=1"})

    (call,) = backend.double.calls_of("AccountService/GetBalances")
    assert ("traceparent", parent) in call.metadata
    assert ("tracestate", "vendor=1") in call.metadata


def test_paging_parameters_pass_through(rest: Rest, backend: Backend) -> None:
    """Page size, token, time range and a repeated status filter reach the backend; the next token comes back."""
    backend.double.respond("TradingService/ListOrders", trading_service_pb2.ListOrdersResponse(
        orders=[trading_service_pb2.Order(order_id=7, client_order_id="c7")], next_page_token="page-2"))

    response = rest("GET", "/v1/orders?symbol=BTC_USDT&page_size=5&page_token=page-1&start_time_ns=1000"
                    "&end_time_ns=2000&statuses=ORDER_STATUS_NEW&statuses=ORDER_STATUS_FILLED", headers=AUTH)

    assert response.status == 200, response
    assert response.body["orders"][0]["order_id"] == "7"
    assert response.body["next_page_token"] == "page-2"
    (call,) = backend.double.calls_of("TradingService/ListOrders")
    assert call.request == trading_service_pb2.ListOrdersRequest(
        symbol="BTC_USDT", page_size=5, page_token="page-1", start_time_ns=1000, end_time_ns=2000,
        statuses=[common_pb2.ORDER_STATUS_NEW, common_pb2.ORDER_STATUS_FILLED])


def test_order_lookup_by_client_order_id(rest: Rest, backend: Backend) -> None:
    """A refused order has no order id; the client finds it by its own id."""
    refused = trading_service_pb2.Order(order_id=0, client_order_id="my-order:1",
                                        status=common_pb2.ORDER_STATUS_REJECTED,
                                        reason=common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS)
    backend.double.respond("TradingService/GetOrder", trading_service_pb2.GetOrderResponse(order=refused))

    response = rest("GET", "/v1/client_orders/my-order:1", headers=AUTH)

    assert response.status == 200, response
    assert response.body["order"]["client_order_id"] == "my-order:1"
    assert response.body["order"]["reason"] == "REJECT_REASON_INSUFFICIENT_FUNDS"
    (call,) = backend.double.calls_of("TradingService/GetOrder")
    assert call.request == trading_service_pb2.GetOrderRequest(client_order_id="my-order:1")


def test_order_lookup_by_order_id(rest: Rest, backend: Backend) -> None:
    assert rest("GET", "/v1/orders/42", headers=AUTH).status == 200

    (call,) = backend.double.calls_of("TradingService/GetOrder")
    assert call.request == trading_service_pb2.GetOrderRequest(order_id=42)


def test_unknown_query_parameter_is_refused_with_400(rest: Rest, backend: Backend) -> None:
    response = rest("GET", "/v1/orders?client_order_id=c1&bogus=1", headers=AUTH)

    assert response.status == 400, response
    assert '"bogus"' in response.body["message"]
    assert "page_token" in response.body["message"], "the message lists the accepted parameters"
    assert _details_by_type(response)["google.rpc.ErrorInfo"]["reason"] == "REJECT_REASON_INVALID_REQUEST"
    assert backend.double.calls_of("TradingService/ListOrders") == []


def test_unknown_query_parameter_next_to_a_path_parameter_is_refused(rest: Rest, backend: Backend) -> None:
    response = rest("GET", "/v1/orders/42?bogus=1", headers=AUTH)

    assert response.status == 400, response
    assert '"bogus"' in response.body["message"]
    assert backend.double.calls_of("TradingService/GetOrder") == []


@pytest.mark.parametrize(("method", "path", "rpc"), [
    ("GET", "/v1/time?bogus=1", "MarketDataService/GetServerTime"),
    ("GET", "/v1/balances?asset=BTC", "AccountService/GetBalances"),
    ("POST", "/v1/orders?symbol=BTC_USDT", "TradingService/PlaceOrder"),
    ("POST", "/transfer_in?dry_run=1", "AccountService/TransferIn"),
])
def test_query_parameter_on_binding_without_query_fields_is_refused(
    rest: Rest, backend: Backend, method: str, path: str, rpc: str
) -> None:
    """Bindings whose request takes nothing from the query (all in the path or the body) refuse any parameter."""
    response = rest(method, path, {} if method == "POST" else None, AUTH)

    assert response.status == 400, response
    assert "takes no query parameters" in response.body["message"]
    assert backend.double.calls_of(rpc) == []
    assert rest(method, path.split("?", 1)[0], {} if method == "POST" else None, AUTH).status == 200


def test_nested_or_misspelled_query_path_is_refused(rest: Rest, backend: Backend) -> None:
    """A dotted path into a scalar field is no field path."""
    response = rest("GET", "/v1/orders?symbol.x=1", headers=AUTH)

    assert response.status == 400, response
    assert backend.double.calls_of("TradingService/ListOrders") == []


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/v1/orders", "GET, POST"),
    ("PUT", "/v1/orders", "GET, POST"),
    ("GET", "/transfer_in", "POST"),
    ("POST", "/v1/balances", "GET"),
])
def test_wrong_method_on_known_path_is_405(rest: Rest, method: str, path: str, allow: str) -> None:
    response = rest(method, path, {} if method in ("POST", "PUT") else None, AUTH)

    assert response.status == 405, response
    assert response.headers["allow"] == allow
    assert response.body["message"] == f"method {method} is not allowed on {path}"
    assert _details_by_type(response)["google.rpc.ErrorInfo"]["reason"] == "REJECT_REASON_INVALID_REQUEST"


def test_unknown_path_is_404(rest: Rest) -> None:
    response = rest("GET", "/v1/nothing-here", headers=AUTH)

    assert response.status == 404
    assert _details_by_type(response)["google.rpc.ErrorInfo"]["reason"] == "REJECT_REASON_INVALID_REQUEST"


def test_form_post_to_get_path_is_405_not_a_disguised_get(rest: Rest, backend: Backend) -> None:
    response = rest("POST", "/v1/balances", "a=1", {**AUTH, "Content-Type": "application/x-www-form-urlencoded"})

    assert response.status == 405
    assert backend.double.calls_of("AccountService/GetBalances") == []


def test_amount_as_json_number_is_refused_with_a_hint(rest: Rest, backend: Backend) -> None:
    response = rest("POST", "/v1/orders", '{"symbol": "BTC_USDT", "price": 45000.5}', AUTH)

    assert response.status == 400, response
    violation = _details_by_type(response)["google.rpc.BadRequest"]["field_violations"][0]
    assert violation["field"] == "price"
    assert '"price": "45000.5"' in violation["description"]
    assert "decimal strings" in response.body["message"]
    assert backend.double.calls_of("TradingService/PlaceOrder") == []


def test_decoding_errors_name_fields_by_their_proto_names(rest: Rest, backend: Backend) -> None:
    """protojson says userId and quoteQuantity; the API's names, and so its errors', are user_id and quote_quantity."""
    response = rest("POST", "/transfer_in", {"request_id": "d1", "user_id": "-1", "asset": "USDT", "amount": "5"})
    assert response.status == 400, response
    assert "field user_id" in response.body["message"], response.body
    assert "userId" not in response.body["message"]
    response = rest("POST", "/v1/orders", '{"symbol": "BTC_USDT", "quote_quantity": 10}', AUTH)
    assert response.status == 400, response
    violation = _details_by_type(response)["google.rpc.BadRequest"]["field_violations"][0]
    assert (violation["field"], '"quote_quantity": "10"' in violation["description"]) == ("quote_quantity", True)
    response = rest("POST", "/v1/orders", {"symbol": "BTC_USDT", "order_type": "LIMIT"}, AUTH)
    violation = _details_by_type(response)["google.rpc.BadRequest"]["field_violations"][0]
    assert violation["field"] == "order_type"
    assert '"ORDER_TYPE_LIMIT"' in violation["description"]  # the enum found by its proto name: its values listed
    assert backend.double.calls_of("AccountService/TransferIn") == []
    assert backend.double.calls_of("TradingService/PlaceOrder") == []


def test_unknown_enum_spelling_is_refused_with_a_hint(rest: Rest) -> None:
    response = rest("POST", "/v1/orders", {"symbol": "BTC_USDT", "side": "BUY"}, AUTH)

    assert response.status == 400, response
    violation = _details_by_type(response)["google.rpc.BadRequest"]["field_violations"][0]
    assert violation["field"] == "side"
    assert '"SIDE_BUY"' in violation["description"]


def test_enum_as_number_is_accepted(rest: Rest, backend: Backend) -> None:
    assert rest("POST", "/v1/orders", {"symbol": "BTC_USDT", "side": 2}, AUTH).status == 200

    (call,) = backend.double.calls_of("TradingService/PlaceOrder")
    assert call.request.side == 2


def test_seed_account_id_is_refused_with_the_public_name(rest: Rest, backend: Backend) -> None:
    """The public name of the account is user_id; the hint says so."""
    response = rest("POST", "/transfer_in", {"request_id": "d1", "account_id": 1001, "asset": "USDT", "amount": "5"})

    assert response.status == 400, response
    violation = _details_by_type(response)["google.rpc.BadRequest"]["field_violations"][0]
    assert violation["field"] == "account_id"
    assert violation["description"].startswith('the field is called "user_id"')
    assert backend.double.calls_of("AccountService/TransferIn") == []


def test_unknown_body_field_is_refused_with_a_hint(rest: Rest) -> None:
    response = rest("POST", "/v1/orders", {"symbol": "BTC_USDT", "sidee": "SIDE_BUY"}, AUTH)

    assert response.status == 400, response
    violation = _details_by_type(response)["google.rpc.BadRequest"]["field_violations"][0]
    assert violation["field"] == "sidee"
    assert "proto names" in violation["description"]


def _padded_order(size: int) -> str:
    """A valid PlaceOrder body of exactly `size` bytes (JSON whitespace fills it up)."""
    body = json.dumps({"symbol": "BTC_USDT", "side": "SIDE_BUY", "client_order_id": "pad-1"})
    return body[:-1] + " " * (size - len(body)) + "}"


def _assert_body_too_large(response: HttpResponse) -> None:
    assert response.status == 413, response
    assert response.body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], "not RESOURCE_EXHAUSTED: no retry"
    assert response.body["message"] == f"the request body is larger than the limit of {BODY_LIMIT_BYTES} bytes"
    info = _details_by_type(response)["google.rpc.ErrorInfo"]
    assert info == {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "REJECT_REASON_INVALID_REQUEST",
                    "domain": DOMAIN, "metadata": {"limit_bytes": str(BODY_LIMIT_BYTES)}}
    assert "retry-after" not in response.headers


def test_body_above_the_limit_is_413_and_never_forwarded(rest: Rest, backend: Backend) -> None:
    """A 20 MB body used to reach the backend, whose gRPC limit (4 MiB) answered RESOURCE_EXHAUSTED: 429, which
    tells clients to retry. The proxy refuses it itself; the client (which writes the whole body before reading)
    still gets the answer, not a reset connection."""
    response = rest("POST", "/v1/orders", '{"symbol": "' + "A" * 20_000_000 + '"}', AUTH)

    _assert_body_too_large(response)
    assert backend.double.calls == []


def test_body_limit_is_exact(rest: Rest, backend: Backend) -> None:
    """A body of exactly the limit passes; one byte more is refused (on every path: the limit is the proxy's)."""
    assert rest("POST", "/v1/orders", _padded_order(BODY_LIMIT_BYTES), AUTH).status == 200

    _assert_body_too_large(rest("POST", "/v1/orders", _padded_order(BODY_LIMIT_BYTES + 1), AUTH))
    _assert_body_too_large(rest("POST", "/transfer_in", _padded_order(BODY_LIMIT_BYTES + 1), AUTH))
    assert len(backend.double.calls_of("TradingService/PlaceOrder")) == 1
    assert backend.double.calls_of("AccountService/TransferIn") == []


def test_chunked_body_above_the_limit_is_413(proxy: Proxy, backend: Backend) -> None:
    """Without a Content-Length the proxy reads at most the limit, then refuses."""
    backend.double.reset()
    chunk = b" " * 65_536
    chunks = [b'{"symbol": "BTC_USDT"'] + [chunk] * (2 * BODY_LIMIT_BYTES // len(chunk)) + [b"}"]
    connection = HTTPConnection(urllib.parse.urlsplit(proxy.base_url).netloc, timeout=10)
    try:
        connection.request("POST", "/v1/orders", body=iter(chunks), encode_chunked=True,
                           headers={**AUTH, "Content-Type": "application/json"})
        answer = connection.getresponse()
        response = HttpResponse(status=answer.status, body=json.loads(answer.read()),
                                headers={name.lower(): value for name, value in answer.getheaders()})
    finally:
        connection.close()

    _assert_body_too_large(response)
    assert backend.double.calls == []


def test_largest_valid_batch_fits_under_the_limit(rest: Rest, backend: Backend) -> None:
    """A PlaceOrders batch of the most orders the gateway takes, every field at its longest, pretty-printed,
    passes whole (and still has room to spare)."""
    order = {
        "symbol": "S" * 20, "side": "SIDE_SELL", "order_type": "ORDER_TYPE_MARKET",
        "time_in_force": "TIME_IN_FORCE_UNSPECIFIED", "price": "92233720368.54775807",
        "quantity": "92233720368.54775807", "quote_quantity": "92233720368.54775807", "post_only": True,
        "client_order_id": "c" * 64, "self_trade_mode": "SELF_TRADE_MODE_UNSPECIFIED", "result_wait_ms": 5000,
    }
    body = json.dumps({"orders": [order] * BATCH_ORDERS_MAX}, indent=2)
    assert len(body) < BODY_LIMIT_BYTES * 2 // 3

    response = rest("POST", "/v1/orders/batch", body, AUTH)

    assert response.status == 200, response
    (call,) = backend.double.calls_of("TradingService/PlaceOrders")
    assert len(call.request.orders) == BATCH_ORDERS_MAX
    assert call.request.orders[-1].client_order_id == "c" * 64


def test_unavailable_backend_error_does_not_leak_its_address(proxy_binary: Path, tmp_path: Path) -> None:
    """The proxy's own connection error names the backend's host:port; the client sees a generic message."""
    backend_address = _closed_address()
    proxy = start_proxy(proxy_binary, backend_address, tmp_path / "proxy.log")
    try:
        response = _get(proxy, "/v1/balances")
        health = _get(proxy, "/healthz")
    finally:
        stop_proxy(proxy)

    assert response.status == 503, response
    assert response.body["message"] == "the exchange is unavailable; retry later"
    assert _details_by_type(response)["google.rpc.ErrorInfo"]["reason"] == "REJECT_REASON_SERVICE_UNAVAILABLE"
    assert health.status == 503
    for answer in (response, health):
        assert backend_address not in str(answer.body)
        assert "127.0.0.1" not in str(answer.body)
    assert backend_address in proxy.log(), "the operator still finds the real cause in the proxy's log"


def test_backend_unavailable_refusal_with_error_info_keeps_its_message(rest: Rest, backend: Backend) -> None:
    backend.double.fail("TradingService/PlaceOrder", grpc.StatusCode.UNAVAILABLE, "UBSCore is not answering",
                        _error_info("REJECT_REASON_TEST_UNAVAILABLE"))

    response = rest("POST", "/v1/orders", {"symbol": "BTC_USDT"}, AUTH)

    assert response.status == 503
    assert response.body["message"] == "UBSCore is not answering"


def test_internal_error_without_error_info_is_not_shown_to_clients(rest: Rest, backend: Backend) -> None:
    backend.double.fail("TradingService/PlaceOrder", grpc.StatusCode.INTERNAL, "KeyError at 10.1.2.3:9042")

    response = rest("POST", "/v1/orders", {"symbol": "BTC_USDT"}, AUTH)

    assert response.status == 500
    assert response.body["message"] == "internal error"


def test_server_stream_arrives_as_one_json_object_per_line(proxy: Proxy, backend: Backend) -> None:
    """`GET /v1/stream` carries the snapshot first, then the events, each as `{"result": ...}` on its own line."""
    backend.double.reset()
    backend.double.respond("MarketDataService/StreamMarketData", [
        market_data_service_pb2.StreamMarketDataResponse(seq=1, book_snapshot=market_data_service_pb2.BookSnapshot(
            symbol="BTC_USDT", bids=[market_data_service_pb2.PriceLevel(price="45000.00", quantity="0.5")])),
        market_data_service_pb2.StreamMarketDataResponse(seq=2, heartbeat=common_pb2.Heartbeat(server_time_ns=7)),
    ])
    request = urllib.request.Request(proxy.base_url + "/v1/stream?symbols=BTC_USDT", headers=AUTH)

    with urllib.request.urlopen(request, timeout=10) as response:
        lines = [json.loads(line) for line in response.read().splitlines() if line.strip()]

    assert [line["result"]["seq"] for line in lines] == ["1", "2"]
    assert lines[0]["result"]["book_snapshot"]["bids"] == [{"price": "45000.00", "quantity": "0.5"}]
    assert lines[1]["result"]["heartbeat"] == {"server_time_ns": "7"}
    (call,) = backend.double.calls_of("MarketDataService/StreamMarketData")
    assert list(call.request.symbols) == ["BTC_USDT"]


def test_stream_error_does_not_leak_internal_details(rest: Rest, backend: Backend) -> None:
    """Server streams report errors through grpc-gateway's stream error handler: the same rules apply there."""
    backend.double.fail("MarketDataService/StreamMarketData", grpc.StatusCode.INTERNAL, "lost 10.1.2.3:5558")

    response = rest("GET", "/v1/stream?symbols=BTC_USDT", headers=AUTH)

    assert response.status == 500, response
    assert "10.1.2.3" not in str(response.body)
    assert response.body["error"]["message"] == "internal error", "a stream's error arrives as an error chunk"


def test_healthz_is_503_when_the_backend_is_too_slow(rest: Rest, backend: Backend) -> None:
    """The health check has a 2 s deadline; a backend that does not answer in time counts as down."""
    backend.double.health_released.clear()
    try:
        response = rest("GET", "/healthz")
    finally:
        backend.double.health_released.set()

    assert response.status == 503, response
    assert _details_by_type(response)["google.rpc.ErrorInfo"]["reason"] == "REJECT_REASON_SERVICE_UNAVAILABLE"


def test_healthz_follows_backend_health(rest: Rest, backend: Backend) -> None:
    assert rest("GET", "/healthz").status == 200

    backend.double.health_status = HEALTH_NOT_SERVING
    not_serving = rest("GET", "/healthz")

    assert not_serving.status == 503
    assert "NOT_SERVING" in not_serving.body["message"]


def test_openapi_document_is_served(rest: Rest) -> None:
    response = rest("GET", "/openapi.json")

    assert response.status == 200
    assert response.body["swagger"] == "2.0"
    assert "/v1/orders" in response.body["paths"]


def _closed_address() -> str:
    """An address nothing listens on: a port the kernel handed out and that was closed again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def _get(proxy: Proxy, path: str) -> HttpResponse:
    return http("GET", proxy.base_url + path, headers=AUTH)
