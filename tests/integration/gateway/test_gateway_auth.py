"""API keys against a real gateway and real CQL: who gets in, with which role, how fast a revocation bites.

Every test calls a real grpcio server built by gateway.app, whose key cache reads a private CQL keyspace.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    trading_service_pb2,
    trading_service_pb2_grpc,
)
from gateway.api_keys import new_key
from gateway.app import Gateway
from gateway.rate_limit import parse_rate_limits

from .calls import bearer, error_details, reason_of
from .conftest import eventually

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[3]
MarketStub = market_data_service_pb2_grpc.MarketDataServiceStub


def call_error(call: Callable[[], object]) -> grpc.RpcError:
    """The RpcError a call ends with (fails the test if it succeeds)."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value  # type: ignore[return-value]


def test_calls_without_a_valid_key_are_unauthenticated(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """No header, a wrong scheme, a malformed key, an unknown key, a right id with a wrong secret: all refused."""
    gateway = gateway_factory()
    stub = MarketStub(channel_factory(gateway.port))
    good_key, key_id = make_key(1001, "read")
    eventually(lambda: gateway.key_cache.keys.get(key_id) is not None, timeout_ms=10_000)
    wrong_secret = f"exk_{key_id}_{new_key()[2]}"
    for metadata in [(), (("authorization", f"Basic {good_key}"),), bearer("exk_nope"), bearer(new_key()[0]),
                     bearer(wrong_secret)]:  # fmt: skip
        request = market_data_service_pb2.ListMarketsRequest()
        error = call_error(lambda m=metadata, r=request: stub.ListMarkets(r, metadata=m))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        assert reason_of(error) == "REJECT_REASON_UNAUTHENTICATED"
    assert stub.ListMarkets(market_data_service_pb2.ListMarketsRequest(), metadata=bearer(good_key)).markets


def test_wrong_role_is_permission_denied_and_right_role_reaches_the_method(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """A read key cannot place orders or transfer; a trade key passes auth (this gateway runs without a UBSCore
    client, so the order path itself answers UNAVAILABLE), and market data takes any key."""
    reader, reader_id = make_key(1002, "read")
    trader, trader_id = make_key(1002, "trade")
    gateway = gateway_factory()
    eventually(lambda: {reader_id, trader_id} <= set(gateway.key_cache.keys), timeout_ms=10_000)
    channel = channel_factory(gateway.port)
    trading = trading_service_pb2_grpc.TradingServiceStub(channel)
    account = account_service_pb2_grpc.AccountServiceStub(channel)
    order = trading_service_pb2.PlaceOrderRequest(symbol="BTC_USDT", client_order_id="a-1")

    denied = call_error(lambda: trading.PlaceOrder(order, metadata=bearer(reader)))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_details(denied)["ErrorInfo"]
    assert (info.reason, info.metadata["required_role"]) == ("REJECT_REASON_PERMISSION_DENIED", "trade")  # type: ignore[attr-defined]
    transfer = account_service_pb2.TransferInRequest(request_id="t-1", user_id=1002, asset="USDT", amount="1")
    assert call_error(lambda: account.TransferIn(transfer, metadata=bearer(trader))).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    past_auth = call_error(lambda: trading.PlaceOrder(order, metadata=bearer(trader)))
    assert past_auth.code() == grpc.StatusCode.UNAVAILABLE
    assert reason_of(past_auth) == "REJECT_REASON_SERVICE_UNAVAILABLE"
    assert MarketStub(channel).GetServerTime(
        market_data_service_pb2.GetServerTimeRequest(), metadata=bearer(trader)
    ).server_time_ns > 0


def test_revocation_by_the_admin_command_takes_effect_on_every_running_gateway(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], keyspace: str,
) -> None:
    """Two gateways accept a key; `python -m tools.apikeys revoke` flips both to UNAUTHENTICATED within seconds."""
    key, key_id = make_key(1003, "read")
    gateways = [gateway_factory(), gateway_factory()]
    stubs = [MarketStub(channel_factory(gateway.port)) for gateway in gateways]
    request = market_data_service_pb2.GetServerTimeRequest()

    def accepted_everywhere() -> bool:
        try:
            return all(stub.GetServerTime(request, metadata=bearer(key)).server_time_ns for stub in stubs)
        except grpc.RpcError:
            return False

    eventually(accepted_everywhere, timeout_ms=10_000)
    env = {**os.environ, "GATEWAY_CQL_KEYSPACE": keyspace}
    revoked = subprocess.run(
        [sys.executable, "-m", "tools.apikeys", "revoke", key_id], cwd=REPO_ROOT, env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert revoked.returncode == 0, revoked.stderr
    assert '"revoked": true' in revoked.stdout

    def refused_everywhere() -> bool:
        codes = []
        for stub in stubs:
            try:
                stub.GetServerTime(request, metadata=bearer(key))
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                codes.append(error.code())
        return codes == [grpc.StatusCode.UNAUTHENTICATED] * 2

    eventually(refused_everywhere, timeout_ms=10_000)


def test_rate_limit_refuses_with_resource_exhausted_and_a_retry_hint(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """Market data limited to a burst of 3 at one token per 5 s: the 4th call is RESOURCE_EXHAUSTED with RetryInfo
    (at most the 5 s a token takes); reads, a separate class, still pass for the same key. (At 1/s, four calls
    taking a second on a loaded machine would have earned the 4th its token.)"""
    key, key_id = make_key(1004, "read")
    gateway = gateway_factory(rate_limits=parse_rate_limits("market=0.2/3"))
    eventually(lambda: key_id in gateway.key_cache.keys, timeout_ms=10_000)
    stub = MarketStub(channel_factory(gateway.port))
    request = market_data_service_pb2.GetServerTimeRequest()
    for _ in range(3):
        stub.GetServerTime(request, metadata=bearer(key))
    limited = call_error(lambda: stub.GetServerTime(request, metadata=bearer(key)))
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = error_details(limited)
    assert details["ErrorInfo"].reason == "REJECT_REASON_RATE_LIMITED"  # type: ignore[attr-defined]
    assert 0 < details["RetryInfo"].retry_delay.ToMilliseconds() <= 5_000  # type: ignore[attr-defined]
    read = account_service_pb2_grpc.AccountServiceStub(channel_factory(gateway.port)).GetBalances(
        account_service_pb2.GetBalancesRequest(), metadata=bearer(key)
    )
    assert list(read.balances) == []  # past auth and its own bucket: a user with no balances yet


def test_health_needs_no_key_and_metrics_count_calls_by_code(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
) -> None:
    """The health service answers without a key; refused calls show up in gateway_requests_total by code."""
    gateway = gateway_factory()
    channel = channel_factory(gateway.port)
    health = health_pb2_grpc.HealthStub(channel)

    def serving() -> bool:
        return health.Check(health_pb2.HealthCheckRequest(service="")).status == health_pb2.HealthCheckResponse.SERVING

    eventually(serving, timeout_ms=10_000)
    call_error(lambda: MarketStub(channel).ListMarkets(market_data_service_pb2.ListMarketsRequest()))
    sample = gateway.metrics.registry.get_sample_value(
        "gateway_requests_total",
        {"method": "/exchange.v1.MarketDataService/ListMarkets", "code": "UNAUTHENTICATED"},
    )
    assert sample == 1.0
    assert gateway.metrics.registry.get_sample_value(
        "gateway_requests_in_flight", {"method": "/exchange.v1.MarketDataService/ListMarkets"}
    ) == 0.0


def test_a_key_created_after_the_gateway_started_works_at_once(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """With reloads 10 min apart, a key made after the start (after the one load) is read from CQL on its first
    call and answers at once, with its user and roles; an unknown key is still UNAUTHENTICATED, a wrong role still
    PERMISSION_DENIED."""
    gateway = gateway_factory(key_refresh_ms=600_000)
    eventually(lambda: gateway.key_cache.loaded_ns != 0, timeout_ms=10_000)
    channel = channel_factory(gateway.port)
    market = MarketStub(channel)
    key, key_id = make_key(1005, "read")
    assert key_id not in gateway.key_cache.keys

    assert market.GetServerTime(market_data_service_pb2.GetServerTimeRequest(), metadata=bearer(key)).server_time_ns
    assert gateway.key_cache.keys[key_id].user_id == 1005
    balances = account_service_pb2_grpc.AccountServiceStub(channel).GetBalances(
        account_service_pb2.GetBalancesRequest(), metadata=bearer(key)
    )
    assert list(balances.balances) == []  # past auth as user 1005 (no balances yet)
    order = trading_service_pb2.PlaceOrderRequest(symbol="BTC_USDT", client_order_id="n-1")
    denied = call_error(
        lambda: trading_service_pb2_grpc.TradingServiceStub(channel).PlaceOrder(order, metadata=bearer(key))
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED  # the roles came with the row: read only

    for unknown in (new_key()[0], new_key()[0]):
        request = market_data_service_pb2.GetServerTimeRequest()
        error = call_error(lambda u=unknown, r=request: market.GetServerTime(r, metadata=bearer(u)))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason_of(error) == "REJECT_REASON_UNAUTHENTICATED"
    assert gateway.key_cache.miss_found == 1
