"""The whole exchange end to end, on one private stack started by the stack runner (tests/e2e/exchange.py).

Each flow is checked in every place it must appear: the client's answer (gRPC and REST), Kafka (`balance.events`,
`orders`), UBSCore's state (its dump), the database (settlement/queries.py) and the user's private stream. Every
test uses its own users, so they share the stack without seeing each other. The module ends with the invariants
checker over everything the flows did, and shows that the checker fails on tampered data in the same keyspace.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from cassandra.cluster import Session

from common.engine_chain import Chain
from common.enums import BalanceEventType as Ev
from exchange.v1 import account_service_pb2, common_pb2, engine_pb2, trading_service_pb2
from tools.invariants import Sources, check_until_settled, run_checks, table

from ..integration.gateway.calls import reason_of
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
SETTLE_TIMEOUT_MS = 120_000  # a pass dumps UBSCore and replays `orders`: seconds each on a loaded machine


@pytest.fixture(scope="module")
def operator(exchange: Exchange) -> User:
    """The operator account whose key may deposit and withdraw for anyone."""
    return exchange.new_user("transfer", user_id=5000)


@pytest.fixture
def funded(exchange: Exchange, operator: User) -> tuple[User, User]:
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
    bob_stream.until(lambda m: m.HasField("fill"))  # offered just after the order update of the same output
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
    status, body = rest(exchange, "GET", "/v1/client_orders/seed-buy", alice)  # the query RPCs read those tables
    assert (status, body["order"]["status"], body["order"]["filled_quantity"]) == (
        200, "ORDER_STATUS_FILLED", "0.50000000"), body
    [bob_listed] = exchange.trading.ListFills(trading_service_pb2.ListFillsRequest(), metadata=bob.auth).fills
    assert (bob_listed.is_maker, bob_listed.fee, bob_listed.client_order_id) == (True, "22.500000", "seed-sell")
    for user, request_id in ((alice, "seed-dep-alice"), (bob, "seed-dep-bob"), (alice, "seed-wd-alice")):
        row = eventually(lambda user=user, request_id=request_id: queries.get_transfer(
            user_id=user.user_id, request_id=request_id), lambda row: row is not None)
        assert row["status"] == COMPLETED
    # Read once the row is stored (awaited above): the transfers partition is not implied by the balances read.
    transfer = exchange.account.GetTransfer(account_service_pb2.GetTransferRequest(request_id="seed-wd-alice"),
                                            metadata=alice.auth).transfer
    assert (transfer.status, transfer.amount, transfer.direction) == (
        COMPLETED, "500.000000", account_service_pb2.TRANSFER_DIRECTION_OUT)


def test_cancel_releases_the_lock_everywhere(exchange: Exchange, funded: tuple[User, User], tmp_path: Path) -> None:
    """A resting buy canceled over REST: CANCELED on the stream and in the tables, a cancel command on `orders`,
    the lock released (FUNDS_UNLOCKED) in balance.events, UBSCore and user_balances; the book is left empty."""
    buyer, _ = funded
    stream = open_stream(exchange, buyer)
    rested = place(exchange, buyer, side=common_pb2.SIDE_BUY, price="30000.00", quantity="0.1",
                   client_order_id="cancel-me")
    assert (rested.status, rested.locked) == (common_pb2.ORDER_STATUS_NEW, "3000.000000")
    expect_balances(exchange, buyer, tmp_path, {"USDT": ("97000", "3000")})
    status, body = rest(exchange, "POST", "/v1/orders/cancel", buyer,
                        {"symbol": "BTC_USDT", "client_order_id": "cancel-me"})
    assert status == 200, body
    assert body["order_id"] == str(rested.order_id), body

    stream.until(lambda m: m.order_update.status == common_pb2.ORDER_STATUS_CANCELED)
    stream.until(lambda m: stream_balances(stream).get("USDT") == ("100000.000000", "0.000000"))
    expect_balances(exchange, buyer, tmp_path, {"USDT": ("100000", "0")})
    kinds = [command.WhichOneof("command") for command in exchange.order_commands(buyer.user_id)]
    assert kinds == ["place", "cancel"]
    [unlocked] = events_of(exchange, buyer, Ev.FUNDS_UNLOCKED)
    assert (unlocked.order_id, unlocked.delta_frozen_units) == (rested.order_id, -3_000_000_000)
    queries = exchange.queries
    eventually(lambda: queries.get_order(user_id=buyer.user_id, order_id=rested.order_id),
               lambda row: row is not None and row["status"] == common_pb2.ORDER_STATUS_CANCELED)
    eventually(lambda: queries.list_open_orders(user_id=buyer.user_id).rows, lambda rows: rows == [])


def test_partial_fills_fees_and_price_improvement(
    exchange: Exchange, funded: tuple[User, User], tmp_path: Path,
) -> None:
    """A 1 BTC sell at 40,000 filled 0.4 then 0.6 (the second buy limited at 40,100 pays the maker's 40,000 and gets
    the difference back): PARTIALLY_FILLED then FILLED, fees maker 0.1 % / taker 0.2 % on what each receives."""
    buyer, seller = funded
    seller_stream = open_stream(exchange, seller)
    sell = place(exchange, seller, side=common_pb2.SIDE_SELL, price="40000.00", quantity="1", client_order_id="ps")
    first = place(exchange, buyer, side=common_pb2.SIDE_BUY, price="40000.00", quantity="0.4", client_order_id="pb1")
    assert first.order.status == common_pb2.ORDER_STATUS_FILLED, first
    [fill] = first.fills
    assert (fill.quantity, fill.fee, fill.fee_asset, fill.is_maker) == ("0.40000000", "0.00080000", "BTC", False)
    seller_stream.until(lambda m: m.order_update.status == common_pb2.ORDER_STATUS_PARTIALLY_FILLED)
    expect_balances(exchange, seller, tmp_path, {"BTC": ("9", "0.6"), "USDT": ("15984", "0")})

    second = place(exchange, buyer, side=common_pb2.SIDE_BUY, price="40100.00", quantity="0.6",
                   client_order_id="pb2")
    assert (second.locked, second.order.status) == ("24060.000000", common_pb2.ORDER_STATUS_FILLED)
    assert [(f.price, f.quantity, f.fee) for f in second.fills] == [("40000.000000", "0.60000000", "0.00120000")]
    seller_stream.until(lambda m: m.order_update.order_id == sell.order_id
                        and m.order_update.status == common_pb2.ORDER_STATUS_FILLED)
    expect_balances(exchange, buyer, tmp_path, {"BTC": ("0.998", "0"), "USDT": ("60000", "0")})
    expect_balances(exchange, seller, tmp_path, {"BTC": ("9", "0"), "USDT": ("39960", "0")})
    fills = eventually(lambda: exchange.queries.list_fills(user_id=seller.user_id).rows, lambda rows: len(rows) == 2)
    assert sorted((row["qty_units"], row["fee_units"], row["is_maker"]) for row in fills) == [
        (40_000_000, 16_000_000, True), (60_000_000, 24_000_000, True)]
    credits = events_of(exchange, seller, Ev.TRADE_CREDITED)
    assert sorted(event.delta_available_units for event in credits) == [15_984_000_000, 23_976_000_000]


def test_market_order_buys_for_a_quote_budget(exchange: Exchange, funded: tuple[User, User], tmp_path: Path) -> None:
    """A market buy of 10,250 USDT against a 0.5 BTC ask at 41,000 gets exactly 0.25 BTC (less the taker fee)."""
    buyer, seller = funded
    ask = place(exchange, seller, side=common_pb2.SIDE_SELL, price="41000.00", quantity="0.5", client_order_id="ma")
    bought = place(exchange, buyer, side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_MARKET,
                   time_in_force=common_pb2.TIME_IN_FORCE_UNSPECIFIED, quote_quantity="10250", client_order_id="mb")
    assert (bought.locked, bought.order.status) == ("10250.000000", common_pb2.ORDER_STATUS_FILLED), bought
    assert [(f.price, f.quantity, f.fee) for f in bought.fills] == [("41000.000000", "0.25000000", "0.00050000")]
    [command] = exchange.order_commands(buyer.user_id)
    assert (command.place.order_type, command.place.quote_budget_units) == (common_pb2.ORDER_TYPE_MARKET,
                                                                           10_250_000_000)
    expect_balances(exchange, buyer, tmp_path, {"BTC": ("0.2495", "0"), "USDT": ("89750", "0")})
    exchange.trading.CancelOrder(trading_service_pb2.CancelOrderRequest(order_id=ask.order_id), metadata=seller.auth)
    expect_balances(exchange, seller, tmp_path, {"BTC": ("9.75", "0"), "USDT": ("10239.75", "0")})


def test_fok_expires_whole_and_ioc_expires_its_remainder(
    exchange: Exchange, funded: tuple[User, User], tmp_path: Path,
) -> None:
    """Against a 0.3 BTC ask: a FOK buy of 0.5 EXPIRES with no trade and its lock released; an IOC buy of 0.5
    fills 0.3 and EXPIRES the rest; the stream, the tables and the balances say the same."""
    buyer, seller = funded
    stream = open_stream(exchange, buyer)
    place(exchange, seller, side=common_pb2.SIDE_SELL, price="42000.00", quantity="0.3", client_order_id="fi-ask")
    fok = place(exchange, buyer, side=common_pb2.SIDE_BUY, price="42000.00", quantity="0.5",
                time_in_force=common_pb2.TIME_IN_FORCE_FOK, client_order_id="fok")
    assert (fok.order.status, fok.order.filled_quantity, list(fok.fills)) == (
        common_pb2.ORDER_STATUS_EXPIRED, "0.00000000", [])
    assert fok.order.reason == common_pb2.REJECT_REASON_FOK_NOT_FILLABLE
    expect_balances(exchange, buyer, tmp_path, {"USDT": ("100000", "0"), "BTC": ("0", "0")})
    ioc = place(exchange, buyer, side=common_pb2.SIDE_BUY, price="42000.00", quantity="0.5",
                time_in_force=common_pb2.TIME_IN_FORCE_IOC, client_order_id="ioc")
    assert (ioc.order.status, ioc.order.filled_quantity) == (common_pb2.ORDER_STATUS_EXPIRED, "0.30000000")
    assert [f.quantity for f in ioc.fills] == ["0.30000000"]
    stream.until(lambda m: m.order_update.client_order_id == "ioc"
                 and m.order_update.status == common_pb2.ORDER_STATUS_EXPIRED)
    assert stream_order_statuses(stream, "fok") == [common_pb2.ORDER_STATUS_EXPIRED]
    expect_balances(exchange, buyer, tmp_path, {"USDT": ("87400", "0"), "BTC": ("0.2994", "0")})
    queries = exchange.queries
    for client_order_id, filled in (("fok", 0), ("ioc", 30_000_000)):
        row = eventually(lambda cid=client_order_id: queries.get_order_by_client_id(
            user_id=buyer.user_id, client_order_id=cid), lambda row: row is not None)
        assert (row["status"], row["filled_qty_units"]) == (common_pb2.ORDER_STATUS_EXPIRED, filled)


def test_refusals_answer_with_their_reason_and_change_nothing(
    exchange: Exchange, operator: User, funded: tuple[User, User], tmp_path: Path,
) -> None:
    """Insufficient balance (refused by UBSCore: an ORDER_REJECTED event, the refused order in the tables), a price
    off the tick and an unknown market (refused by the gateway: nothing reaches Kafka), a repeated client order id
    and a repeated transfer id (the first outcome returned, nothing applied twice)."""
    buyer, _ = funded
    stream = open_stream(exchange, buyer)
    with pytest.raises(grpc.RpcError) as unfunded:
        place(exchange, buyer, side=common_pb2.SIDE_BUY, price="45000.00", quantity="10", client_order_id="too-big")
    assert unfunded.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert reason_of(unfunded.value) == "REJECT_REASON_INSUFFICIENT_FUNDS"  # type: ignore[arg-type]
    status, body = rest(exchange, "POST", "/orders", buyer, {
        "symbol": "BTC_USDT", "side": "SIDE_BUY", "order_type": "ORDER_TYPE_LIMIT", "price": "45000.00",
        "quantity": "10", "client_order_id": "too-big-rest"})
    assert (status, body["details"][0]["reason"]) == (400, "REJECT_REASON_INSUFFICIENT_FUNDS"), body
    rejected = eventually(lambda: events_of(exchange, buyer, Ev.ORDER_REJECTED), lambda found: len(found) == 2)
    assert {event.client_order_id for event in rejected} == {"too-big", "too-big-rest"}
    row = eventually(lambda: exchange.queries.get_order_by_client_id(user_id=buyer.user_id,
                                                                      client_order_id="too-big"),
                     lambda row: row is not None)
    assert (row["order_id"], row["status"]) == (0, common_pb2.ORDER_STATUS_REJECTED)
    stream.until(lambda m: m.balance_change.type == Ev.ORDER_REJECTED
                 and m.balance_change.client_order_id == "too-big")
    [refusal] = [m.balance_change for m in stream.seen if m.balance_change.client_order_id == "too-big"]
    assert refusal.reject_reason == common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS

    with pytest.raises(grpc.RpcError) as off_tick:
        place(exchange, buyer, side=common_pb2.SIDE_BUY, price="45000.001", quantity="0.1", client_order_id="tick")
    assert off_tick.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert reason_of(off_tick.value) == "REJECT_REASON_INVALID_PRICE"  # type: ignore[arg-type]
    with pytest.raises(grpc.RpcError) as unknown:
        place(exchange, buyer, symbol="DOGE_USDT", side=common_pb2.SIDE_BUY, price="1.00", quantity="1",
              client_order_id="doge")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert reason_of(unknown.value) == "REJECT_REASON_UNKNOWN_MARKET"  # type: ignore[arg-type]

    first = place(exchange, buyer, side=common_pb2.SIDE_BUY, price="20000.00", quantity="0.1", client_order_id="once")
    again = place(exchange, buyer, side=common_pb2.SIDE_BUY, price="20000.00", quantity="0.1", client_order_id="once")
    assert (again.order_id, again.duplicate, again.locked) == (first.order_id, True, "2000.000000")
    with pytest.raises(grpc.RpcError) as reused:  # the same id for another order: refused, the first one stands
        place(exchange, buyer, side=common_pb2.SIDE_BUY, price="21000.00", quantity="0.2", client_order_id="once")
    assert reused.value.code() == grpc.StatusCode.ALREADY_EXISTS  # type: ignore[attr-defined]
    assert reason_of(reused.value) == "REJECT_REASON_DUPLICATE_REQUEST"  # type: ignore[arg-type]
    placed = [command.place.client_order_id for command in exchange.order_commands(buyer.user_id)
              if command.WhichOneof("command") == "place"]
    assert placed == ["once"]  # the refused, off-tick, unknown-market and repeated orders never reached the matcher
    exchange.trading.CancelOrder(trading_service_pb2.CancelOrderRequest(order_id=first.order_id), metadata=buyer.auth)

    repeat = deposit(exchange, operator, buyer, "USDT", "100000", f"dep-{buyer.user_id}")  # the fixture's request id
    assert (repeat.status, repeat.amount) == (COMPLETED, "100000.000000")
    assert len(events_of(exchange, buyer, Ev.DEPOSITED)) == 1
    stream.until(lambda m: m.order_update.client_order_id == "once"
                 and m.order_update.status == common_pb2.ORDER_STATUS_CANCELED)
    expect_balances(exchange, buyer, tmp_path, {"USDT": ("100000", "0"), "BTC": ("0", "0")})


def test_invariants_hold_after_the_flows_and_fail_on_tampered_data(exchange: Exchange) -> None:
    """tools.invariants passes on everything the flows did (library and CLI); on a copy of the tables, a changed
    balance, a deleted trade, a changed ledger row, a tampered engine output, a re-sealed one and a lost last
    output each make it fail, naming what differs (each restored before the next)."""
    checks = check_until_settled(exchange.sources(), settle_timeout_ms=SETTLE_TIMEOUT_MS)
    assert all(check.ok for check in checks), table(checks)
    names = {check.name for check in checks}
    assert {"money", "reconcile", "trades", "chain shard 0", "replay shard 0"} <= names
    assert "0 trades" not in next(check.checked for check in checks if check.name == "trades")
    ok = _cli(exchange)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"^replay shard 0\s+ok\s", ok.stdout, re.MULTILINE), ok.stdout

    with exchange.keyspace_copy() as (keyspace, session):
        sources = dataclasses.replace(exchange.sources(), session=session)
        assert _failed(sources) == {}  # the copy is as consistent as the original
        balance = session.execute("SELECT user_id, asset_id, available_units FROM user_balances LIMIT 1").one()
        with _tampered(session, "user_balances", f"user_id = {balance.user_id} AND asset_id = {balance.asset_id}",
                       f"available_units = {balance.available_units + 1}"):
            failed = _failed(sources)
            assert {"money", "reconcile"} <= set(failed), failed
            assert f"user {balance.user_id} asset {balance.asset_id}" in " ".join(failed["reconcile"])
            wrong = _cli(exchange, "--keyspace", keyspace)
            assert wrong.returncode == 1, wrong.stdout + wrong.stderr
            assert re.search(r"^money\s+FAIL\s", wrong.stdout, re.MULTILINE), wrong.stdout

        trade = session.execute("SELECT trade_block, trade_id FROM settled_trades LIMIT 1").one()
        with _tampered(session, "settled_trades",
                       f"trade_block = {trade.trade_block} AND trade_id = {trade.trade_id}", None):
            failed = _failed(sources)
            assert set(failed) == {"trades"}, failed
            assert f"trade {trade.trade_id}" in failed["trades"][0]

        event = session.execute("SELECT delta_available_units FROM balance_ledger "
                                "WHERE event_block = 0 AND event_id = 1").one()
        with _tampered(session, "balance_ledger", "event_block = 0 AND event_id = 1",
                       f"delta_available_units = {event.delta_available_units - 1}"):
            assert {"money", "reconcile"} <= set(_failed(sources))

        where = "shard_id = 0 AND seq_block = 0 AND seq = 2"
        broken = engine_pb2.EngineOutput.FromString(
            session.execute(f"SELECT output FROM engine_outputs WHERE {where}").one().output)
        broken.ts_event_ns += 1  # content changed, hash kept: the stored chain no longer verifies
        with _tampered(session, "engine_outputs", where, f"output = 0x{broken.SerializeToString().hex()}"):
            failed = _failed(sources)
            assert "chain shard 0" in failed, failed
            assert "seq 2: hash" in failed["chain shard 0"][0]

        _resealed_output_fails_only_the_replay(session, sources)

        head = session.execute("SELECT last_seq FROM chain_state WHERE source = 'engine.0'").one()
        previous = session.execute(f"SELECT seq, hash FROM engine_outputs WHERE shard_id = 0 AND seq_block = "
                                   f"{(head.last_seq - 1) >> 10} AND seq = {head.last_seq - 1}").one()
        last = f"shard_id = 0 AND seq_block = {head.last_seq >> 10} AND seq = {head.last_seq}"
        with (_tampered(session, "engine_outputs", last, None),  # the last output lost, its command still in Kafka
              _tampered(session, "chain_state", "source = 'engine.0'",
                        f"last_seq = {previous.seq}, last_hash = 0x{previous.hash.hex()}")):
            failed = _failed(sources)
            assert "chain shard 0" not in failed, failed  # a shorter chain still verifies
            assert "are in no stored output" in failed["replay shard 0"][-1], failed
        assert _failed(sources) == {}  # every change was undone


def _resealed_output_fails_only_the_replay(session: Session, sources: Sources) -> None:
    """The last stored output changed and sealed again (chain_state moved with it): every link verifies, but
    replaying `orders` through a fresh matcher gives another hash at that seq."""
    head = session.execute("SELECT last_seq, last_hash FROM chain_state WHERE source = 'engine.0'").one()
    where = f"shard_id = 0 AND seq_block = {head.last_seq >> 10} AND seq = {head.last_seq}"
    stored = engine_pb2.EngineOutput.FromString(session.execute(f"SELECT output FROM engine_outputs WHERE {where}"
                                                                ).one().output)
    forged = engine_pb2.EngineOutput()
    forged.CopyFrom(stored)
    forged.ts_event_ns += 1
    Chain(shard_id=0, last_seq=stored.seq - 1, last_hash=stored.prev_hash).seal(forged)
    with (_tampered(session, "engine_outputs", where,
                    f"output = 0x{forged.SerializeToString().hex()}, hash = 0x{forged.hash.hex()}"),
          _tampered(session, "chain_state", "source = 'engine.0'", f"last_hash = 0x{forged.hash.hex()}")):
        failed = _failed(sources)
        assert set(failed) == {"replay shard 0"}, failed
        assert f"seq {stored.seq}: replayed hash" in failed["replay shard 0"][0]


def _failed(sources: Sources) -> dict[str, list[str]]:
    """The checks that fail now (one pass, no waiting), with their problems."""
    return {check.name: check.problems for check in run_checks(sources) if not check.ok}


def _cli(exchange: Exchange, *options: str) -> subprocess.CompletedProcess[str]:
    """`python -m tools.invariants` against the private stack, as an operator runs it (settings from STACK_HOME)."""
    return subprocess.run([sys.executable, "-m", "tools.invariants", "--settle-timeout-ms", "0", *options],
                          env={**os.environ, "STACK_HOME": str(exchange.config.home)}, capture_output=True, text=True,
                          timeout=120, check=False)


@contextmanager
def _tampered(session: Session, table_name: str, where: str, assignments: str | None) -> Iterator[None]:
    """Change (assignments) or delete (None) one row of a copied keyspace, then put it back (a later write wins:
    nothing else writes to the copy)."""
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
