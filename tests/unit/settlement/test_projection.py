"""Projection of real matcher outputs and balance events to rows: keys, columns, timestamps, determinism."""

from __future__ import annotations

from common.markets import load_catalog
from exchange.v1 import account_service_pb2, balance_pb2, common_pb2, ubscore_pb2
from settlement import keys
from settlement.projection import makers_to_resolve, project_balance_event, project_output
from settlement.rows import Row
from tests.unit.settlement.conftest import TS_BASE_NS, OutputMaker

MARKETS = load_catalog().markets
BTC, USDT = 1, 2
PRICE = 45_000_000_000  # 45000.000000 USDT
LOT = 10_000  # 0.0001 BTC


def rows_of(rows: list[Row], table: str) -> list[Row]:
    return [row for row in rows if row.table == table]


def test_project_resting_order_writes_order_tables_and_open_order() -> None:
    """A GTC buy that rests: engine_outputs, orders, orders_by_user_time, order_history, open_orders, buckets."""
    maker = OutputMaker()
    output = maker.place(order_id=1, user_id=1001, side=common_pb2.SIDE_BUY, price_units=PRICE, qty_units=5 * LOT)
    projected = project_output(output, markets=MARKETS, created_ns={})
    rows = projected.rows
    [engine_row] = rows_of(rows, "engine_outputs")
    assert engine_row.values["seq"] == 1
    assert engine_row.values["hash"] == output.hash
    assert engine_row.values["output"] == output.SerializeToString(deterministic=True)
    [order] = rows_of(rows, "orders")
    assert order.values["order_block"] == 0
    assert order.values["status"] == common_pb2.ORDER_STATUS_NEW
    assert order.values["created_ns"] == TS_BASE_NS
    assert order.values["post_only"] is False
    assert order.timestamp == keys.output_timestamp(1, 0)
    [by_time] = rows_of(rows, "orders_by_user_time")
    assert by_time.values["bucket"] == keys.user_bucket(TS_BASE_NS)
    [history] = rows_of(rows, "order_history")
    assert (history.values["source"], history.values["position"]) == ("engine.7", 1)
    assert history.values["latest_status"] == common_pb2.ORDER_STATUS_NEW
    [open_row] = rows_of(rows, "open_orders")
    assert not open_row.delete
    assert open_row.values["remaining_qty_units"] == 5 * LOT
    assert projected.created == {1: TS_BASE_NS}
    assert {(row.values["scope"], row.values["owner"]) for row in rows_of(rows, "time_buckets")} == {
        ("orders", "1001")}


def test_project_trade_uses_given_maker_creation_time_and_deletes_filled_maker() -> None:
    """A taker filling a resting maker: trade rows for both sides with fee assets, maker keyed by its creation."""
    maker = OutputMaker()
    maker.place(order_id=1, user_id=1001, side=common_pb2.SIDE_SELL, price_units=PRICE, qty_units=2 * LOT)
    taker_ts = TS_BASE_NS + 5 * keys.USER_BUCKET_NS  # days later: another bucket than the maker's
    output = maker.place(order_id=2, user_id=1002, side=common_pb2.SIDE_BUY, price_units=PRICE, qty_units=2 * LOT,
                         ts_ns=taker_ts)
    assert makers_to_resolve(output) == [1]
    projected = project_output(output, markets=MARKETS, created_ns={1: TS_BASE_NS})
    rows = projected.rows
    by_time = {row.values["order_id"]: row for row in rows_of(rows, "orders_by_user_time")}
    assert by_time[1].values["created_ns"] == TS_BASE_NS
    assert by_time[1].values["bucket"] == keys.user_bucket(TS_BASE_NS)
    assert by_time[2].values["bucket"] == keys.user_bucket(taker_ts)
    assert all(row.delete for row in rows_of(rows, "open_orders"))  # both filled
    maker_order = next(row for row in rows_of(rows, "orders") if row.values["order_id"] == 1)
    assert "user_id" not in maker_order.values  # a maker's update writes what changed, not its identity
    assert "symbol" not in by_time[1].values
    assert by_time[2].values["symbol"] == "BTC_USDT"
    assert sorted(projected.finished) == [1, 2]
    assert projected.created_unknown == []
    [trade] = rows_of(rows, "settled_trades")
    assert trade.values["quote_qty_units"] == 2 * LOT * PRICE // 10**8
    fills = {row.values["is_maker"]: row.values for row in rows_of(rows, "trades_by_user")}
    assert (fills[False]["user_id"], fills[False]["side"], fills[False]["fee_asset_id"]) == (
        1002, common_pb2.SIDE_BUY, BTC)
    assert (fills[True]["user_id"], fills[True]["side"], fills[True]["fee_asset_id"]) == (
        1001, common_pb2.SIDE_SELL, USDT)
    assert fills[True]["client_order_id"] == "c1"
    [market_trade] = rows_of(rows, "market_trades")
    assert market_trade.values["bucket"] == keys.market_bucket(taker_ts)


