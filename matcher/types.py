"""Enums of the matching core, with stable numbers that exchange.v1 (proto) mirrors value for value.

Every enum keeps 0 = UNSPECIFIED, as buf STANDARD wants; proto names add the type prefix
(`Side.BUY` is `SIDE_BUY = 1`, `OrderStatus.NEW` is `ORDER_STATUS_NEW = 1`). A number is never renumbered and
never reused. Reject reasons owned by the matcher live in the 3xxx range (exchange-core's convention: one range
per subsystem). Names match proto's `REJECT_REASON_<NAME>` (the MATCHER_ prefix avoids clashing with the
gateway's 1xxx reasons of the same meaning).
"""

from __future__ import annotations

import enum


class Side(enum.IntEnum):
    """Which side of the book an order is on."""

    UNSPECIFIED = 0
    BUY = 1
    SELL = 2


class OrderType(enum.IntEnum):
    """LIMIT rests or crosses up to its price; MARKET crosses at any price and never rests."""

    UNSPECIFIED = 0
    LIMIT = 1
    MARKET = 2


class TimeInForce(enum.IntEnum):
    """How long a LIMIT order's unfilled remainder lives. Ignored for MARKET orders (they behave as IOC)."""

    UNSPECIFIED = 0
    GTC = 1  # good till canceled: the remainder rests
    IOC = 2  # immediate or cancel: the remainder expires
    FOK = 3  # fill or kill: all of it fills now, or nothing happens and the order expires


class OrderStatus(enum.IntEnum):
    """An order's state after a command.

    REJECTED: refused before any matching (invalid, unknown market, post-only that would take).
    EXPIRED: accepted, then ended with an unfilled remainder that may not rest (IOC, FOK, MARKET,
    self-trade prevention). CANCELED: removed from the book by a cancel command.
    """

    UNSPECIFIED = 0
    NEW = 1
    PARTIALLY_FILLED = 2
    FILLED = 3
    CANCELED = 4
    REJECTED = 5
    EXPIRED = 6


class SelfTradeMode(enum.IntEnum):
    """What happens when a taker would trade with a resting order of the same user (Binance's STP modes).

    The taker's mode decides. UNSPECIFIED behaves as EXPIRE_TAKER, the default.
    """

    UNSPECIFIED = 0
    EXPIRE_TAKER = 1  # the taker's remainder expires; the maker stays
    EXPIRE_MAKER = 2  # the maker expires; the taker goes on matching
    EXPIRE_BOTH = 3  # both expire


class RejectReason(enum.IntEnum):
    """Why an order or cancel was refused or ended early. Matcher range: 3xxx."""

    UNSPECIFIED = 0
    UNKNOWN_ORDER = 3001  # cancel: no resting order with that id (never seen, other user, filled or gone)
    POST_ONLY_WOULD_TAKE = 3002  # post-only order would cross the book: REJECTED
    FOK_NOT_FILLABLE = 3003  # FOK order cannot fill completely now: EXPIRED, nothing traded
    DUPLICATE_ORDER_ID = 3004  # order id not above the last one this book saw: ignored (PlaceRejected)
    MATCHER_UNKNOWN_MARKET = 3005  # symbol not served by this engine
    SELF_TRADE_PREVENTED = 3006  # order expired by self-trade prevention
    NO_LIQUIDITY = 3007  # MARKET order found nothing (more) it could trade with: EXPIRED
    MATCHER_INVALID_ORDER = 3008  # not on tick/lot, non-positive, or an impossible combination of fields
    IOC_NOT_FILLED = 3009  # the unfilled rest of an IOC limit order expired
    DUPLICATE_CLIENT_ORDER_ID = 3010  # the user already has a resting order with this client order id: REJECTED
