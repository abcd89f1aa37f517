"""Crash drills: under a steady load of orders, cancels and transfers, kill a part of the exchange, restart it
through the stack runner, finish the load, then check that nothing was lost and nothing doubled.

Each drill runs the load driver (tools/loadgen: several users, StreamOrders with GTC/IOC/FOK/market orders and
cancels, deposits and withdrawals) against one private stack of this module (free ports, private topics, keyspace
and Aeron streams), waits until orders flow, SIGKILLs its victim, brings it back (`lifecycle.up`, which waits until
it is healthy), waits until orders flow again, stops the load (the driver re-sends every unanswered command with
the same client order id or transfer request id until it has an answer), and checks:

- every accepted order has an output on the matcher feed and that output is persisted (chain_state), and every
  order of the run on the feed was answered to the client (none taken by the exchange with its answer lost);
- no client order id was answered with two order ids; every transfer has a final status;
- `tools.invariants`: money conserved per asset across UBSCore's dump, the ledger, user_balances and transfers;
  ledger = balances = UBSCore (reconcile); every trade settled once and in both histories; the chain verifies;
  replaying `orders` through a fresh matcher reproduces the stored chain hash for hash.

The Kafka drill runs its stack on a private broker (tools/infra/private_kafka.py: free ports, own directories),
kills that one and keeps it down for 40 s: no service may die of the outage (nobody restarts one); the CQL server
drill likewise runs its stack on a private Cassandra node (tools/infra/private_cassandra.py) and kills that one,
never the shared server on 9042.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.markets import load_catalog
from exchange.v1 import account_service_pb2
from settlement.cql import connect
from settlement.queries import SettlementQueries
from tools.infra import runner as infra_runner
from tools.infra.private_cassandra import PrivateNode, private_cassandra
from tools.infra.private_kafka import PrivateBroker, private_kafka
from tools.invariants import Sources, check_until_settled, table
from tools.loadgen.driver import LoadRecord
from tools.loadgen.private_stack import private_stack
from tools.loadgen.run import LoadRun, RunOptions
from tools.services import lifecycle
from tools.services.catalog import build_specs
from tools.services.runner import ServiceRunner
from tools.stack_config import StackConfig

pytestmark = pytest.mark.e2e

LOAD = RunOptions(users=4, rate_per_s=150.0, duration_s=0, entry="stream", window=16, transfers_per_s=4.0, seed=7)
FLOWING_ORDERS = 150  # accepted orders that show the load flows (before the kill, and again after the restart)
FLOW_TIMEOUT_MS = 120_000
DRIVER_JOIN_S = 180.0
DRAIN_DEADLINE_S = 180.0
SETTLE_TIMEOUT_MS = 120_000
# Accepted orders while the CQL server is down: ~40 s at LOAD's rate, longer than the gateway's old 30 s bound on
# API keys it could not reload (which stopped trading in every CQL outage).
OUTAGE_ORDERS = 6_000
# The gateway's health is SERVING again (its CQL session found the restarted server, keys reloaded) within this
# after the server answers: a few 0.5 s reconnection attempts and 2 s health rounds. The driver's default policy
# (exponential up to 600 s) took 39 s after an 86 s outage here, and longer after longer ones.
RECONNECTED_TIMEOUT_MS = 15_000
# The Kafka broker stays down this long: longer than the 30 s after which a producer gives a record up by default
# (UBSCore's used to, and then exited, leaving order entry down until an operator restarted it).
KAFKA_OUTAGE_S = 40.0


def eventually(condition: Callable[[], bool], *, timeout_ms: int, poll_ms: int = 100) -> None:
    """Wait until `condition()` is true; fail after `timeout_ms`."""
    deadline_ns = time.monotonic_ns() + timeout_ms * 1_000_000
    while not condition():
        if time.monotonic_ns() > deadline_ns:
            raise AssertionError(f"not true within {timeout_ms} ms: {condition}")
        time.sleep(poll_ms / 1_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    """The whole stack, privately, for the drills of this module (they run one after the other)."""
    for component in ("kafka", "cassandra", "aeron"):
        [row] = infra_runner.status([component])
        if not row.ready:
            pytest.fail(f"{component} is not ready: run `bin/stack infra up`", pytrace=False)
    with private_stack(tmp_path_factory.mktemp("drills")) as config:
        yield config


def services(config: StackConfig) -> ServiceRunner:
    """The runner of the private stack."""
    return ServiceRunner(config, build_specs(config), out=lambda line: None)


def sigkill_service(config: StackConfig, name: str) -> None:
    """SIGKILL service `name`; wait until the runner reports it crashed."""
    runner = services(config)
    [row] = runner.status([name])
    assert row.pid is not None, row
    os.kill(row.pid, signal.SIGKILL)
    eventually(lambda: runner.status([name])[0].crashed, timeout_ms=30_000)


def restart_service(config: StackConfig, name: str) -> None:
    """`up` of one service: starts it again and waits until it is healthy."""
    lifecycle.up(config, [name], out=lambda line: None)


def drill(config: StackConfig, breaking: Callable[[LoadRecord], None]) -> LoadRecord:
    """Load, `breaking(record)` (kill + restart; `record` fills as the load runs) in the middle, finish the load,
    check everything; return the record."""
    run = LoadRun(config, LOAD)
    try:
        run.prepare()
        driver = run.driver()
        driver.start()
        try:
            eventually(lambda: len(driver.record.accepted) >= FLOWING_ORDERS, timeout_ms=FLOW_TIMEOUT_MS)
            breaking(driver.record)
            resumed_from = len(driver.record.accepted)
            eventually(lambda: len(driver.record.accepted) >= resumed_from + FLOWING_ORDERS,
                       timeout_ms=FLOW_TIMEOUT_MS)
        finally:
            driver.stop()
        record = driver.join(DRIVER_JOIN_S)
        assert run.wait_drained(record, deadline_s=DRAIN_DEADLINE_S) == (0, 0), "accepted orders not matched/persisted"
        assert run.unknown_orders(record) == [], "orders the exchange took whose answer the client never got"
    finally:
        run.stop_watching()
    assert not record.conflicts, record.conflicts
    assert record.transfers, "the load made no transfer"
    settle_transfers(config, record)
    check_invariants(config)
    return record


def settle_transfers(config: StackConfig, record: LoadRecord) -> None:
    """Every transfer has a final status: one answered PENDING (its outcome came after the gateway's wait, or to a
    gateway that restarted) is looked up where GetTransfer reads it, Settlement's `transfers` table."""
    session = connect(list(config.cql_contact_points), config.cql_port, config.cql_keyspace)
    try:
        queries = SettlementQueries(session, keyspace=config.cql_keyspace)
        final = (account_service_pb2.TRANSFER_STATUS_COMPLETED, account_service_pb2.TRANSFER_STATUS_REJECTED)
        for request_id, (user_id, _, status) in record.transfers.items():
            if status in final:
                continue

            def stored_status(user_id: int = user_id, request_id: str = request_id) -> int | None:
                row = queries.get_transfer(user_id=user_id, request_id=request_id)
                return None if row is None else row["status"]

            eventually(lambda: stored_status() in final, timeout_ms=SETTLE_TIMEOUT_MS)
    finally:
        session.cluster.shutdown()


