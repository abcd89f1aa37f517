"""Python mirrors of the exchange.v1 enums (proto is the source of truth), shared by every service.

Every enum keeps 0 = UNSPECIFIED, as buf STANDARD wants; proto names add the type prefix
(`Side.BUY` is `SIDE_BUY = 1`, `OrderStatus.NEW` is `ORDER_STATUS_NEW = 1`). A number is never renumbered and
never reused. Reject reasons have one range per owner (exchange-core's convention): 1xxx gateway, 2xxx UBSCore,
3xxx matcher; names match proto's `REJECT_REASON_<NAME>` (the UBSCORE_/MATCHER_ prefixes avoid clashing with the
gateway's reasons of the same meaning). tests/contracts/test_enum_mirrors.py compares every name and number with
the generated descriptors, both ways.
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
    """Why a request was refused or an order ended early: 1xxx gateway, 2xxx UBSCore, 3xxx matcher."""

    UNSPECIFIED = 0
    UNAUTHENTICATED = 1001
    PERMISSION_DENIED = 1002
    RATE_LIMITED = 1003
    INVALID_AMOUNT = 1004
    INVALID_PRICE = 1005
    INVALID_QUANTITY = 1006
    BELOW_MIN_NOTIONAL = 1007
    UNKNOWN_MARKET = 1008
    UNKNOWN_ASSET = 1009
    INVALID_ORDER = 1010
    MISSING_FIELD = 1011
    INVALID_REQUEST = 1012
    NOT_FOUND = 1013
    SERVICE_UNAVAILABLE = 1014
    TIMEOUT = 1015
    INSUFFICIENT_FUNDS = 2001
    BALANCE_OVERFLOW = 2002
    ORDER_NOT_OPEN = 2003
    DUPLICATE_REQUEST = 2004
    UBSCORE_UNKNOWN_MARKET = 2005
    UBSCORE_INVALID_ORDER = 2006
    UBSCORE_PRICE_OFF_TICK = 2007
    UBSCORE_PRICE_OUT_OF_RANGE = 2008
    UBSCORE_QUANTITY_OFF_LOT = 2009
    UBSCORE_QUANTITY_OUT_OF_RANGE = 2010
    UBSCORE_BELOW_MIN_NOTIONAL = 2011
    UBSCORE_BUDGET_OUT_OF_RANGE = 2012
    UBSCORE_BUSY = 2013
    UBSCORE_UNKNOWN_ASSET = 2014
    UBSCORE_INVALID_AMOUNT = 2015
    UBSCORE_DEADLINE_EXCEEDED = 2016
    UBSCORE_MISSING_FIELD = 2017
    UNKNOWN_ORDER = 3001  # cancel: no resting order with that id (never seen, other user, filled or gone)
    POST_ONLY_WOULD_TAKE = 3002  # post-only order would cross the book: REJECTED
    FOK_NOT_FILLABLE = 3003  # FOK order cannot fill completely now: EXPIRED, nothing traded
    DUPLICATE_ORDER_ID = 3004  # order id not above the last one this book saw: ignored (PlaceRejected)
    MATCHER_UNKNOWN_MARKET = 3005  # symbol not served by this engine
    SELF_TRADE_PREVENTED = 3006  # order expired by self-trade prevention
    NO_LIQUIDITY = 3007  # MARKET order found nothing (more) it could trade with: EXPIRED
    MATCHER_INVALID_ORDER = 3008  # off tick/lot, non-positive, impossible combination, or a budget below one lot
    IOC_NOT_FILLED = 3009  # the unfilled rest of an IOC limit order expired
    DUPLICATE_CLIENT_ORDER_ID = 3010  # the user already has a resting order with this client order id: REJECTED
    MATCHER_OUT_OF_RANGE = 3011  # price, quantity or budget above the market's maxima: REJECTED before any change
    MATCHER_INVALID_FIELD = 3012  # unknown enum value, empty symbol, zero user or order id
    MATCHER_INTERNAL_ERROR = 3013  # the matcher failed on the command (a bug): refused, logged


class BalanceOperation(enum.IntEnum):
    """What a `balance.operations` record asks UBSCore to do (proto: exchange.v1.BalanceOperation)."""

    UNSPECIFIED = 0
    TRANSFER_IN = 1
    TRANSFER_OUT = 2


class BalanceEventType(enum.IntEnum):
    """The kind of one `balance.events` record, one per balance change or refusal (exchange.v1.BalanceEventType)."""

    UNSPECIFIED = 0
    DEPOSITED = 1
    WITHDRAWN = 2
    WITHDRAWAL_REJECTED = 3
    DEPOSIT_REJECTED = 4
    FUNDS_LOCKED = 5
    FUNDS_UNLOCKED = 6
    TRADE_DEBITED = 7
    TRADE_CREDITED = 8
    FEE_COLLECTED = 9  # credited to the fee account (common/markets.py fee_account_user_id)
    ORDER_REJECTED = 10


class FundsUnlockCause(enum.IntEnum):
    """Why a FUNDS_UNLOCKED event released frozen funds (exchange.v1.FundsUnlockCause)."""

    UNSPECIFIED = 0
    CANCELED = 1
    EXPIRED = 2
    REJECTED = 3
    PRICE_IMPROVEMENT = 4
    FILLED = 5
