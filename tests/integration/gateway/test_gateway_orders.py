"""Order entry through a real gateway, over the real Aeron driver, to the scripted UBSCore stand-in.

What is checked is the gateway's part: validation before anything is sent, the user taken from the key, units
and deadlines in the request, UBSCore's outcome (accepted or refused with its reason) returned as it is, per
order in batches and streams. The end-to-end run with the real UBSCore waits for branch ubscore.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from exchange.v1 import common_pb2, trading_service_pb2, trading_service_pb2_grpc
from gateway.app import Gateway
from gateway.rate_limit import parse_rate_limits

from .calls import bearer, error_details, reason_of
from .conftest import eventually, free_port
from .scripted_ubscore import ScriptedUbscore

pytestmark = pytest.mark.integration
R = common_pb2.RejectReason


def buy(coid: str, price: str = "45000.00", quantity: str = "0.5") -> trading_service_pb2.PlaceOrderRequest:
    return trading_service_pb2.PlaceOrderRequest(
        symbol="BTC_USDT", side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_LIMIT, price=price,
        quantity=quantity, client_order_id=coid,
    )


@pytest.fixture
def trading(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], aeron_directory: Path, streams: tuple[int, int],
    responder: ScriptedUbscore,
) -> tuple[trading_service_pb2_grpc.TradingServiceStub, str]:
    """(stub, trade key of user 1030) on a gateway whose UBSCore client talks to the scripted responder."""
    key, key_id = make_key(1030, "trade")
    gateway = gateway_factory(
        aeron_dir=str(aeron_directory), ubscore_stream_id=streams[0], ubscore_response_stream_id=streams[1]
    )
    eventually(lambda: key_id in gateway.key_cache.keys and gateway.ubscore.connected.is_set(), timeout_ms=15_000)
    return trading_service_pb2_grpc.TradingServiceStub(channel_factory(gateway.port)), key


def test_place_order_sends_units_for_the_keys_user_and_returns_ubscores_acceptance(
    trading: tuple[trading_service_pb2_grpc.TradingServiceStub, str], responder: ScriptedUbscore
) -> None:
    """The seed's buy: 0.5 BTC at 45000.00 goes out as units for user 1030 with a deadline; 22500 USDT locked."""
    stub, key = trading
    response = stub.PlaceOrder(buy("alice-1"), metadata=bearer(key))
    assert (response.order_id, response.client_order_id, response.status) == (1, "alice-1", common_pb2.ORDER_STATUS_NEW)
    assert (response.locked, response.locked_asset) == ("22500.000000", "USDT")
    [sent] = responder.requests
    order = sent.place_order
    assert (order.user_id, order.price_units, order.qty_units) == (1030, 45_000_000_000, 50_000_000)
    assert order.time_in_force == common_pb2.TIME_IN_FORCE_GTC
    assert sent.deadline_ns > order.ts_event_ns > 0


def test_refusals_come_back_with_their_reason_and_invalid_orders_never_leave(
    trading: tuple[trading_service_pb2_grpc.TradingServiceStub, str], responder: ScriptedUbscore
) -> None:
    """UBSCore's INSUFFICIENT_FUNDS is FAILED_PRECONDITION with that reason; an off-tick price is INVALID_ARGUMENT
    with a field violation, and UBSCore never sees it."""
    stub, key = trading
    with pytest.raises(grpc.RpcError) as poor:
        stub.PlaceOrder(buy("poor-1"), metadata=bearer(key))
    assert poor.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert reason_of(poor.value) == "REJECT_REASON_INSUFFICIENT_FUNDS"  # type: ignore[arg-type]
    seen = len(responder.requests)
    with pytest.raises(grpc.RpcError) as invalid:
        stub.PlaceOrder(buy("bad-1", price="45000.001"), metadata=bearer(key))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    [violation] = error_details(invalid.value)["BadRequest"].field_violations  # type: ignore[arg-type, attr-defined]
    assert (violation.field, violation.reason) == ("price", "REJECT_REASON_INVALID_PRICE")
    assert len(responder.requests) == seen


