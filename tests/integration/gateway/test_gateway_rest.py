"""REST through the real grpc-gateway proxy (built from gateway/rest of this tree) in front of a real gateway.

HTTP clients get JSON with decimal strings on the seed's paths, and the HTTP codes of docs/decisions.md "Errors"
for the gateway's own statuses, with the reason in the body: 400 (invalid input, refused by UBSCore), 401, 403,
404 (unknown market), 409, 429 (with Retry-After), 503. UBSCore is the scripted stand-in on the real Aeron driver
(scripted_ubscore.py) until branch ubscore lands. The proxy helpers are those of the proxy's contract tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.kafka import create_topic, delete_topic
from gateway.app import Gateway
from gateway.rate_limit import parse_rate_limits

from ...contracts import conftest as proxy_fixtures
from ...contracts.conftest import HttpResponse, http, start_proxy, stop_proxy
from .conftest import eventually
from .scripted_ubscore import ScriptedUbscore

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy_factory(proxy_binary: Path, tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """Start a proxy in front of a gRPC port; returns its base URL; every proxy is stopped afterwards."""
    proxies: list[proxy_fixtures.Proxy] = []

    def start(grpc_port: int) -> str:
        proxies.append(start_proxy(proxy_binary, f"127.0.0.1:{grpc_port}", tmp_path / f"rest-{len(proxies)}.log"))
        return proxies[-1].base_url

    yield start
    for proxy in proxies:
        stop_proxy(proxy)


def call(method: str, url: str, *, key: str = "", body: object = None) -> HttpResponse:
    """One request, with the API key as the Authorization header if given."""
    return http(method, url, body, {"Authorization": f"Bearer {key}"} if key else None)


def reasons(response: HttpResponse) -> set[str]:
    """Every ErrorInfo reason and field-violation reason in an error body."""
    found = set()
    for detail in response.body.get("details", []):  # type: ignore[union-attr]
        if "reason" in detail:
            found.add(detail["reason"])
        for violation in detail.get("field_violations", []):
            found.add(violation.get("reason", ""))
    return found


def seed_order(coid: str, **fields: str) -> dict[str, str]:
    return {"symbol": "BTC_USDT", "side": "SIDE_BUY", "order_type": "ORDER_TYPE_LIMIT", "price": "45000.00",
            "quantity": "0.5", "client_order_id": coid, **fields}  # fmt: skip


@pytest.fixture
def transfers_topic(kafka_bootstrap: str) -> Iterator[str]:
    topic = f"balance.operations.test.{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap, topic, partitions=4)
    yield topic
    delete_topic(kafka_bootstrap, topic)


def test_seed_paths_and_error_codes_over_rest(
    gateway_factory: Callable[..., Gateway], proxy_factory: Callable[[int], str],
    make_key: Callable[..., tuple[str, str]], aeron_directory: Path, streams: tuple[int, int],
    responder: ScriptedUbscore, transfers_topic: str,
) -> None:
    """Markets with decimal strings; POST /orders placed (200) or refused (400 invalid, 404 unknown market, 400
    unfunded, 409 key reused); 401 without a key; 403 for a read key; POST /transfer_in queued (200 PENDING)."""
    reader, reader_id = make_key(1050, "read")
    trader, trader_id = make_key(1050, "trade")
    operator, operator_id = make_key(5050, "transfer")
    gateway = gateway_factory(
        aeron_dir=str(aeron_directory), ubscore_stream_id=streams[0], ubscore_response_stream_id=streams[1],
        transfer_topic=transfers_topic,
    )
    eventually(lambda: {reader_id, trader_id, operator_id} <= set(gateway.key_cache.keys)
               and gateway.ubscore.connected.is_set(), timeout_ms=15_000)  # fmt: skip
    base = proxy_factory(gateway.port)

    markets = call("GET", base + "/v1/markets", key=reader)
    assert markets.status == 200
    btc = next(m for m in markets.body["markets"] if m["symbol"] == "BTC_USDT")  # type: ignore[index]
    assert (btc["tick"], btc["lot"], btc["base_scale"]) == ("0.010000", "0.00010000", 8)

    placed = call("POST", base + "/orders", key=trader, body=seed_order("rest-1"))
    assert placed.status == 200, placed
    assert (placed.body["order_id"], placed.body["locked"], placed.body["status"]) == (  # type: ignore[index]
        "1", "22500.000000", "ORDER_STATUS_NEW"
    )
    for body, status, reason in [
        (seed_order("rest-2", price="45000.001"), 400, "REJECT_REASON_INVALID_PRICE"),
        (seed_order("rest-3", symbol="DOGE_USDT"), 404, "REJECT_REASON_UNKNOWN_MARKET"),
        (seed_order("poor-1"), 400, "REJECT_REASON_INSUFFICIENT_FUNDS"),
        (seed_order("dup-1"), 409, "REJECT_REASON_DUPLICATE_REQUEST"),
    ]:
        refused = call("POST", base + "/v1/orders", key=trader, body=body)
        assert (refused.status, reason in reasons(refused)) == (status, True), refused

    unauthenticated = call("GET", base + "/v1/markets")
    assert (unauthenticated.status, reasons(unauthenticated)) == (401, {"REJECT_REASON_UNAUTHENTICATED"})
    denied = call("POST", base + "/orders", key=reader, body=seed_order("rest-4"))
    assert (denied.status, reasons(denied)) == (403, {"REJECT_REASON_PERMISSION_DENIED"})

    deposit = {"request_id": "rest-dep-1", "user_id": "1050", "asset": "USDT", "amount": "100000"}
    queued = call("POST", base + "/transfer_in", key=operator, body=deposit)
    assert queued.status == 200, queued
    transfer = queued.body["transfer"]  # type: ignore[index]
    assert (transfer["status"], transfer["amount"]) == ("TRANSFER_STATUS_PENDING", "100000.000000")


def test_rate_limit_is_429_with_retry_after_and_missing_ubscore_is_503_over_rest(
    gateway_factory: Callable[..., Gateway], proxy_factory: Callable[[int], str],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """A burst of 2 market-data calls at one token per 10 s (so a slow machine cannot refill one meanwhile): the
    third is 429 with RATE_LIMITED and Retry-After; an order on a gateway without UBSCore is 503."""
    key, key_id = make_key(1051, "read", "trade")
    gateway = gateway_factory(rate_limits=parse_rate_limits("market=0.1/2"))
    eventually(lambda: key_id in gateway.key_cache.keys, timeout_ms=10_000)
    base = proxy_factory(gateway.port)
    assert [call("GET", base + "/v1/time", key=key).status for _ in range(2)] == [200, 200]
    limited = call("GET", base + "/v1/time", key=key)
    assert (limited.status, reasons(limited)) == (429, {"REJECT_REASON_RATE_LIMITED"})
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    unavailable = call("POST", base + "/v1/orders", key=key, body=seed_order("r-1"))
    assert (unavailable.status, reasons(unavailable)) == (503, {"REJECT_REASON_SERVICE_UNAVAILABLE"})