def test_project_maker_without_creation_time_falls_back_and_says_so() -> None:
    """An unknown maker creation time is reported (the service logs it) and the update time is used."""
    maker = OutputMaker()
    maker.place(order_id=1, user_id=1001, side=common_pb2.SIDE_SELL, price_units=PRICE, qty_units=2 * LOT)
    output = maker.place(order_id=2, user_id=1002, side=common_pb2.SIDE_BUY, price_units=PRICE, qty_units=LOT,
                         ts_ns=TS_BASE_NS + 9)
    projected = project_output(output, markets=MARKETS, created_ns={})
    assert projected.created_unknown == [1]
    assert projected.created[1] == TS_BASE_NS + 9  # still open (partially filled)


def test_project_output_twice_gives_equal_rows_and_later_seq_has_higher_timestamps() -> None:
    """Determinism, and timestamps that order a later output's rows above an earlier one's."""
    maker = OutputMaker()
    first = maker.place(order_id=1, user_id=1001, side=common_pb2.SIDE_BUY, price_units=PRICE, qty_units=LOT)
    second = maker.cancel(order_id=1, user_id=1001, ts_ns=TS_BASE_NS + 1)
    assert project_output(first, markets=MARKETS, created_ns={}).rows == project_output(
        first, markets=MARKETS, created_ns={}).rows
    [new] = rows_of(project_output(first, markets=MARKETS, created_ns={}).rows, "orders")
    canceled_rows = project_output(second, markets=MARKETS, created_ns={1: TS_BASE_NS}).rows
    [canceled] = rows_of(canceled_rows, "orders")
    assert canceled.values["status"] == common_pb2.ORDER_STATUS_CANCELED
    assert canceled.timestamp > new.timestamp
    assert "post_only" not in canceled.values  # only the placing output knows it; the cancel leaves it alone
    [open_delete] = rows_of(canceled_rows, "open_orders")
    assert open_delete.delete
    assert open_delete.timestamp > new.timestamp


def deposit(event_id: int, *, version: int, amount: int, request_id: str = "r1") -> balance_pb2.BalanceEvent:
    return balance_pb2.BalanceEvent(
        event_id=event_id, user_id=1001, asset_id=USDT, type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED,
        delta_available_units=amount, available_units=amount * version, version=version, request_id=request_id,
        ts_event_ns=TS_BASE_NS, operation=balance_pb2.BALANCE_OPERATION_TRANSFER_IN,
    )