def test_huge_fields_are_refused_with_their_code_and_a_bounded_message(
    trading: tuple[trading_service_pb2_grpc.TradingServiceStub, str], responder: ScriptedUbscore
) -> None:
    """A 100,000-character quantity is INVALID_ARGUMENT and a 4,000,000-character symbol NOT_FOUND (an unknown
    market, the errors table's code), each quoted shortened: echoed in full they overflowed the client's 16 KB
    metadata limit and the call failed RESOURCE_EXHAUSTED on the client's side. A 5,000,000-character symbol is
    beyond the gateway's 4 MiB request limit: grpc refuses the request itself (RESOURCE_EXHAUSTED), as short."""
    stub, key = trading
    huge_symbol = buy("huge-2")
    huge_symbol.symbol = "A" * 4_000_000
    calls = [(buy("huge-1", quantity="1" * 100_000), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUANTITY", 100_000),
             (huge_symbol, grpc.StatusCode.NOT_FOUND, "UNKNOWN_MARKET", 4_000_000)]  # fmt: skip
    for request, code, reason, length in calls:
        with pytest.raises(grpc.RpcError) as refused:
            stub.PlaceOrder(request, metadata=bearer(key))
        error: Any = refused.value
        assert (error.code(), reason_of(error)) == (code, f"REJECT_REASON_{reason}")
        assert f"… ({length} characters)" in error.details()
        assert len(error.details()) < 300
        [violation] = error_details(error)["BadRequest"].field_violations  # type: ignore[attr-defined]
        assert len(violation.description) < 200
        assert sum(len(value) for _, value in error.trailing_metadata()) < 2_000
    beyond_the_request_limit = buy("huge-3")
    beyond_the_request_limit.symbol = "A" * 5_000_000
    with pytest.raises(grpc.RpcError) as too_large:
        stub.PlaceOrder(beyond_the_request_limit, metadata=bearer(key))
    error = too_large.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Received message larger than max" in error.details()
    assert len(error.details()) < 200
    assert responder.requests == []


def test_batch_answers_each_order_in_order(
    trading: tuple[trading_service_pb2_grpc.TradingServiceStub, str], responder: ScriptedUbscore
) -> None:
    """A batch of valid, invalid and unfunded orders: one result each, in order, the others unaffected; an empty
    batch is INVALID_ARGUMENT (a client bug, not a call to answer with nothing)."""
    stub, key = trading
    with pytest.raises(grpc.RpcError) as empty:
        stub.PlaceOrders(trading_service_pb2.PlaceOrdersRequest(), metadata=bearer(key))
    assert (empty.value.code(), reason_of(empty.value)) == (  # type: ignore[attr-defined]
        grpc.StatusCode.INVALID_ARGUMENT, "REJECT_REASON_MISSING_FIELD")
    batch = [buy("b-1"), buy("b-2", quantity="0.00001"), buy("poor-b3"), buy("b-4")]
    results = stub.PlaceOrders(trading_service_pb2.PlaceOrdersRequest(orders=batch), metadata=bearer(key)).results
    assert [r.client_order_id for r in results] == ["b-1", "b-2", "poor-b3", "b-4"]
    assert [r.WhichOneof("outcome") for r in results] == ["accepted", "error", "error", "accepted"]
    assert (results[1].error.reason, results[1].error.field) == (R.REJECT_REASON_INVALID_QUANTITY, "quantity")
    assert results[2].error.reason == R.REJECT_REASON_INSUFFICIENT_FUNDS
    assert [r.accepted.order_id for r in (results[0], results[3])] == [1, 2]
    assert len(responder.requests) == 3


def test_stream_answers_each_command_as_it_comes_without_waiting_for_more(
    trading: tuple[trading_service_pb2_grpc.TradingServiceStub, str], responder: ScriptedUbscore
) -> None:
    """A client that waits for each answer before sending the next command gets it (no read-ahead deadlock);
    places and cancels are answered in order."""
    stub, key = trading
    commands: queue.Queue[trading_service_pb2.StreamOrdersRequest | None] = queue.Queue()

    def requests() -> Iterator[trading_service_pb2.StreamOrdersRequest]:
        while (command := commands.get()) is not None:
            yield command

    answers = stub.StreamOrders(requests(), metadata=bearer(key), timeout=30)
    commands.put(trading_service_pb2.StreamOrdersRequest(place=buy("s-1")))
    first = next(answers)
    assert (first.place.client_order_id, first.place.accepted.order_id) == ("s-1", 1)
    commands.put(trading_service_pb2.StreamOrdersRequest(cancel=trading_service_pb2.CancelOrderRequest(order_id=1)))
    assert next(answers).cancel.order_id == 1
    commands.put(trading_service_pb2.StreamOrdersRequest(place=buy("s-2", price="0")))
    assert next(answers).place.error.reason == R.REJECT_REASON_INVALID_PRICE
    commands.put(None)
    assert list(answers) == []


def test_cancel_order_is_sent_for_the_keys_user(
    trading: tuple[trading_service_pb2_grpc.TradingServiceStub, str], responder: ScriptedUbscore
) -> None:
    """A cancel by client order id reaches UBSCore for user 1030 and its acceptance comes back."""
    stub, key = trading
    response = stub.CancelOrder(
        trading_service_pb2.CancelOrderRequest(symbol="BTC_USDT", client_order_id="alice-1"), metadata=bearer(key)
    )
    assert (response.client_order_id, response.symbol) == ("alice-1", "BTC_USDT")
    [sent] = responder.requests
    assert (sent.cancel_order.user_id, sent.cancel_order.client_order_id) == (1030, "alice-1")


def test_an_accepted_order_is_found_before_the_matcher_or_database_knows_it(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], aeron_directory: Path, streams: tuple[int, int],
    responder: ScriptedUbscore,
) -> None:
    """The scripted UBSCore forwards nothing and no matcher publishes on the feed the gateway follows, so the order
    exists only in the gateway's answer: GetOrder finds it NEW by id and by client order id at once, with what was
    placed; another user's GetOrder is PERMISSION_DENIED. A placement refused for funds is found REJECTED by client
    order id (as Settlement will store it); one refused as busy is not found."""
    key, key_id = make_key(1030, "trade", "read")
    other, other_id = make_key(1031, "trade", "read")
    silent_feed = f"tcp://127.0.0.1:{free_port()}"
    gateway = gateway_factory(
        aeron_dir=str(aeron_directory), ubscore_stream_id=streams[0], ubscore_response_stream_id=streams[1],
        matcher_feeds_text=f"0={silent_feed}|tcp://127.0.0.1:{free_port()}",
    )
    eventually(lambda: {key_id, other_id} <= gateway.key_cache.keys.keys() and gateway.ubscore.connected.is_set(),
               timeout_ms=15_000)  # fmt: skip
    stub = trading_service_pb2_grpc.TradingServiceStub(channel_factory(gateway.port))

    placed = stub.PlaceOrder(buy("alice-7", quantity="0.25"), metadata=bearer(key))
    by_id = stub.GetOrder(trading_service_pb2.GetOrderRequest(order_id=placed.order_id), metadata=bearer(key)).order
    by_client_id = stub.GetOrder(trading_service_pb2.GetOrderRequest(client_order_id="alice-7"),
                                 metadata=bearer(key)).order  # fmt: skip
    assert by_id == by_client_id
    assert (by_id.order_id, by_id.status, by_id.symbol, by_id.side) == (
        placed.order_id, common_pb2.ORDER_STATUS_NEW, "BTC_USDT", common_pb2.SIDE_BUY)
    assert (by_id.price, by_id.quantity, by_id.filled_quantity, by_id.remaining_quantity) == (
        "45000.000000", "0.25000000", "0.00000000", "0.25000000")
    assert by_id.created_ns == responder.requests[-1].place_order.ts_event_ns
    with pytest.raises(grpc.RpcError) as denied:
        stub.GetOrder(trading_service_pb2.GetOrderRequest(order_id=placed.order_id), metadata=bearer(other))
    assert reason_of(denied.value) == "REJECT_REASON_PERMISSION_DENIED"  # type: ignore[arg-type]
    with pytest.raises(grpc.RpcError):
        stub.PlaceOrder(buy("poor-7"), metadata=bearer(key))
    refused = stub.GetOrder(trading_service_pb2.GetOrderRequest(client_order_id="poor-7"), metadata=bearer(key)).order
    assert (refused.order_id, refused.status, refused.reason, refused.quantity) == (
        0, common_pb2.ORDER_STATUS_REJECTED, R.REJECT_REASON_INSUFFICIENT_FUNDS, "0.50000000")
    with pytest.raises(grpc.RpcError):
        stub.PlaceOrder(buy("busy-7"), metadata=bearer(key))
    with pytest.raises(grpc.RpcError) as missing:  # a busy UBSCore kept nothing of it: nor does the gateway
        stub.GetOrder(trading_service_pb2.GetOrderRequest(client_order_id="busy-7"), metadata=bearer(key))
    assert reason_of(missing.value) == "REJECT_REASON_NOT_FOUND"  # type: ignore[arg-type]


