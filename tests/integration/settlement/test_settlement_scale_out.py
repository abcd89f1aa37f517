"""Several Settlement instances: balance.events shared through one consumer group, matcher shards divided by
configuration. An instance joins, dies (SIGKILL) and comes back while inputs flow: every shard's chain is stored
whole, every event exactly once in the ledger, and the reconciliation is clean."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable

import pytest
from cassandra.cluster import Session

from settlement.reconcile import reconcile
from tests.integration.matcher.conftest import MatcherProcess, OrdersProducer, eventually
from tests.integration.matcher.orderflow import OrderFlow
from tests.integration.settlement.balanceflow import BalanceFlow
from tests.integration.settlement.conftest import (
    EventsProducer,
    SettlementProcess,
    chain_seq,
    count_rows,
    events_checkpointed,
    shards_setting,
    verify_stored_chain,
)

pytestmark = pytest.mark.integration


def test_two_instances_share_events_and_split_shards_through_join_death_and_return(
    matcher_factory: Callable[..., MatcherProcess], orders_producer: OrdersProducer,
    events_producer: EventsProducer, balance_topic: str, keyspace: str, session: Session,
    settlement_factory: Callable[..., SettlementProcess],
) -> None:
    """A persists shard 1, B shard 2, both share the events group; B joins late, is killed, restarts."""
    shard_one = matcher_factory(shard_id=1, partitions="0,1")
    shard_two = matcher_factory(shard_id=2, partitions="2,3")
    shard_one.start()
    shard_two.start()
    group = f"settlement-scale-{uuid.uuid4().hex[:8]}"
    first = settlement_factory(keyspace=keyspace, shards=shards_setting(shard_one), balance_topic=balance_topic,
                               group_id=group, name="a")
    second = settlement_factory(keyspace=keyspace, shards=shards_setting(shard_two), balance_topic=balance_topic,
                                group_id=group, name="b")
    orders, balances = OrderFlow(seed=41), BalanceFlow(seed=42)
    first.start()
    orders_producer.send(orders.batch(300))
    events_producer.send(balances.batch(300))
    second.start()  # joins: the group rebalances while events flow
    orders_producer.send(orders.batch(300))
    events_producer.send(balances.batch(300))
    eventually(lambda: second.metric("settlement_outputs_persisted_total") > 0, timeout_ms=60_000)
    assert second.signal(signal.SIGKILL) == -signal.SIGKILL  # dies: its partitions move to the first instance
    events_producer.send(balances.batch(300))
    orders_producer.send(orders.batch(300))
    second.start()  # returns: resumes shard 2 from chain_state and rejoins the group

    total_events, total_commands = 900, 900
    eventually(lambda: events_checkpointed(session, balance_topic) == total_events, timeout_ms=120_000)
    assert count_rows(session, "balance_ledger") == total_events
    # Every command gives one output on the shard owning its symbol.
    eventually(lambda: chain_seq(session, 1) + chain_seq(session, 2) == total_commands, timeout_ms=120_000)
    last_one, last_two = chain_seq(session, 1), chain_seq(session, 2)
    assert (last_one, last_two) == (shard_one.metric("matcher_last_seq"), shard_two.metric("matcher_last_seq"))
    verify_stored_chain(session, 1, last_one)
    verify_stored_chain(session, 2, last_two)
    assert count_rows(session, "engine_outputs") == total_commands
    assert last_one > 0
    assert last_two > 0
    result = reconcile(session)
    assert result.ok, result.mismatches
    assert result.ledger_events == total_events
    assert first.signal(signal.SIGTERM) == 0
    assert second.signal(signal.SIGTERM) == 0