def check_invariants(config: StackConfig) -> None:
    """tools.invariants on the private stack, re-run until it passes or SETTLE_TIMEOUT_MS."""
    session = connect(list(config.cql_contact_points), config.cql_port, config.cql_keyspace)
    try:
        sources = Sources(session=session, kafka_bootstrap=config.kafka_bootstrap, orders_topic=config.topic("orders"),
                          catalog=load_catalog(), ubscore_state_dir=config.state_dir("ubscore"))
        checks = check_until_settled(sources, settle_timeout_ms=SETTLE_TIMEOUT_MS)
    finally:
        session.cluster.shutdown()
    assert all(check.ok for check in checks), table(checks)


@pytest.mark.parametrize("victim", ["gateway", "ubscore", "matcher-0", "settlement-0"])
def test_sigkill_of_a_service_under_load_loses_nothing_and_doubles_nothing(stack: StackConfig, victim: str) -> None:
    """SIGKILL `victim` while orders, cancels and transfers flow; restart it through the runner; every accepted
    order is matched and persisted, nothing is answered twice differently, and the invariants checker passes."""

    def breaking(_record: LoadRecord) -> None:
        sigkill_service(stack, victim)
        restart_service(stack, victim)

    record = drill(stack, breaking)
    if victim == "gateway":  # the streams broke: the clients re-sent what was left without an answer
        assert record.retries > 0, record.retries


