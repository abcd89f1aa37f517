"""Crash safety and convergence of `python -m settlement` with a real matcher, Kafka and CQL.

SIGKILL under load, restart: nothing missing, nothing doubled, the stored chain verifies to the end, reconcile
is clean. A second instance (fresh keyspace and group, other batch sizes, so another interleaving of feed and
Kafka) and then the same instance run again over the same inputs give table dumps identical to the first,
write times included."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from cassandra.cluster import Session

from settlement.cql import connect
from settlement.reconcile import reconcile
from tests.integration.matcher.conftest import MatcherProcess, OrdersProducer, eventually
from tests.integration.matcher.orderflow import OrderFlow
from tests.integration.settlement.balanceflow import BalanceFlow
from tests.integration.settlement.conftest import (
    EventsProducer,
    SettlementProcess,
    chain_seq,
    count_rows,
    dump_tables,
    events_checkpointed,
    shards_setting,
    verify_stored_chain,
)
from tools.infra.layout import CQL_PORT, HOST

pytestmark = pytest.mark.integration

CHUNKS = 10
COMMANDS_PER_CHUNK = 200
EVENTS_PER_CHUNK = 150


def wait_persisted(session: Session, shard_id: int, commands: int, balance_topic: str, events: int) -> None:
    # 2,000 outputs and 1,500 events read again from the start: minutes are not unusual on the loaded CI machine.
    eventually(lambda: chain_seq(session, shard_id) == commands, timeout_ms=180_000)
    eventually(lambda: events_checkpointed(session, balance_topic) == events, timeout_ms=180_000)
    assert count_rows(session, "balance_ledger") == events


def test_sigkill_under_load_then_restart_loses_and_doubles_nothing_and_replays_converge(
    matcher: MatcherProcess, orders_producer: OrdersProducer, events_producer: EventsProducer, balance_topic: str,
    keyspace_factory: Callable[[], str], settlement_factory: Callable[..., SettlementProcess],
) -> None:
    """Kill -9 mid-stream, restart; then a fresh instance and a second pass over the same inputs: equal dumps."""
    matcher.start()
    shard_id = int(matcher.env["MATCHER_SHARD_ID"])
    first_keyspace = keyspace_factory()
    first = settlement_factory(keyspace=first_keyspace, shards=shards_setting(matcher), balance_topic=balance_topic,
                               name="first")
    first.start()
    orders, balances = OrderFlow(seed=21), BalanceFlow(seed=22)
    session = connect([HOST], CQL_PORT, first_keyspace)
    try:
        for chunk in range(CHUNKS):
            orders_producer.send(orders.batch(COMMANDS_PER_CHUNK))
            events_producer.send(balances.batch(EVENTS_PER_CHUNK))
            if chunk == CHUNKS // 2:
                eventually(lambda: chain_seq(session, shard_id) > 2 * COMMANDS_PER_CHUNK, timeout_ms=60_000)
                assert first.signal(signal.SIGKILL) == -signal.SIGKILL
                first.start()
        total_commands, total_events = CHUNKS * COMMANDS_PER_CHUNK, CHUNKS * EVENTS_PER_CHUNK
        wait_persisted(session, shard_id, total_commands, balance_topic, total_events)
        verify_stored_chain(session, shard_id, total_commands)
        assert count_rows(session, "engine_outputs") == total_commands
        result = reconcile(session)
        assert result.ok, result.mismatches
        assert result.ledger_events == total_events
        assert first.signal(signal.SIGTERM) == 0
        reference = dump_tables(session, first_keyspace)
    finally:
        session.cluster.shutdown()

    second_keyspace = keyspace_factory()
    second_session = connect([HOST], CQL_PORT, second_keyspace)
    try:
        second = settlement_factory(keyspace=second_keyspace, shards=shards_setting(matcher),
                                    balance_topic=balance_topic, name="second",
                                    extra={"SETTLEMENT_BATCH_INPUTS_MAX": "37", "SETTLEMENT_BATCH_ROWS_MAX": "11"})
        second.start()
        wait_persisted(second_session, shard_id, total_commands, balance_topic, total_events)
        assert second.signal(signal.SIGTERM) == 0
        assert dump_tables(second_session, second_keyspace) == reference
        # The same inputs a second time into the same tables: forget the positions, read everything again.
        second_session.execute("TRUNCATE chain_state")
        again = settlement_factory(keyspace=second_keyspace, shards=shards_setting(matcher),
                                   balance_topic=balance_topic, name="again")
        again.start()
        wait_persisted(second_session, shard_id, total_commands, balance_topic, total_events)
        eventually(lambda: again.metric("settlement_balance_events_persisted_total") == total_events,
                   timeout_ms=60_000)
        assert again.signal(signal.SIGTERM) == 0
        assert dump_tables(second_session, second_keyspace) == reference
    finally:
        second_session.cluster.shutdown()
