"""Settlement's rows (settlement/queries.py: integer units, enums as ints) as public messages with decimal strings.

Columns a table lacks, and CQL nulls, read as 0 / "" / False: `open_orders` has no post-only flag, STP mode or
reason, for example. An order row whose market is not in the catalog (it could only be a refusal) carries no
amounts, since their scale is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.markets import Market, MarketCatalog
from common.money import format_units
from exchange.v1 import account_service_pb2, common_pb2, market_data_service_pb2, trading_service_pb2
from gateway.order_views import average_price

Row = Mapping[str, Any]


def _int(row: Row, name: str) -> int:
    value = row.get(name)
    return 0 if value is None else int(value)


def order_from_row(row: Row, catalog: MarketCatalog) -> trading_service_pb2.Order:
    """An Order from a row of `orders`, `orders_by_user_time`, `open_orders` or get_order_by_client_id."""
    symbol = row.get("symbol") or ""
    order = trading_service_pb2.Order(
        order_id=_int(row, "order_id"), client_order_id=row.get("client_order_id") or "", symbol=symbol,
        side=_int(row, "side"), order_type=_int(row, "order_type"), time_in_force=_int(row, "time_in_force"),
        post_only=bool(row.get("post_only")), status=_int(row, "status"), reason=_int(row, "reason"),
        created_ns=_int(row, "created_ns"), updated_ns=_int(row, "updated_ns"),
        self_trade_mode=_int(row, "self_trade_mode"),
    )
    market = catalog.markets.get(symbol)
    if market is not None:
        _order_amounts(order, row, market)
    return order


def _order_amounts(order: trading_service_pb2.Order, row: Row, market: Market) -> None:
    is_market = order.order_type == common_pb2.ORDER_TYPE_MARKET
    by_budget = is_market and order.side == common_pb2.SIDE_BUY
    base, quote = market.base_scale, market.quote_scale
    order.price = "" if is_market else format_units(_int(row, "price_units"), quote)
    order.quantity = "" if by_budget else format_units(_int(row, "qty_units"), base)
    order.quote_quantity = format_units(_int(row, "quote_budget_units"), quote) if by_budget else ""
    order.filled_quantity = format_units(_int(row, "filled_qty_units"), base)
    order.filled_quote_quantity = format_units(_int(row, "filled_quote_units"), quote)
    order.remaining_quantity = format_units(_int(row, "remaining_qty_units"), base)
    order.average_price = average_price(_int(row, "filled_quote_units"), _int(row, "filled_qty_units"), market)


def fill_from_row(row: Row, catalog: MarketCatalog) -> trading_service_pb2.Fill:
    """A Fill from a row of `trades_by_user` (one side of a trade)."""
    market = catalog.markets[row["symbol"]]
    fee_asset = catalog.asset_by_id(_int(row, "fee_asset_id"))
    return trading_service_pb2.Fill(
        trade_id=_int(row, "trade_id"), order_id=_int(row, "order_id"), symbol=market.symbol, side=_int(row, "side"),
        price=format_units(_int(row, "price_units"), market.quote_scale),
        quantity=format_units(_int(row, "qty_units"), market.base_scale),
        quote_quantity=format_units(_int(row, "quote_qty_units"), market.quote_scale),
        fee=format_units(_int(row, "fee_units"), fee_asset.scale), fee_asset=fee_asset.name,
        is_maker=bool(row.get("is_maker")), ts_event_ns=_int(row, "ts_event_ns"),
        client_order_id=row.get("client_order_id") or "",
    )


def balance_from_row(row: Row, catalog: MarketCatalog) -> account_service_pb2.Balance:
    """A Balance from a row of `user_balances`."""
    asset = catalog.asset_by_id(_int(row, "asset_id"))
    return account_service_pb2.Balance(
        asset=asset.name, available=format_units(_int(row, "available_units"), asset.scale),
        frozen=format_units(_int(row, "frozen_units"), asset.scale), version=_int(row, "version"),
    )


def transfer_from_row(row: Row, catalog: MarketCatalog) -> account_service_pb2.Transfer:
    """A Transfer from a row of `transfers` (written when UBSCore applied or refused it)."""
    asset = catalog.asset_by_id(_int(row, "asset_id"))
    return account_service_pb2.Transfer(
        request_id=row["request_id"], user_id=_int(row, "user_id"), asset=asset.name,
        amount=format_units(_int(row, "amount_units"), asset.scale), direction=_int(row, "direction"),
        status=_int(row, "status"), reason=_int(row, "reason"), created_ns=_int(row, "created_ns"),
        completed_ns=_int(row, "completed_ns"),
    )


def ledger_entry_from_row(row: Row, catalog: MarketCatalog) -> account_service_pb2.LedgerEntry:
    """A LedgerEntry from a row of `ledger_by_user`."""
    asset = catalog.asset_by_id(_int(row, "asset_id"))
    scale = asset.scale
    return account_service_pb2.LedgerEntry(
        event_id=_int(row, "event_id"), asset=asset.name, type=_int(row, "type"),
        delta_available=format_units(_int(row, "delta_available_units"), scale),
        delta_frozen=format_units(_int(row, "delta_frozen_units"), scale),
        available=format_units(_int(row, "available_units"), scale),
        frozen=format_units(_int(row, "frozen_units"), scale), order_id=_int(row, "order_id"),
        trade_id=_int(row, "trade_id"), request_id=row.get("request_id") or "", ts_event_ns=_int(row, "ts_event_ns"),
        version=_int(row, "version"), unlock_cause=_int(row, "unlock_cause"),
        reject_reason=_int(row, "reject_reason"), client_order_id=row.get("client_order_id") or "",
        symbol=row.get("symbol") or "",
    )


def public_trade_from_row(row: Row, market: Market) -> market_data_service_pb2.PublicTrade:
    """A PublicTrade from a row of `market_trades`."""
    return market_data_service_pb2.PublicTrade(
        trade_id=_int(row, "trade_id"), symbol=market.symbol,
        price=format_units(_int(row, "price_units"), market.quote_scale),
        quantity=format_units(_int(row, "qty_units"), market.base_scale), taker_side=_int(row, "taker_side"),
        ts_event_ns=_int(row, "ts_event_ns"),
    )