def test_full_stack_restart_under_load_loses_nothing_and_doubles_nothing(stack: StackConfig) -> None:
    """`down` of every service (SIGTERM) and `up` again while the load runs: the same guarantees as a crash."""

    def breaking(_record: LoadRecord) -> None:
        lifecycle.down(stack, out=lambda line: None)
        assert not any(services(stack).is_running(spec.name) for spec in build_specs(stack))
        lifecycle.up(stack, out=lambda line: None)

    record = drill(stack, breaking)
    assert record.retries > 0, record.retries


@pytest.fixture
def stack_on_private_kafka(tmp_path: Path) -> Iterator[tuple[StackConfig, PrivateBroker]]:
    """A whole private stack on a private Kafka broker of its own (the one the Kafka drill kills)."""
    with private_kafka(tmp_path / "kafka") as broker, \
            private_stack(tmp_path / "stack", kafka_bootstrap=broker.bootstrap) as config:
        yield config, broker


def crashed_services(config: StackConfig) -> list[str]:
    """The services `status` shows as crashed."""
    return [row.name for row in services(config).status() if row.crashed]


def test_sigkill_of_the_kafka_broker_under_load_loses_nothing_and_doubles_nothing(
    stack_on_private_kafka: tuple[StackConfig, PrivateBroker],
) -> None:
    """SIGKILL the (private) Kafka broker under load and keep it down for 40 s, then start it again on the same
    data: every service rides the outage out (none dies, nobody restarts one), orders flow again, and nothing is
    lost or doubled."""
    config, broker = stack_on_private_kafka

    def breaking(record: LoadRecord) -> None:
        broker.kill()
        time.sleep(KAFKA_OUTAGE_S)
        assert crashed_services(config) == []
        broker.start()
        accepted_before = len(record.accepted)

        def flowing_again() -> bool:  # a service could still die once the broker is back: look until orders flow
            assert crashed_services(config) == []
            return len(record.accepted) >= accepted_before + FLOWING_ORDERS

        eventually(flowing_again, timeout_ms=FLOW_TIMEOUT_MS, poll_ms=1_000)

    drill(config, breaking)


def gateway_serving(config: StackConfig) -> bool:
    """The gateway's gRPC health (all its checks: CQL, API keys, Kafka, ...) answers SERVING."""
    [row] = services(config).status(["gateway"])
    return row.health is not None and row.health.ok


@pytest.fixture
def stack_on_private_cql(tmp_path: Path) -> Iterator[tuple[StackConfig, PrivateNode]]:
    """A whole private stack on a private Cassandra node of its own (the one the CQL drill kills)."""
    with private_cassandra(tmp_path / "cassandra") as node, \
            private_stack(tmp_path / "stack", cql_port=node.port) as config:
        yield config, node


@pytest.mark.timeout(600)  # two Cassandra starts (8-90 s each on this machine) besides the drill's own waits
def test_sigkill_of_the_cql_server_under_load_loses_nothing_and_doubles_nothing(
    stack_on_private_cql: tuple[StackConfig, PrivateNode],
) -> None:
    """SIGKILL the (private) CQL server under load; orders keep being accepted while it is down (order entry needs
    the database only for API keys, which the gateway keeps honouring for a bounded time); start it again on the
    same data: the gateway is healthy again within seconds, Settlement catches up, and nothing is lost or doubled.
    No service may die of the outage."""
    config, node = stack_on_private_cql

    def breaking(record: LoadRecord) -> None:
        at_kill = len(record.accepted)
        node.kill()
        eventually(lambda: len(record.accepted) >= at_kill + OUTAGE_ORDERS, timeout_ms=FLOW_TIMEOUT_MS)
        node.start()
        eventually(lambda: gateway_serving(config), timeout_ms=RECONNECTED_TIMEOUT_MS)
        crashed = [row.name for row in services(config).status() if row.crashed]
        assert crashed == [], f"died of the CQL outage: {crashed}"

    drill(config, breaking)
