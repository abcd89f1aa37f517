"""The health service follows the real dependencies: a Kafka that does not answer turns the account service
(transfers go to Kafka) and the server as a whole NOT_SERVING, while the services that do not need Kafka stay
SERVING; a gateway started while the CQL server or Kafka is unreachable runs NOT_SERVING and turns SERVING when it
returns."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from exchange.v1 import account_service_pb2, account_service_pb2_grpc
from gateway.app import Gateway
from tools.infra.layout import CQL_PORT, HOST

from ..settlement.conftest import ProxyProcess
from ..ubscore.conftest import Topics
from .calls import bearer
from .conftest import eventually, free_port

pytestmark = pytest.mark.integration
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def test_unreachable_kafka_turns_the_account_service_and_the_server_not_serving(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel]
) -> None:
    """Kafka pointed at a closed port: AccountService and "" NOT_SERVING, TradingService and market data SERVING;
    the check's gauge says which dependency failed."""
    gateway = gateway_factory(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    health = health_pb2_grpc.HealthStub(channel_factory(gateway.port))

    def statuses() -> dict[str, int]:
        names = ("", "exchange.v1.AccountService", "exchange.v1.TradingService", "exchange.v1.MarketDataService")
        return {name: health.Check(health_pb2.HealthCheckRequest(service=name)).status for name in names}

    expected = {
        "": NOT_SERVING, "exchange.v1.AccountService": NOT_SERVING, "exchange.v1.TradingService": SERVING,
        "exchange.v1.MarketDataService": SERVING,
    }
    def gauges() -> tuple[float | None, float | None]:
        sample = gateway.metrics.registry.get_sample_value
        return (sample("gateway_health_check_ok", {"check": "kafka"}),
                sample("gateway_health_check_ok", {"check": "cql"}))

    # Every health round sets the gauges anew: they are awaited with the statuses, as one round's outcome.
    eventually(lambda: gateway.health.failures.keys() == {"kafka"} and statuses() == expected
               and gauges() == (0.0, 1.0), timeout_ms=20_000)  # fmt: skip


def test_reachable_dependencies_make_every_service_serving(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel]
) -> None:
    """With the shared Kafka and Cassandra up, every service and the server report SERVING."""
    gateway = gateway_factory()
    health = health_pb2_grpc.HealthStub(channel_factory(gateway.port))
    names = ("", "exchange.v1.AccountService", "exchange.v1.TradingService", "exchange.v1.MarketDataService")
    eventually(
        lambda: all(health.Check(health_pb2.HealthCheckRequest(service=n)).status == SERVING for n in names),
        timeout_ms=20_000,
    )


def test_absent_ubscore_turns_the_trading_service_not_serving(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel], aeron_directory: object
) -> None:
    """With the UBSCore client on (a private request stream nobody serves on the real driver), TradingService is
    NOT_SERVING and the failing check is `ubscore`; the account service stays SERVING."""
    stream_id = free_port()  # any number unused by other tests: a free port number is as good as random
    gateway = gateway_factory(
        ubscore_stream_id=stream_id, ubscore_response_stream_id=stream_id + 1, aeron_dir=str(aeron_directory)
    )
    health = health_pb2_grpc.HealthStub(channel_factory(gateway.port))

    def status(name: str) -> int:
        return health.Check(health_pb2.HealthCheckRequest(service=name)).status

    eventually(
        lambda: gateway.health.failures.keys() == {"ubscore"} and status("exchange.v1.TradingService") == NOT_SERVING
        and status("exchange.v1.AccountService") == SERVING,
        timeout_ms=20_000,
    )


def test_gateway_starts_while_cql_is_down_and_serves_when_it_returns(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """The gateway pointed at a TCP proxy that is not running yet starts anyway: NOT_SERVING (cql and api_keys
    failing), calls refused UNAVAILABLE; once the proxy runs it turns SERVING and answers queries; when the proxy
    is killed it turns NOT_SERVING again (AccountService; TradingService stays SERVING, its keys cached), and SERVING
    once the proxy is back."""
    key, key_id = make_key(1010, "read")
    proxy = ProxyProcess(free_port(), f"{HOST}:{CQL_PORT}")
    gateway = gateway_factory(cql_port=proxy.listen_port)
    channel = channel_factory(gateway.port)
    health = health_pb2_grpc.HealthStub(channel)
    account = account_service_pb2_grpc.AccountServiceStub(channel)

    def server_status() -> int:
        return health.Check(health_pb2.HealthCheckRequest(service="")).status

    eventually(lambda: {"cql", "api_keys"} <= gateway.health.failures.keys(), timeout_ms=20_000)
    assert server_status() == NOT_SERVING
    with pytest.raises(grpc.RpcError) as refused:
        account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=bearer(key))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    try:
        proxy.start()
        eventually(lambda: server_status() == SERVING and key_id in gateway.key_cache.keys, timeout_ms=30_000)
        balances = account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=bearer(key))
        assert list(balances.balances) == []
        proxy.kill()
        eventually(lambda: server_status() == NOT_SERVING, timeout_ms=30_000)
        # Keys are cached, so order entry goes on: only the account service (all reads) is taken out.
        assert gateway.health.failures.keys() == {"cql"}
        assert health.Check(health_pb2.HealthCheckRequest(service="exchange.v1.TradingService")).status == SERVING
        assert health.Check(health_pb2.HealthCheckRequest(service="exchange.v1.AccountService")).status == NOT_SERVING
        proxy.start()
        eventually(lambda: server_status() == SERVING, timeout_ms=60_000)
    finally:
        if proxy.process is not None and proxy.process.poll() is None:
            proxy.kill()


def test_gateway_starts_while_kafka_is_down_and_serves_transfers_when_it_returns(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], topics: Topics, kafka_bootstrap: str,
) -> None:
    """Bootstrapped through a TCP proxy that is not running yet, the gateway starts with AccountService
    NOT_SERVING (kafka failing); once the proxy runs, AccountService turns SERVING and a transfer is acknowledged
    by Kafka (PENDING)."""
    key, key_id = make_key(5010, "transfer")
    proxy = ProxyProcess(free_port(), kafka_bootstrap)
    gateway = gateway_factory(kafka_bootstrap=f"127.0.0.1:{proxy.listen_port}", transfer_topic=topics.operations)
    channel = channel_factory(gateway.port)
    health = health_pb2_grpc.HealthStub(channel)

    def account_status() -> int:
        return health.Check(health_pb2.HealthCheckRequest(service="exchange.v1.AccountService")).status

    eventually(lambda: "kafka" in gateway.health.failures and key_id in gateway.key_cache.keys, timeout_ms=20_000)
    assert account_status() == NOT_SERVING
    try:
        proxy.start()
        eventually(lambda: account_status() == SERVING, timeout_ms=60_000)
        transfer = account_service_pb2_grpc.AccountServiceStub(channel).TransferIn(
            account_service_pb2.TransferInRequest(request_id="kafka-back-1", user_id=1001, asset="USDT", amount="1"),
            metadata=bearer(key),
        ).transfer
        assert transfer.status == account_service_pb2.TRANSFER_STATUS_PENDING
    finally:
        if proxy.process is not None and proxy.process.poll() is None:
            proxy.kill()
