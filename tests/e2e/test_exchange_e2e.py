"""The whole exchange end to end, on one private stack started by the stack runner (tests/e2e/exchange.py).

Each flow is checked in every place it must appear: the client's answer (gRPC and REST), Kafka (`balance.events`,
`orders`), UBSCore's state (its dump), the database (settlement/queries.py) and the user's private stream. Every
test uses its own users, so they share the stack without seeing each other. The module ends with the invariants
checker over everything the flows did, and shows that the checker fails on tampered data in the same keyspace.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cassandra.cluster import Session

from common.engine_chain import Chain
from common.enums import BalanceEventType as Ev
from exchange.v1 import account_service_pb2, common_pb2, engine_pb2
from tools.invariants import check_until_settled, run_checks, table

from .exchange import Exchange, User, eventually
from .flows import (
    deposit,
    event_types,
    events_of,
    expect_balances,
    open_stream,
    place,
    rest,
    stream_balances,
    stream_order_statuses,
    withdraw,
)

pytestmark = pytest.mark.e2e

COMPLETED = account_service_pb2.TRANSFER_STATUS_COMPLETED
REJECTED = account_service_pb2.TRANSFER_STATUS_REJECTED
SETTLE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def operator(exchange: Exchange) -> User:
    """The operator account whose key may deposit and withdraw for anyone."""
    return exchange.new_user("transfer", user_id=5000)


@pytest.fixture
def funded(exchange: Exchange, operator: User) -> Iterator[tuple[User, User]]:
    """Two fresh users: a buyer with 100,000 USDT and a seller with 10 BTC."""
    buyer, seller = exchange.new_user(), exchange.new_user()
    assert deposit(exchange, operator, buyer, "USDT", "100000", f"dep-{buyer.user_id}").status == COMPLETED
    assert deposit(exchange, operator, seller, "BTC", "10", f"dep-{seller.user_id}").status == COMPLETED
    return buyer, seller


def test_seed_flows_deposit_order_withdrawal_everywhere(exchange: Exchange, operator: User, tmp_path: Path) -> None:
    """Deposit (gRPC and REST), a resting sell (gRPC) filled by a buy (REST), a withdrawal: answers, balance.events,
    orders, UBSCore's dump, user_balances / orders / fills / transfers tables and both private streams agree."""
    alice, bob = exchange.new_user(), exchange.new_user()
    alice_stream, bob_stream = open_stream(exchange, alice), open_stream(exchange, bob)

    deposited = deposit(exchange, operator, alice, "USDT", "100000", "seed-dep-alice")
    assert (deposited.status, deposited.amount, deposited.asset) == (COMPLETED, "100000.000000", "USDT")
    status, body = rest(exchange, "POST", "/transfer_in", operator, {
        "request_id": "seed-dep-bob", "user_id": str(bob.user_id), "asset": "BTC", "amount": "10",
        "result_wait_ms": 5000})
    assert status == 200, body
    assert body["transfer"]["status"] == "TRANSFER_STATUS_COMPLETED", body

    sell = place(exchange, bob, side=common_pb2.SIDE_SELL, price="45000.00", quantity="0.5",
                 client_order_id="seed-sell")
    assert (sell.status, sell.locked, sell.locked_asset) == (common_pb2.ORDER_STATUS_NEW, "0.50000000", "BTC")
    status, buy = rest(exchange, "POST", "/orders", alice, {
        "symbol": "BTC_USDT", "side": "SIDE_BUY", "order_type": "ORDER_TYPE_LIMIT", "price": "45000.00",
        "quantity": "0.5", "client_order_id": "seed-buy", "result_wait_ms": 5000})
    assert status == 200, buy
    assert (buy["status"], buy["locked"]) == ("ORDER_STATUS_FILLED", "22500.000000")
    [fill] = buy["fills"]
    assert (fill["price"], fill["quantity"], fill["fee"], fill["fee_asset"]) == (
        "45000.000000", "0.50000000", "0.00100000", "BTC")  # taker 0.2 % of what Alice receives

    withdrawn = withdraw(exchange, operator, alice, "USDT", "500", "seed-wd-alice")
    assert (withdrawn.status, withdrawn.amount) == (COMPLETED, "500.000000")

    # The private streams: order states and the exact balances after fees.
    alice_stream.until(lambda m: stream_balances(alice_stream).get("USDT") == ("77000.000000", "0.000000"))
    alice_stream.until(lambda m: stream_balances(alice_stream).get("BTC") == ("0.49900000", "0.00000000"))
    bob_stream.until(lambda m: stream_balances(bob_stream).get("USDT") == ("22477.500000", "0.000000"))
    bob_stream.until(lambda m: stream_balances(bob_stream).get("BTC") == ("9.50000000", "0.00000000"))
    assert stream_order_statuses(alice_stream, "seed-buy")[-1] == common_pb2.ORDER_STATUS_FILLED
    assert stream_order_statuses(bob_stream, "seed-sell") == [common_pb2.ORDER_STATUS_NEW,
                                                              common_pb2.ORDER_STATUS_FILLED]
    [bob_fill] = [m.fill for m in bob_stream.seen if m.HasField("fill")]
    assert (bob_fill.is_maker, bob_fill.fee, bob_fill.fee_asset) == (True, "22.500000", "USDT")

    # Kafka: what UBSCore sequenced to the matcher, and every balance change it emitted.
    [alice_order] = exchange.order_commands(alice.user_id)
    assert (alice_order.place.client_order_id, alice_order.place.price_units, alice_order.place.qty_units) == (
        "seed-buy", 45_000_000_000, 50_000_000)
    assert {Ev.DEPOSITED, Ev.FUNDS_LOCKED, Ev.TRADE_DEBITED, Ev.TRADE_CREDITED, Ev.WITHDRAWN} <= set(
        eventually(lambda: event_types(exchange, alice), lambda kinds: Ev.WITHDRAWN in kinds))
    [withdrawal] = events_of(exchange, alice, Ev.WITHDRAWN)
    assert (withdrawal.request_id, withdrawal.delta_available_units) == ("seed-wd-alice", -500_000_000)
    [bob_credit] = [event for event in events_of(exchange, bob, Ev.TRADE_CREDITED) if event.asset_id == 2]
    assert bob_credit.delta_available_units == 22_477_500_000  # 22,500 USDT less the 0.1 % maker fee

    # UBSCore and the database.
    expect_balances(exchange, alice, tmp_path, {"USDT": ("77000", "0"), "BTC": ("0.499", "0")})
    expect_balances(exchange, bob, tmp_path, {"USDT": ("22477.5", "0"), "BTC": ("9.5", "0")})
    queries = exchange.queries
    order = eventually(lambda: queries.get_order_by_client_id(user_id=alice.user_id, client_order_id="seed-buy"),
                       lambda row: row is not None and row["status"] == common_pb2.ORDER_STATUS_FILLED)
    assert order["filled_qty_units"] == 50_000_000
    for user, is_maker in ((alice, False), (bob, True)):
        fills = eventually(lambda user=user: queries.list_fills(user_id=user.user_id).rows, lambda rows: len(rows) == 1)
        assert (fills[0]["is_maker"], fills[0]["qty_units"], fills[0]["price_units"]) == (is_maker, 50_000_000,
                                                                                          45_000_000_000)
    for user, request_id in ((alice, "seed-dep-alice"), (bob, "seed-dep-bob"), (alice, "seed-wd-alice")):
        row = eventually(lambda user=user, request_id=request_id: queries.get_transfer(
            user_id=user.user_id, request_id=request_id), lambda row: row is not None)
        assert row["status"] == COMPLETED


