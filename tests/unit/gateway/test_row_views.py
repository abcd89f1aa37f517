"""Settlement rows become public messages: decimal strings at each asset's scale, signed ledger deltas, absent
columns and CQL nulls as defaults, market buys by budget, and no amounts for a market the catalog lacks."""

from __future__ import annotations

from common.markets import load_catalog
from exchange.v1 import account_service_pb2, balance_pb2, common_pb2
from gateway.row_views import balance_from_row, ledger_entry_from_row, order_from_row, transfer_from_row

CATALOG = load_catalog()


def test_limit_order_row_has_price_and_quantities_at_market_scales() -> None:
    """An `orders` row of a limit sell: price at the quote scale, quantities at the base scale."""
    order = order_from_row({
        "order_id": 9, "client_order_id": "c9", "symbol": "BTC_USDT", "side": common_pb2.SIDE_SELL,
        "order_type": common_pb2.ORDER_TYPE_LIMIT, "time_in_force": common_pb2.TIME_IN_FORCE_GTC, "post_only": True,
        "price_units": 45_000_000_000, "qty_units": 50_000_000, "filled_qty_units": 10_000_000,
        "filled_quote_units": 4_500_000_000, "remaining_qty_units": 40_000_000, "status": 2, "created_ns": 5,
        "updated_ns": 6,
    }, CATALOG)
    assert (order.price, order.quantity, order.quote_quantity, order.filled_quantity, order.filled_quote_quantity,
            order.remaining_quantity, order.post_only) == (
        "45000.000000", "0.50000000", "", "0.10000000", "4500.000000", "0.40000000", True)
    assert order.average_price == "45000.000000"


def test_market_buy_row_shows_its_budget_and_open_orders_row_lacks_columns() -> None:
    """A market buy shows its budget, not a price or quantity; an `open_orders` row (no post_only, reason,
    budget columns) and CQL nulls read as defaults."""
    market_buy = order_from_row({
        "order_id": 3, "symbol": "BTC_USDT", "side": common_pb2.SIDE_BUY, "order_type": common_pb2.ORDER_TYPE_MARKET,
        "quote_budget_units": 1_000_000_000, "filled_qty_units": None, "status": 3,
    }, CATALOG)
    assert (market_buy.price, market_buy.quantity, market_buy.quote_quantity, market_buy.filled_quantity) == (
        "", "", "1000.000000", "0.00000000")
    assert market_buy.average_price == ""  # nothing filled
    assert (market_buy.post_only, market_buy.reason, market_buy.client_order_id) == (False, 0, "")


def test_refused_order_of_an_unknown_market_carries_no_amounts() -> None:
    """A refused order naming a market this gateway does not know: ids and status, no amounts (no scale)."""
    refused = order_from_row({"order_id": 0, "client_order_id": "x", "symbol": "DOGE_USDT", "status": 5,
                              "reason": common_pb2.REJECT_REASON_UBSCORE_UNKNOWN_MARKET, "price_units": 7}, CATALOG)
    assert (refused.symbol, refused.status, refused.price, refused.quantity) == ("DOGE_USDT", 5, "", "")


def test_ledger_deltas_are_signed_and_balances_and_transfers_use_the_asset_scale() -> None:
    """A lock: available down (negative delta), frozen up; a balance and a transfer at the asset's scale."""
    entry = ledger_entry_from_row({
        "event_id": 4, "asset_id": 2, "type": balance_pb2.BALANCE_EVENT_TYPE_FUNDS_LOCKED,
        "delta_available_units": -22_500_000_000, "delta_frozen_units": 22_500_000_000,
        "available_units": 77_500_000_000, "frozen_units": 22_500_000_000, "version": 2, "request_id": None,
    }, CATALOG)
    assert (entry.asset, entry.delta_available, entry.delta_frozen, entry.available, entry.request_id) == (
        "USDT", "-22500.000000", "22500.000000", "77500.000000", "")
    balance = balance_from_row({"asset_id": 1, "available_units": 49_900_000, "frozen_units": 0, "version": 3},
                               CATALOG)
    assert (balance.asset, balance.available, balance.frozen, balance.version) == ("BTC", "0.49900000",
                                                                                   "0.00000000", 3)
    transfer = transfer_from_row({"request_id": "d1", "user_id": 1001, "asset_id": 3, "amount_units": 150_000_000,
                                  "direction": account_service_pb2.TRANSFER_DIRECTION_IN,
                                  "status": account_service_pb2.TRANSFER_STATUS_COMPLETED}, CATALOG)
    assert (transfer.asset, transfer.amount, transfer.completed_ns) == ("ETH", "1.50000000", 0)
