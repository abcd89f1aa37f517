"""Engine records become public Orders and Fills: each party's side, fee asset and decimals are right."""

from __future__ import annotations

from common.markets import load_catalog
from exchange.v1 import common_pb2, engine_pb2
from gateway.order_views import fill_view, order_view

BTC_USDT = load_catalog().markets["BTC_USDT"]
TRADE = engine_pb2.Trade(
    trade_id=7, symbol="BTC_USDT", price_units=45_000_000_000, qty_units=50_000_000, quote_qty_units=22_500_000_000,
    maker_order_id=1, maker_user_id=1061, taker_order_id=2, taker_user_id=1060, taker_side=common_pb2.SIDE_BUY,
    maker_fee_units=22_500_000, taker_fee_units=100_000, ts_event_ns=5,
)


def test_taker_buyer_pays_fee_in_base_and_maker_seller_in_quote() -> None:
    """The buyer receives BTC (fee in BTC), the seller USDT (fee in USDT); each sees its own side."""
    taker = fill_view(TRADE, BTC_USDT, order_id=2, client_order_id="alice-1")
    assert (taker.side, taker.is_maker, taker.fee, taker.fee_asset) == (common_pb2.SIDE_BUY, False, "0.00100000", "BTC")
    maker = fill_view(TRADE, BTC_USDT, order_id=1, client_order_id="bob-1")
    assert (maker.side, maker.is_maker, maker.fee, maker.fee_asset) == (common_pb2.SIDE_SELL, True, "22.500000", "USDT")
    assert (maker.price, maker.quantity, maker.quote_quantity) == ("45000.000000", "0.50000000", "22500.000000")


def test_market_buy_order_shows_its_budget_and_no_price_or_quantity() -> None:
    """A market buy by budget: price and quantity empty, quote_quantity the budget."""
    update = engine_pb2.OrderUpdate(
        order_id=3, symbol="BTC_USDT", side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_MARKET,
        status=common_pb2.ORDER_STATUS_FILLED, filled_qty_units=10_000, filled_quote_units=4_500_000,
    )
    order = order_view(update, BTC_USDT, post_only=False, self_trade_mode=1, quote_budget_units=4_500_000)
    assert (order.price, order.quantity, order.quote_quantity) == ("", "", "4.500000")
    assert (order.filled_quantity, order.filled_quote_quantity) == ("0.00010000", "4.500000")
    assert order.average_price == "45000.000000"
    unfilled = order_view(engine_pb2.OrderUpdate(order_id=4, symbol="BTC_USDT", price_units=1_000_000, qty_units=1),
                          BTC_USDT, post_only=False, self_trade_mode=1, quote_budget_units=0)  # fmt: skip
    assert unfilled.average_price == ""  # nothing filled: no average