def test_invariants_hold_after_the_flows_and_fail_on_tampered_data(exchange: Exchange) -> None:
    """tools.invariants passes on everything the flows did; then a tampered balance, a deleted trade, a changed
    ledger row and a forged engine output each make it fail, naming what differs (each restored after)."""
    checks = check_until_settled(exchange.sources(), settle_timeout_ms=SETTLE_TIMEOUT_MS)
    assert all(check.ok for check in checks), table(checks)
    names = {check.name for check in checks}
    assert {"money", "reconcile", "trades", "chain shard 0", "replay shard 0"} <= names
    assert "0 trades" not in next(check.checked for check in checks if check.name == "trades")

    ok = _cli(exchange)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"^replay shard 0\s+ok\s", ok.stdout, re.MULTILINE), ok.stdout

    session = exchange.session
    balance = session.execute("SELECT user_id, asset_id, available_units FROM user_balances LIMIT 1").one()
    with _tampered(session, "user_balances", f"user_id = {balance.user_id} AND asset_id = {balance.asset_id}",
                   f"available_units = {balance.available_units + 1}"):
        failed = _failed(exchange)
        assert {"money", "reconcile"} <= set(failed), failed
        assert f"user {balance.user_id} asset {balance.asset_id}" in " ".join(failed["reconcile"])
        wrong = _cli(exchange)
        assert wrong.returncode == 1, wrong.stdout + wrong.stderr
        assert re.search(r"^money\s+FAIL\s", wrong.stdout, re.MULTILINE), wrong.stdout

    trade = session.execute("SELECT trade_block, trade_id FROM settled_trades LIMIT 1").one()
    with _tampered(session, "settled_trades", f"trade_block = {trade.trade_block} AND trade_id = {trade.trade_id}",
                   None):
        failed = _failed(exchange)
        assert set(failed) == {"trades"}, failed
        assert f"trade {trade.trade_id}" in failed["trades"][0]

    event = session.execute("SELECT event_block, event_id, delta_available_units FROM balance_ledger "
                            "WHERE event_block = 0 AND event_id = 1").one()
    with _tampered(session, "balance_ledger", "event_block = 0 AND event_id = 1",
                   f"delta_available_units = {event.delta_available_units - 1}"):
        assert {"money", "reconcile"} <= set(_failed(exchange))

    output = session.execute("SELECT seq_block, seq, output FROM engine_outputs WHERE shard_id = 0 AND seq_block = 0 "
                             "AND seq = 2").one()
    broken = engine_pb2.EngineOutput.FromString(output.output)
    broken.ts_event_ns += 1  # content changed, hash kept: the stored chain no longer verifies
    with _tampered(session, "engine_outputs", "shard_id = 0 AND seq_block = 0 AND seq = 2",
                   f"output = 0x{broken.SerializeToString().hex()}"):
        failed = _failed(exchange)
        assert "chain shard 0" in failed, failed
        assert "seq 2: hash" in failed["chain shard 0"][0]


