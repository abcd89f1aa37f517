"""settlement/shadow.py: a turn's earlier writes of a row that later writes cover are not sent; nothing else is."""

from __future__ import annotations

from settlement.cql import ROW_KEYS
from settlement.rows import Row
from settlement.shadow import drop_shadowed


def _balance(version: int, available: int) -> Row:
    return Row("user_balances", {"user_id": 7, "asset_id": 1, "available_units": available, "frozen_units": 0,
                                 "version": version}, version)


def _open(order_id: int, stamp: int, *, delete: bool = False) -> Row:
    key = {"user_id": 7, "symbol": "BTC_USDT", "order_id": order_id}
    return Row("open_orders", key if delete else {**key, "status": 1, "price_units": 5}, stamp, delete=delete)


def test_drop_shadowed_balances_of_one_user_asset_keeps_only_the_latest_version() -> None:
    rows = [_balance(1, 10), _balance(3, 30), _balance(2, 20)]

    kept = drop_shadowed(rows, ROW_KEYS)

    assert kept == [_balance(3, 30)]


def test_drop_shadowed_insert_then_delete_of_an_open_order_keeps_the_delete_only() -> None:
    rows = [_open(5, 100), _open(6, 101), _open(5, 102, delete=True)]

    kept = drop_shadowed(rows, ROW_KEYS)

    assert kept == [_open(6, 101), _open(5, 102, delete=True)]


def test_drop_shadowed_delete_then_insert_keeps_both() -> None:
    rows = [_open(5, 100, delete=True), _open(5, 102)]

    assert drop_shadowed(rows, ROW_KEYS) == rows


def test_drop_shadowed_full_order_row_is_kept_when_a_later_update_writes_fewer_columns() -> None:
    full = Row("orders", {"order_block": 0, "order_id": 9, "user_id": 7, "status": 1, "filled_qty_units": 0}, 10)
    fill = Row("orders", {"order_block": 0, "order_id": 9, "status": 2, "filled_qty_units": 5}, 20)
    later_fill = Row("orders", {"order_block": 0, "order_id": 9, "status": 3, "filled_qty_units": 9}, 30)

    kept = drop_shadowed([full, fill, later_fill], ROW_KEYS)

    assert kept == [full, later_fill]


def test_drop_shadowed_rows_of_equal_timestamp_are_all_kept() -> None:
    rows = [_balance(4, 10), _balance(4, 11)]

    assert drop_shadowed(rows, ROW_KEYS) == rows


def test_drop_shadowed_leaves_tables_without_row_keys_alone() -> None:
    trade = Row("settled_trades", {"trade_block": 0, "trade_id": 1, "qty_units": 3}, 5)

    assert drop_shadowed([trade, trade], ROW_KEYS) == [trade, trade]
