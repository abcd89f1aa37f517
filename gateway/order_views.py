"""The matcher's integer-unit records (OrderUpdate, Trade) as public messages (Order, Fill) with decimal strings."""

from __future__ import annotations

from common.markets import Market
from common.money import average_price_units, format_units
from exchange.v1 import common_pb2, engine_pb2, trading_service_pb2


def order_view(
    update: engine_pb2.OrderUpdate, market: Market, *, post_only: bool, self_trade_mode: int, quote_budget_units: int
) -> trading_service_pb2.Order:
    """An Order from the matcher's update; what it lacks (post-only, STP mode, budget) comes from the request."""
    is_market = update.order_type == common_pb2.ORDER_TYPE_MARKET
    by_budget = is_market and update.side == common_pb2.SIDE_BUY
    return trading_service_pb2.Order(
        order_id=update.order_id, client_order_id=update.client_order_id, symbol=update.symbol, side=update.side,
        order_type=update.order_type, time_in_force=update.time_in_force, post_only=post_only, status=update.status,
        price="" if is_market else format_units(update.price_units, market.quote_scale),
        quantity="" if by_budget else format_units(update.qty_units, market.base_scale),
        quote_quantity=format_units(quote_budget_units, market.quote_scale) if by_budget else "",
        filled_quantity=format_units(update.filled_qty_units, market.base_scale),
        filled_quote_quantity=format_units(update.filled_quote_units, market.quote_scale),
        remaining_quantity=format_units(update.remaining_qty_units, market.base_scale),
        reason=update.reason, created_ns=update.ts_event_ns, updated_ns=update.ts_event_ns,
        self_trade_mode=self_trade_mode,
        average_price=average_price(update.filled_quote_units, update.filled_qty_units, market),
    )


def average_price(filled_quote_units: int, filled_qty_units: int, market: Market) -> str:
    """An order's average fill price as a decimal string at the quote asset's scale; "" while nothing is filled."""
    if filled_qty_units == 0:
        return ""
    price_units = average_price_units(filled_quote_units, filled_qty_units, market.base_scale)
    return format_units(price_units, market.quote_scale)


def fill_view(
    trade: engine_pb2.Trade, market: Market, *, order_id: int, client_order_id: str
) -> trading_service_pb2.Fill:
    """The Fill of `order_id`'s side of a trade: its side, its fee on the asset it received."""
    is_maker = trade.maker_order_id == order_id
    assert is_maker or trade.taker_order_id == order_id, (trade.trade_id, order_id)
    taker_buys = trade.taker_side == common_pb2.SIDE_BUY
    buys = taker_buys != is_maker  # the maker is on the other side of the taker
    fee = trade.maker_fee_units if is_maker else trade.taker_fee_units
    fee_asset, fee_scale = (market.base_asset, market.base_scale) if buys else (market.quote_asset, market.quote_scale)
    return trading_service_pb2.Fill(
        trade_id=trade.trade_id, order_id=order_id, symbol=trade.symbol,
        side=common_pb2.SIDE_BUY if buys else common_pb2.SIDE_SELL,
        price=format_units(trade.price_units, market.quote_scale),
        quantity=format_units(trade.qty_units, market.base_scale),
        quote_quantity=format_units(trade.quote_qty_units, market.quote_scale), fee=format_units(fee, fee_scale),
        fee_asset=fee_asset, is_maker=is_maker, ts_event_ns=trade.ts_event_ns, client_order_id=client_order_id,
    )