def test_invariants_replay_catches_a_resealed_output_the_chain_accepts(exchange: Exchange) -> None:
    """The last stored output changed and sealed again (chain_state moved with it): every link verifies, but
    replaying `orders` through a fresh matcher gives another hash at that seq."""
    session = exchange.session
    head = session.execute("SELECT last_seq, last_hash FROM chain_state WHERE source = 'engine.0'").one()
    where = f"shard_id = 0 AND seq_block = {head.last_seq >> 10} AND seq = {head.last_seq}"
    stored = engine_pb2.EngineOutput.FromString(session.execute(f"SELECT output FROM engine_outputs WHERE {where}"
                                                                ).one().output)
    forged = engine_pb2.EngineOutput()
    forged.CopyFrom(stored)
    forged.ts_event_ns += 1
    chain = Chain(shard_id=0, last_seq=stored.seq - 1, last_hash=stored.prev_hash)
    chain.seal(forged)
    with (_tampered(session, "engine_outputs", where,
                    f"output = 0x{forged.SerializeToString().hex()}, hash = 0x{forged.hash.hex()}"),
          _tampered(session, "chain_state", "source = 'engine.0'", f"last_hash = 0x{forged.hash.hex()}")):
        failed = _failed(exchange)
        assert set(failed) == {"replay shard 0"}, failed
        assert f"seq {stored.seq}: replayed hash" in failed["replay shard 0"][0]
    checks = run_checks(exchange.sources())
    assert all(check.ok for check in checks), table(checks)


def _failed(exchange: Exchange) -> dict[str, list[str]]:
    """The checks that fail now (one pass, no waiting), with their problems."""
    return {check.name: check.problems for check in run_checks(exchange.sources()) if not check.ok}


def _cli(exchange: Exchange) -> subprocess.CompletedProcess[str]:
    """`python -m tools.invariants` against the private stack, as an operator runs it (settings from STACK_HOME)."""
    return subprocess.run([sys.executable, "-m", "tools.invariants", "--settle-timeout-ms", "0"],
                          env={**os.environ, "STACK_HOME": str(exchange.config.home)}, capture_output=True, text=True,
                          timeout=120, check=False)


@contextmanager
def _tampered(session: Session, table_name: str, where: str, assignments: str | None) -> Iterator[None]:
    """Change (assignments) or delete (None) one row, then put it back as it was (a later write wins)."""
    original = session.execute(f"SELECT JSON * FROM {table_name} WHERE {where}").one()
    assert original is not None, (table_name, where)
    if assignments is None:
        session.execute(f"DELETE FROM {table_name} WHERE {where}")
    else:
        session.execute(f"UPDATE {table_name} SET {assignments} WHERE {where}")
    try:
        yield
    finally:
        session.execute(f"INSERT INTO {table_name} JSON %s", [original[0]])