def test_batches_and_streams_pay_the_rate_limit_per_order(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], aeron_directory: Path, streams: tuple[int, int],
    responder: ScriptedUbscore,
) -> None:
    """With 3 trade tokens (refilled at 0.01/s): a batch of 4 exceeds the burst outright (its call still costs a
    token); a stream costs one to open and one per command, so of two commands the second is answered
    RATE_LIMITED while the stream goes on."""
    key, key_id = make_key(1031, "trade")
    gateway = gateway_factory(
        aeron_dir=str(aeron_directory), ubscore_stream_id=streams[0], ubscore_response_stream_id=streams[1],
        rate_limits=parse_rate_limits("trade=0.01/3"),
    )
    eventually(lambda: key_id in gateway.key_cache.keys and gateway.ubscore.connected.is_set(), timeout_ms=15_000)
    stub = trading_service_pb2_grpc.TradingServiceStub(channel_factory(gateway.port))
    with pytest.raises(grpc.RpcError) as too_big:
        stub.PlaceOrders(trading_service_pb2.PlaceOrdersRequest(orders=[buy(f"x-{i}") for i in range(4)]),
                         metadata=bearer(key))  # fmt: skip
    assert reason_of(too_big.value) == "REJECT_REASON_INVALID_REQUEST"  # type: ignore[arg-type]
    # The refused batch still paid its call's token: 2 left, so the stream's opening leaves 1 for commands.
    commands = [trading_service_pb2.StreamOrdersRequest(place=buy(f"s-{i}")) for i in range(2)]
    answers = list(stub.StreamOrders(iter(commands), metadata=bearer(key), timeout=30))
    assert [a.place.WhichOneof("outcome") for a in answers] == ["accepted", "error"]
    assert answers[1].place.error.reason == R.REJECT_REASON_RATE_LIMITED
