"""Events the matching core emits, named in the past tense; the codec maps them to exchange.v1 protobuf.

Events are `typing.NamedTuple`s rather than frozen slotted dataclasses on purpose: they are built on the hot
path (several per command) and a frozen dataclass costs ~4.2 us to build on the CI machine against ~0.6 us for
a NamedTuple (measured with 16 fields); they are just as immutable and compare by value. The two rejections are
the exception: they are rare, and keyword-only construction matters more there (see CancelRejected).

Money conventions (see DESIGN.md "Money"): all `..._units` are ints of smallest units; `price_units` is quote
units per whole base unit. Fees are charged on the asset each side receives, rounded up: the buyer's fee is in
base units, the seller's in quote units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from common.enums import OrderStatus, OrderType, RejectReason, Side, TimeInForce


class OrderUpdated(NamedTuple):
    """State of one order after a command; every order a command touches (taker and makers) gets one.

    `filled_qty_units`/`filled_quote_units` are cumulative over the order's life (average price =
    filled_quote_units * 10**base_scale / filled_qty_units). `price_units` is the order's limit price (0 for
    MARKET), so UBSCore can release a buyer's price improvement: frozen notional(price, filled_qty) minus
    filled_quote. `remaining_qty_units` is what is still open (0 once terminal or for a MARKET buy);
    `remaining_quote_units` is the unspent budget of a MARKET buy (0 otherwise). `reason` says why an order was
    REJECTED or EXPIRED (UNSPECIFIED for fills and cancels).
    """

    symbol: str
    order_id: int
    user_id: int
    client_order_id: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price_units: int
    qty_units: int
    status: OrderStatus
    filled_qty_units: int
    filled_quote_units: int
    remaining_qty_units: int
    remaining_quote_units: int
    reason: RejectReason
    ts_event_ns: int


class TradeExecuted(NamedTuple):
    """One fill between a resting maker and an incoming taker, at the maker's price.

    `trade_id` = (market_id << 40) | per-market sequence from 1: deterministic, unique across markets and
    shards, and stored in the book's snapshot. `quote_qty_units` = price * qty / 10**base_scale (exact).
    """

    symbol: str
    trade_id: int
    price_units: int
    qty_units: int
    quote_qty_units: int
    maker_order_id: int
    taker_order_id: int
    maker_user_id: int
    taker_user_id: int
    maker_side: Side
    taker_side: Side
    maker_fee_units: int
    taker_fee_units: int
    ts_event_ns: int


class BookLevelChanged(NamedTuple):
    """New aggregate resting quantity at one price level after a command; `qty_units` 0 means the level is gone.

    One per level touched by the command: first the levels on the side the taker matched against, best price
    first, then the level where the order rested (or, for a cancel, the level it left).
    """

    side: Side
    price_units: int
    qty_units: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRejected:
    """A cancel that changed nothing: no resting order of that user with that id, an unknown market, or a field
    the matcher cannot read (MATCHER_INVALID_FIELD: empty symbol, user 0, neither order id nor client order id).

    Rejections are rare, so they are keyword-only dataclasses (not NamedTuples): both rejection types share the same
    field names in the same order, and no call site can swap `order_id` and `user_id`.
    """

    symbol: str
    order_id: int
    user_id: int
    client_order_id: str
    reason: RejectReason
    ts_event_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceRejected:
    """A PlaceOrder that changed nothing and has no outcome of its own: its `order_id` was already seen (a
    redelivery: DUPLICATE_ORDER_ID) or is 0 (MATCHER_INVALID_FIELD: there is no order to give an outcome to).

    The earlier outcome stands, so consumers must NOT release funds on this event (unlike an OrderUpdated with
    status REJECTED, which is terminal for a new order). Same fields, same order as CancelRejected.
    """

    symbol: str
    order_id: int
    user_id: int
    client_order_id: str
    reason: RejectReason
    ts_event_ns: int


class EngineResult(NamedTuple):
    """Everything one command produced, each list in a deterministic order.

    `order_updates`: the command's own order first, then makers in the order they were touched. `trades`: in
    execution order. `book_changes`: see BookLevelChanged. `rejections`: CancelRejected / PlaceRejected.
    """

    symbol: str
    order_updates: list[OrderUpdated]
    trades: list[TradeExecuted]
    book_changes: list[BookLevelChanged]
    rejections: list[CancelRejected | PlaceRejected]
