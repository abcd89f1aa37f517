"""The matcher's input checks that come before any change, shared by both books and the engine.

A PlaceOrder is checked in this order, and the first failure decides (rules: matcher/README.md "Input checks"):
1. order id: 0 -> PlaceRejected(MATCHER_INVALID_FIELD) (no order to give an outcome to); at or below the last id
   the book saw -> PlaceRejected(DUPLICATE_ORDER_ID). Neither changes anything, not even the last id seen.
2. fields (`field_reason`): an enum number the matcher does not know (side, type, time in force, self-trade
   mode), user 0 -> REJECTED(MATCHER_INVALID_FIELD). An empty symbol never reaches a book (the engine refuses it).
3. shape (`book_reference.invalid_reason`): off tick or lot, non-positive, impossible combination ->
   REJECTED(MATCHER_INVALID_ORDER).
4. range (`range_reason`): price, quantity or budget above the market's maxima -> REJECTED(MATCHER_OUT_OF_RANGE).
   The maxima are below int64 (common/markets.py), so this also refuses anything that does not fit int64.
From 2 on the order id is consumed: a redelivery of a refused order is a duplicate and gets no second outcome.
"""

from __future__ import annotations

from common.enums import OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from common.markets import Market
from matcher.commands import CancelOrder, PlaceOrder

KNOWN_SIDES = frozenset(Side)
KNOWN_ORDER_TYPES = frozenset(OrderType)
KNOWN_TIMES_IN_FORCE = frozenset(TimeInForce)
KNOWN_SELF_TRADE_MODES = frozenset(SelfTradeMode)
NO_REASON = RejectReason.UNSPECIFIED


def field_reason(cmd: PlaceOrder) -> RejectReason:
    """MATCHER_INVALID_FIELD if an enum is a number the matcher does not know or the user is 0, else UNSPECIFIED."""
    known = (
        cmd.side in KNOWN_SIDES
        and cmd.order_type in KNOWN_ORDER_TYPES
        and cmd.time_in_force in KNOWN_TIMES_IN_FORCE
        and cmd.self_trade_mode in KNOWN_SELF_TRADE_MODES
    )
    if not known or cmd.user_id <= 0 or not cmd.symbol:
        return RejectReason.MATCHER_INVALID_FIELD
    return NO_REASON


def range_reason(cmd: PlaceOrder, market: Market) -> RejectReason:
    """MATCHER_OUT_OF_RANGE if the order's price, quantity or budget is above the market's maxima.

    Called on a well-shaped order only. With every resting price at most max_price and every order's quantity
    (a market buy's included: it stops at max_qty) at most max_qty, no fill total of one order can exceed
    max_notional_units, which config load keeps well inside int64.
    """
    if cmd.order_type == OrderType.MARKET and cmd.side == Side.BUY:
        ok = cmd.quote_budget_units <= market.max_notional_units
    else:
        ok = cmd.price_units <= market.max_price_units and cmd.qty_units <= market.max_qty_units
    return NO_REASON if ok else RejectReason.MATCHER_OUT_OF_RANGE


def cancel_field_reason(cmd: CancelOrder) -> RejectReason:
    """MATCHER_INVALID_FIELD if the cancel has no symbol, user 0, or names no order at all, else UNSPECIFIED."""
    if not cmd.symbol or cmd.user_id <= 0 or (cmd.order_id <= 0 and not cmd.client_order_id):
        return RejectReason.MATCHER_INVALID_FIELD
    return NO_REASON