def test_project_deposit_writes_ledger_balance_and_completed_transfer() -> None:
    """A deposit: both ledger tables keyed by event id, the balance at its version, a COMPLETED transfer."""
    rows = project_balance_event(deposit(1500, version=2, amount=7))
    [ledger] = rows_of(rows, "balance_ledger")
    assert (ledger.values["event_block"], ledger.values["event_id"], ledger.timestamp) == (1, 1500, 1500)
    [by_user] = rows_of(rows, "ledger_by_user")
    assert by_user.values["bucket"] == keys.user_bucket(TS_BASE_NS)
    [balance] = rows_of(rows, "user_balances")
    assert (balance.values["available_units"], balance.values["version"], balance.timestamp) == (14, 2, 2)
    [transfer] = rows_of(rows, "transfers")
    assert transfer.values["status"] == account_service_pb2.TRANSFER_STATUS_COMPLETED
    assert transfer.values["direction"] == account_service_pb2.TRANSFER_DIRECTION_IN
    assert transfer.values["amount_units"] == 7


def test_a_transfer_completes_when_ubscore_emitted_its_outcome_never_before_the_request() -> None:
    """completed_ns is the event's Kafka timestamp (UBSCore's time); created_ns the gateway's time of the request."""
    [transfer] = rows_of(project_balance_event(deposit(1500, version=2, amount=7), emitted_ns=TS_BASE_NS + 3_000_000),
                         "transfers")  # fmt: skip
    assert (transfer.values["created_ns"], transfer.values["completed_ns"]) == (TS_BASE_NS, TS_BASE_NS + 3_000_000)
    for emitted_ns in (0, TS_BASE_NS - 400_000):  # unknown, or a millisecond stamp just below the request's time
        [transfer] = rows_of(project_balance_event(deposit(1500, version=2, amount=7), emitted_ns=emitted_ns),
                             "transfers")  # fmt: skip
        assert transfer.values["completed_ns"] == TS_BASE_NS


def test_project_refused_withdrawal_writes_no_balance_and_a_rejected_transfer() -> None:
    """A refusal (version 0) is in the ledger and the transfer table, never in user_balances."""
    event = balance_pb2.BalanceEvent(
        event_id=9, user_id=1001, asset_id=USDT, type=balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED,
        request_id="w1", reject_reason=common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, ts_event_ns=TS_BASE_NS,
        operation=balance_pb2.BALANCE_OPERATION_TRANSFER_OUT, requested_amount_units=250,
    )
    rows = project_balance_event(event)
    assert rows_of(rows, "user_balances") == []
    [transfer] = rows_of(rows, "transfers")
    assert transfer.values["status"] == account_service_pb2.TRANSFER_STATUS_REJECTED
    assert transfer.values["direction"] == account_service_pb2.TRANSFER_DIRECTION_OUT
    assert transfer.values["reason"] == common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS
    assert transfer.values["amount_units"] == 250  # what was asked for, though nothing moved


def test_project_refused_order_is_kept_under_user_and_client_order_id() -> None:
    """ORDER_REJECTED (order id 0): order_history by (user, client order id) and the user's list by time."""
    request = ubscore_pb2.OrderRequest(
        user_id=1001, client_order_id="mine-1", symbol="BTC_USDT", side=common_pb2.SIDE_BUY,
        order_type=common_pb2.ORDER_TYPE_LIMIT, price_units=PRICE, qty_units=LOT, ts_event_ns=TS_BASE_NS - 5,
    )
    event = balance_pb2.BalanceEvent(
        event_id=12, user_id=1001, asset_id=USDT, type=balance_pb2.BALANCE_EVENT_TYPE_ORDER_REJECTED,
        reject_reason=common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, ts_event_ns=TS_BASE_NS, client_order_id="mine-1",
        symbol="BTC_USDT", order=request,
    )
    rows = project_balance_event(event)
    [history] = rows_of(rows, "order_history")
    assert (history.values["client_order_id"], history.values["source"], history.values["position"]) == (
        "mine-1", "ubscore", 12)
    assert history.values["latest_order_id"] == 0
    assert history.values["latest_status"] == common_pb2.ORDER_STATUS_REJECTED
    [by_time] = rows_of(rows, "orders_by_user_time")
    assert (by_time.values["order_id"], by_time.values["created_ns"]) == (0, TS_BASE_NS - 5)
    assert rows_of(rows, "user_balances") == []
