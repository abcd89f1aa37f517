"""The real chain end to end: UBSCore (Aeron requests, Kafka transfers) and a matcher shard on private topics,
Settlement persisting the matcher feed and UBSCore's balance.events into a private keyspace. The gateway's queries
show what happened, and `reconcile` against `python -m ubscore dump --json` is clean."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from cassandra.cluster import Session

from exchange.v1 import account_service_pb2, common_pb2
from settlement.queries import SettlementQueries
from settlement.reconcile import reconcile
from tests.integration.settlement.conftest import (
    SettlementProcess,
    chain_seq,
    count_rows,
    events_checkpointed,
    verify_stored_chain,
)
from tests.integration.ubscore.conftest import Gateway, Stack, eventually

pytestmark = pytest.mark.integration

ALICE, BOB = 1001, 1002
BTC, USDT = 1, 2
PRICE_45K = 45_000_000_000
HALF_BTC = 50_000_000


def limit(user: int, client_order_id: str, side: int, price_units: int, qty_units: int) -> dict[str, object]:
    return {"user_id": user, "client_order_id": client_order_id, "symbol": "BTC_USDT", "side": side,
            "order_type": common_pb2.ORDER_TYPE_LIMIT, "time_in_force": common_pb2.TIME_IN_FORCE_GTC,
            "price_units": price_units, "qty_units": qty_units}


def test_ubscore_matcher_settlement_end_to_end_reconciles_with_ubscore_dump(
    stack: Stack, gateway_factory: Callable[[], Gateway], keyspace: str, session: Session,
    settlement_factory: Callable[..., SettlementProcess], tmp_path: Path,
) -> None:
    """Deposits, a refused withdrawal, a trade, a cancel and a refused order, all visible through the queries."""
    stack.matcher.start()
    stack.ubscore.start()
    feeds = stack.ubscore.env["UBSCORE_FEEDS"]
    settlement = settlement_factory(keyspace=keyspace, shards=feeds, balance_topic=stack.topics.events)
    settlement.start()
    gateway = gateway_factory()
    gateway.transfer(ALICE, USDT, 100_000_000_000, deposit=True, request_id="alice-dep")
    gateway.transfer(BOB, BTC, 100_000_000, deposit=True, request_id="bob-dep")
    gateway.transfer(BOB, USDT, 1, deposit=False, request_id="bob-too-much")
    queries = SettlementQueries(session)
    # Each user's transfers are on their own partition (keyed by user): both deposits are awaited before the orders.
    eventually(lambda: all(queries.get_transfer(user_id=user, request_id=request_id) is not None
                           for user, request_id in ((ALICE, "alice-dep"), (BOB, "bob-dep"))), timeout_ms=60_000)
    sell = gateway.place(**limit(BOB, "bob-1", common_pb2.SIDE_SELL, PRICE_45K, HALF_BTC))
    buy = gateway.place(**limit(ALICE, "alice-1", common_pb2.SIDE_BUY, PRICE_45K, HALF_BTC))
    rest = gateway.place(**limit(ALICE, "alice-2", common_pb2.SIDE_BUY, PRICE_45K - 10_000, HALF_BTC))
    gateway.cancel(user_id=ALICE, client_order_id="alice-2")
    off_tick = gateway.place(**limit(ALICE, "alice-bad", common_pb2.SIDE_BUY, PRICE_45K + 1, HALF_BTC))
    assert off_tick.rejected.reason == common_pb2.REJECT_REASON_UBSCORE_PRICE_OFF_TICK

    def everything_persisted() -> bool:
        # UBSCore settles the outputs (the trade, the cancel's unlock) from its own feed subscription: its events
        # are complete only once it has read output 4, whatever Settlement has persisted by then.
        summary = stack.ubscore.dump()["summary"]
        published = stack.matcher.metric("matcher_last_seq")
        return (published == 4 and chain_seq(session, 0) == 4 and summary["feed_positions"].get("0") == 4
                and events_checkpointed(session, stack.topics.events) == summary["last_event_id"] > 0
                and count_rows(session, "balance_ledger") == summary["last_event_id"])

    eventually(everything_persisted, timeout_ms=90_000)
    verify_stored_chain(session, 0, 4)
    dump = tmp_path / "ubscore-dump.json"
    dump.write_text(json.dumps(stack.ubscore.dump()))
    result = reconcile(session, ubscore_dump=dump)
    assert result.ok, result.mismatches

    filled = queries.get_order_by_client_id(user_id=ALICE, client_order_id="alice-1")
    assert filled is not None
    assert (filled["order_id"], filled["status"]) == (buy.order_accepted.order_id, common_pb2.ORDER_STATUS_FILLED)
    canceled = queries.get_order(user_id=ALICE, order_id=rest.order_accepted.order_id)
    assert canceled is not None
    assert canceled["status"] == common_pb2.ORDER_STATUS_CANCELED
    refused = queries.get_order_by_client_id(user_id=ALICE, client_order_id="alice-bad")
    assert refused is not None
    assert (refused["order_id"], refused["status"], refused["reason"]) == (
        0, common_pb2.ORDER_STATUS_REJECTED, common_pb2.REJECT_REASON_UBSCORE_PRICE_OFF_TICK)
    too_much = queries.get_transfer(user_id=BOB, request_id="bob-too-much")
    assert too_much is not None
    assert too_much["status"] == account_service_pb2.TRANSFER_STATUS_REJECTED
    [bob_fill] = queries.list_fills(user_id=BOB).rows
    assert (bob_fill["order_id"], bob_fill["is_maker"]) == (sell.order_accepted.order_id, True)
    assert queries.list_open_orders(user_id=ALICE).rows == []
    balances = {row["asset_id"]: row["available_units"] for row in queries.get_balances(user_id=ALICE)}
    assert balances[USDT] == 77_500_000_000
    assert settlement.signal(signal.SIGTERM) == 0
