"""`python -m settlement` against the real stack: a real matcher subprocess (ZeroMQ feed + replay), real Kafka
balance.events (private topic), a private CQL keyspace. Every table is filled from real inputs and read back
through settlement/queries.py; the reconciliation command agrees; malformed events are recorded and skipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq
from cassandra.cluster import Session

from exchange.v1 import common_pb2, engine_pb2
from settlement.cql import PARTITION_KEYS
from settlement.queries import SettlementQueries
from tests.integration.matcher.conftest import MatcherProcess, OrdersProducer, collect, eventually, open_feed
from tests.integration.matcher.orderflow import OrderFlow
from tests.integration.settlement.balanceflow import BalanceFlow
from tests.integration.settlement.conftest import (
    REPO_ROOT,
    EventsProducer,
    SettlementProcess,
    chain_seq,
    count_rows,
    shards_setting,
    verify_stored_chain,
)

pytestmark = pytest.mark.integration

COMMANDS = 400
EVENTS = 300


def run_reconcile(keyspace: str, dump: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "settlement", "reconcile", "--keyspace", keyspace]
    if dump is not None:
        command += ["--ubscore-dump", str(dump)]
    return subprocess.run(command, cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120,
                          check=False)


def test_service_fills_every_table_from_real_outputs_and_events(
    matcher: MatcherProcess, orders_producer: OrdersProducer, events_producer: EventsProducer, balance_topic: str,
    keyspace: str, session: Session, settlement_factory: Callable[..., SettlementProcess], zmq_context: zmq.Context,
    tmp_path: Path,
) -> None:
    """Orders through the matcher and UBSCore-shaped events through Kafka end up in every table, readable by the
    gateway's queries, consistent with the matcher's own outputs; reconcile is clean; garbage is recorded."""
    matcher.start()
    settlement = settlement_factory(keyspace=keyspace, shards=shards_setting(matcher), balance_topic=balance_topic)
    settlement.start()
    orders_producer.send(OrderFlow(seed=11).batch(COMMANDS))
    flow = BalanceFlow(seed=12)
    events_producer.send(flow.batch(EVENTS))
    events_producer.send_raw("1001", b"\x08\xff\xff garbage")
    shard_id = int(matcher.env["MATCHER_SHARD_ID"])
    outputs = collect(open_feed(zmq_context, matcher), COMMANDS)
    eventually(lambda: chain_seq(session, shard_id) == COMMANDS, timeout_ms=120_000)
    eventually(lambda: settlement.metric("settlement_balance_events_persisted_total") == EVENTS + 1,
               timeout_ms=60_000)

    for table in PARTITION_KEYS:
        assert count_rows(session, table) > 0, f"{table} is empty"
    verify_stored_chain(session, shard_id, COMMANDS)
    assert count_rows(session, "balance_ledger") == EVENTS
    malformed = session.execute("SELECT source, reason FROM malformed_inputs").all()
    assert [(row.source.startswith(f"kafka:{balance_topic}:"), row.reason) for row in malformed] == [
        (True, "UNDECODABLE")]
    _check_against_outputs(SettlementQueries(session), outputs)

    dump = tmp_path / "ubscore-dump.json"
    dump.write_text(json.dumps(flow.dump()))
    result = run_reconcile(keyspace, dump)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ledger events {EVENTS}" in result.stdout
    assert settlement.metric("settlement_rows_written_total", 'table="orders"') > 0
    eventually(lambda: settlement.metric("settlement_shard_persisted_seq") == COMMANDS, timeout_ms=10_000)
    eventually(lambda: settlement.metric("settlement_shard_lag_outputs") == 0, timeout_ms=10_000)
    eventually(lambda: settlement.metric("settlement_kafka_lag_records") == 0, timeout_ms=10_000)
    assert settlement.signal(signal.SIGTERM) == 0


def _check_against_outputs(queries: SettlementQueries, outputs: list[engine_pb2.EngineOutput]) -> None:
    """Each order's latest update, each trade and each user's open orders, as the queries return them."""
    latest: dict[int, engine_pb2.OrderUpdate] = {}
    trades: list[engine_pb2.Trade] = []
    for output in outputs:
        for update in output.order_updates:
            latest[update.order_id] = update
        trades.extend(output.trades)
    assert trades, "the order flow made no trades"
    for order_id, update in latest.items():
        row = queries.get_order(user_id=update.user_id, order_id=order_id)
        assert row is not None, order_id
        assert (row["status"], row["filled_qty_units"]) == (update.status, update.filled_qty_units), order_id
        by_client = queries.get_order_by_client_id(user_id=update.user_id, client_order_id=update.client_order_id)
        assert by_client is not None
        assert by_client["status"] == update.status
    open_statuses = (common_pb2.ORDER_STATUS_NEW, common_pb2.ORDER_STATUS_PARTIALLY_FILLED)
    for user_id in {update.user_id for update in latest.values()}:
        expected_open = sorted((u.symbol, u.order_id) for u in latest.values()
                               if u.user_id == user_id and u.status in open_statuses)
        page = queries.list_open_orders(user_id=user_id, page_size=1000)
        assert [(row["symbol"], row["order_id"]) for row in page.rows] == expected_open, user_id
        listed = queries.list_orders(user_id=user_id, page_size=1000).rows
        assert sorted(row["order_id"] for row in listed) == sorted(
            order_id for order_id, u in latest.items() if u.user_id == user_id)
    for symbol in {trade.symbol for trade in trades}:
        listed = queries.list_market_trades(symbol=symbol, page_size=1000).rows
        assert sorted(row["trade_id"] for row in listed) == sorted(t.trade_id for t in trades if t.symbol == symbol)
    fills = sum(len(queries.list_fills(user_id=user_id, page_size=1000).rows)
                for user_id in {u.user_id for u in latest.values()})
    assert fills == 2 * len(trades)


def test_balance_events_resume_from_chain_state_not_from_the_group(
    matcher: MatcherProcess, events_producer: EventsProducer, balance_topic: str, keyspace: str, session: Session,
    settlement_factory: Callable[..., SettlementProcess],
) -> None:
    """A restart under a consumer group that never committed (its commits lost, expired or reset) resumes each
    partition after the last event chain_state records, so nothing is read twice or skipped."""
    matcher.start()
    first = settlement_factory(keyspace=keyspace, shards=shards_setting(matcher), balance_topic=balance_topic)
    first.start()
    flow = BalanceFlow(seed=21)
    events_producer.send(flow.batch(EVENTS))
    eventually(lambda: first.metric("settlement_balance_events_persisted_total") == EVENTS, timeout_ms=60_000)
    assert first.signal(signal.SIGTERM) == 0

    later = 40
    second = settlement_factory(keyspace=keyspace, shards=shards_setting(matcher), balance_topic=balance_topic,
                                group_id=f"settlement-fresh-{os.getpid()}", name="second")  # fmt: skip
    second.start()
    eventually(lambda: "resuming at" in second.log_text(), timeout_ms=30_000)
    time.sleep(2.5)  # two lag rounds (one a second) with nothing new to read: no lag, though nothing was read yet
    assert second.metric("settlement_kafka_lag_records") == 0
    events_producer.send(flow.batch(later))
    eventually(lambda: second.metric("settlement_balance_events_persisted_total") >= later, timeout_ms=60_000)
    eventually(lambda: second.metric("settlement_kafka_lag_records") == 0, timeout_ms=10_000)
    assert second.metric("settlement_balance_events_persisted_total") == later  # only the new ones were read
    assert count_rows(session, "balance_ledger") == EVENTS + later
    assert second.signal(signal.SIGTERM) == 0
