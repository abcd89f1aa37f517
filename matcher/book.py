"""The fast order book: same rules and same events as matcher/book_reference.py, built for CPython speed.

Data structures (chosen by measurement, see tools/bench/matcher_core.py):
- per side, a dict key -> _Level and a sorted list of keys with the BEST LAST, so the best level is `keys[-1]`
  and removing it is `list.pop()`. Bids use key = price, asks key = -price; a taker crosses while
  `keys[-1] >= limit_key` (buy: -limit, sell: +limit, market: -inf), one comparison for both sides;
- per level, a deque of orders in time priority plus the aggregate quantity. A cancel does not search the deque:
  it zeroes the order's remaining quantity (a "dead" entry) and the matcher drops dead entries when they reach
  the front; a level whose dead entries outnumber the live ones is compacted, so memory stays bounded;
- a dict order_id -> order for cancels, and (user_id, client_order_id) -> order for cancels by client id.
Events are NamedTuples built with tuple.__new__; hot names are bound to locals. Rules are documented once, in
matcher/book_reference.py, and checked equal by tests/property/test_matcher_fast_vs_reference.py.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from typing import Any

from common.enums import OrderStatus, OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from common.markets import Market
from matcher.book_reference import TRADE_ID_SHIFT, invalid_reason
from matcher.checks import cancel_field_reason, field_reason, range_reason
from matcher.commands import CancelOrder, PlaceOrder
from matcher.events import BookLevelChanged, CancelRejected, EngineResult, OrderUpdated, PlaceRejected
from matcher.matching import match

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
NEW, PARTIALLY_FILLED, FILLED = OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED
CANCELED, REJECTED, EXPIRED = OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED
NO_REASON = RejectReason.UNSPECIFIED
EXPIRE_TAKER, EXPIRE_MAKER = SelfTradeMode.EXPIRE_TAKER, SelfTradeMode.EXPIRE_MAKER
COMPACT_DEAD_MIN = 32  # compact a level's deque once it holds this many cancelled entries (and more than live)
STP_MODES = frozenset(SelfTradeMode)
GTC_IOC, BUY_SELL = (GTC, IOC), (BUY, SELL)
NO_LIMIT_KEY = -(1 << 126)  # limit key of a market order: below every price key
# Events are NamedTuples; tuple.__new__(Event, values) skips the generated Python-level __new__ (measured ~2x
# faster per event, and there are several per command). Values must be in field order, as with positional calls.
_new = tuple.__new__


class Order:
    """A resting order (mutable: fills update it in place)."""

    __slots__ = (
        "client_order_id",
        "filled_qty_units",
        "filled_quote_units",
        "order_id",
        "price_units",
        "qty_units",
        "remaining_qty_units",
        "side",
        "user_id",
    )

    def __init__(
        self, order_id: int, user_id: int, client_order_id: str, side: Side, price_units: int, qty_units: int,
        remaining_qty_units: int, filled_qty_units: int, filled_quote_units: int,
    ) -> None:  # fmt: skip
        self.order_id = order_id
        self.user_id = user_id
        self.client_order_id = client_order_id
        self.side = side
        self.price_units = price_units
        self.qty_units = qty_units
        self.remaining_qty_units = remaining_qty_units  # 0 = dead (cancelled) entry still in its level's deque
        self.filled_qty_units = filled_qty_units
        self.filled_quote_units = filled_quote_units

    def as_row(self) -> list[Any]:
        """Snapshot row (same layout as the reference book's)."""
        return [
            self.order_id, self.user_id, self.client_order_id, self.price_units, self.qty_units,
            self.remaining_qty_units, self.filled_qty_units, self.filled_quote_units,
        ]  # fmt: skip


class Level:
    """All resting orders at one price, in time priority, and their aggregate live quantity."""

    __slots__ = ("dead", "orders", "price_units", "total_qty_units")

    def __init__(self, price_units: int) -> None:
        self.price_units = price_units
        self.total_qty_units = 0
        self.orders: deque[Order] = deque()
        self.dead = 0  # cancelled entries still in `orders`

    def compact(self) -> None:
        """Drop cancelled entries (amortised: only called when they outnumber live ones)."""
        self.orders = deque(o for o in self.orders if o.remaining_qty_units)
        self.dead = 0


class BookSide:
    """One side: levels by key and the keys sorted ascending with the best last."""

    __slots__ = ("keys", "levels", "side", "sign")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = 1 if side == BUY else -1  # key = sign * price
        self.keys: list[int] = []
        self.levels: dict[int, Level] = {}

    def add(self, order: Order) -> int:
        """Append `order` at the back of its level; return the level's new aggregate quantity."""
        key = self.sign * order.price_units
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = Level(order.price_units)
            keys = self.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.orders.append(order)
        level.total_qty_units += order.remaining_qty_units
        return level.total_qty_units

    def remove_level(self, key: int) -> None:
        """Forget an empty level."""
        del self.levels[key]
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def rows(self) -> list[list[Any]]:
        """Live orders, best level first, time priority within a level."""
        levels = self.levels
        return [o.as_row() for key in reversed(self.keys) for o in levels[key].orders if o.remaining_qty_units]

    def depth(self, levels_max: int) -> list[tuple[int, int]]:
        """(price_units, qty_units) of the best `levels_max` levels."""
        levels = self.levels
        return [(levels[k].price_units, levels[k].total_qty_units) for k in reversed(self.keys[-levels_max:])]


class Book:
    """One market's order book: price-time priority, trades at the maker's price. Not thread-safe."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.bids = BookSide(BUY)
        self.asks = BookSide(SELL)
        self.orders: dict[int, Order] = {}
        self.client_ids: dict[tuple[int, str], Order] = {}
        self.last_order_id = 0
        self.trade_seq = 0
        self.trade_id_base = market.market_id << TRADE_ID_SHIFT
        self.base_pow = 10**market.base_scale
        self.symbol, self.tick_units, self.lot_units = market.symbol, market.tick_units, market.lot_units
        self.max_price_units, self.max_qty_units = market.max_price_units, market.max_qty_units

    def depth(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top `levels` price levels per side, best first: (bids, asks), each a list of (price_units, qty_units)."""
        if levels <= 0:
            return [], []
        return self.bids.depth(levels), self.asks.depth(levels)

    def place(self, cmd: PlaceOrder) -> EngineResult:
        """Match and/or rest `cmd`; return every event it caused (rules: matcher/book_reference.py)."""
        order_id = cmd.order_id
        if order_id <= self.last_order_id:  # also catches ids <= 0
            reason = RejectReason.MATCHER_INVALID_FIELD if order_id <= 0 else RejectReason.DUPLICATE_ORDER_ID
            rejected = PlaceRejected(
                symbol=self.symbol, order_id=order_id, user_id=cmd.user_id, client_order_id=cmd.client_order_id,
                reason=reason, ts_event_ns=cmd.ts_event_ns,
            )  # fmt: skip
            return _new(EngineResult, (self.symbol, [], [], [], [rejected]))
        self.last_order_id = order_id
        side, price, qty, order_type, tif = cmd.side, cmd.price_units, cmd.qty_units, cmd.order_type, cmd.time_in_force
        if not (  # the common shapes, checked inline; anything else goes through the full checks (matcher/checks.py)
            order_type == LIMIT and tif in GTC_IOC and 0 < price <= self.max_price_units
            and 0 < qty <= self.max_qty_units and not price % self.tick_units and not qty % self.lot_units
            and side in BUY_SELL and cmd.user_id > 0 and not cmd.quote_budget_units
            and cmd.self_trade_mode in STP_MODES and (tif == GTC or not cmd.post_only)
        ):  # fmt: skip
            reason = _full_check_reason(cmd, self.market)
            if reason is not NO_REASON:
                return self._refused(cmd, REJECTED, reason)
        coid = cmd.client_order_id
        if coid and (cmd.user_id, coid) in self.client_ids:
            return self._refused(cmd, REJECTED, RejectReason.DUPLICATE_CLIENT_ORDER_ID)
        if side == BUY:
            opposite, limit_key = self.asks, (-price if order_type == LIMIT else NO_LIMIT_KEY)
        else:
            opposite, limit_key = self.bids, (price if order_type == LIMIT else NO_LIMIT_KEY)
        keys = opposite.keys
        if not keys or keys[-1] < limit_key:  # nothing crosses
            if tif == GTC and order_type == LIMIT:
                return self._rest_new(cmd)
            if order_type == MARKET:
                return self._refused(cmd, EXPIRED, RejectReason.NO_LIQUIDITY)
            if tif == FOK:
                return self._refused(cmd, EXPIRED, RejectReason.FOK_NOT_FILLABLE)
            return self._refused(cmd, EXPIRED, RejectReason.IOC_NOT_FILLED)
        if cmd.post_only:
            return self._refused(cmd, REJECTED, RejectReason.POST_ONLY_WOULD_TAKE)
        mode = cmd.self_trade_mode or EXPIRE_TAKER
        if tif == FOK and order_type == LIMIT and not _fok_fillable(opposite, cmd, limit_key, mode):
            return self._refused(cmd, EXPIRED, RejectReason.FOK_NOT_FILLABLE)
        return match(self, cmd, opposite, limit_key, mode)

    def _refused(self, cmd: PlaceOrder, status: OrderStatus, reason: RejectReason) -> EngineResult:
        """An order that ends without trading or resting."""
        return _new(EngineResult, (self.symbol, [_taker_update(cmd, status, 0, 0, 0, reason)], [], [], []))

    def _rest_new(self, cmd: PlaceOrder) -> EngineResult:
        """A GTC that crosses nothing rests whole (inlined: this is the most common command)."""
        order_id, user_id, coid, side, price, qty = (
            cmd.order_id, cmd.user_id, cmd.client_order_id, cmd.side, cmd.price_units, cmd.qty_units,
        )  # fmt: skip
        order = Order(order_id, user_id, coid, side, price, qty, qty, 0, 0)
        if side == BUY:
            book_side, key = self.bids, price
        else:
            book_side, key = self.asks, -price
        level = book_side.levels.get(key)
        if level is None:
            level = book_side.levels[key] = Level(price)
            keys = book_side.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.orders.append(order)
        total = level.total_qty_units = level.total_qty_units + qty
        self.orders[order_id] = order
        if coid:
            self.client_ids[(user_id, coid)] = order
        update = _new(OrderUpdated, (
            self.symbol, order_id, user_id, coid, side, LIMIT, GTC, price, qty, NEW, 0, 0, qty, 0, NO_REASON,
            cmd.ts_event_ns,
        ))  # fmt: skip
        return _new(EngineResult, (self.symbol, [update], [], [_new(BookLevelChanged, (side, price, total))], []))

    def rest_taker(self, cmd: PlaceOrder, remaining: int, filled_qty: int, filled_quote: int) -> int:
        """Rest the unfilled part of a GTC taker; return its level's new aggregate quantity."""
        order = Order(
            cmd.order_id, cmd.user_id, cmd.client_order_id, cmd.side, cmd.price_units, cmd.qty_units, remaining,
            filled_qty, filled_quote,
        )  # fmt: skip
        return self.rest(order)

    def rest(self, order: Order) -> int:
        """Put a (partially filled) taker on the book; return its level's new aggregate quantity."""
        self.orders[order.order_id] = order
        if order.client_order_id:
            self.client_ids[(order.user_id, order.client_order_id)] = order
        return (self.bids if order.side == BUY else self.asks).add(order)

    def cancel(self, cmd: CancelOrder) -> EngineResult:
        """Remove the user's resting order named by `cmd`, or reject the cancel."""
        symbol = self.symbol
        if cmd.order_id:
            order = self.orders.get(cmd.order_id)
        else:
            order = self.client_ids.get((cmd.user_id, cmd.client_order_id)) if cmd.client_order_id else None
        if order is None or order.user_id != cmd.user_id or cmd.user_id <= 0:
            reason = cancel_field_reason(cmd)
            rejected = CancelRejected(
                symbol=symbol, order_id=cmd.order_id, user_id=cmd.user_id, client_order_id=cmd.client_order_id,
                reason=RejectReason.UNKNOWN_ORDER if reason is NO_REASON else reason, ts_event_ns=cmd.ts_event_ns,
            )  # fmt: skip
            return _new(EngineResult, (symbol, [], [], [], [rejected]))
        order_id, side, price, coid = order.order_id, order.side, order.price_units, order.client_order_id
        del self.orders[order_id]
        if coid:
            del self.client_ids[(order.user_id, coid)]
        if side == BUY:
            book_side, key = self.bids, price
        else:
            book_side, key = self.asks, -price
        level = book_side.levels[key]
        total = level.total_qty_units = level.total_qty_units - order.remaining_qty_units
        order.remaining_qty_units = 0  # leaves a dead entry in the level's deque (see module docstring)
        if not total:
            book_side.remove_level(key)
        else:
            level.dead += 1
            if level.dead >= COMPACT_DEAD_MIN and level.dead * 2 > len(level.orders):
                level.compact()
        update = _new(OrderUpdated, (
            symbol, order_id, order.user_id, coid, side, LIMIT, GTC, price, order.qty_units, CANCELED,
            order.filled_qty_units, order.filled_quote_units, 0, 0, NO_REASON, cmd.ts_event_ns,
        ))  # fmt: skip
        return _new(EngineResult, (symbol, [update], [], [_new(BookLevelChanged, (side, price, total))], []))

    def snapshot(self) -> dict[str, Any]:
        """Plain-data state (JSON/msgpack-able, deterministic): counters and live orders per side, best first."""
        return {
            "symbol": self.market.symbol,
            "market_id": self.market.market_id,
            "last_order_id": self.last_order_id,
            "trade_seq": self.trade_seq,
            "bids": self.bids.rows(),
            "asks": self.asks.rows(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Replace this book's state with `state` (from snapshot() of either book implementation)."""
        assert state["symbol"] == self.market.symbol, (state["symbol"], self.market.symbol)
        self.__init__(self.market)  # type: ignore[misc]
        self.last_order_id = state["last_order_id"]
        self.trade_seq = state["trade_seq"]
        for side, key in ((BUY, "bids"), (SELL, "asks")):
            for order_id, user_id, coid, price, qty, remaining, filled_qty, filled_quote in state[key]:
                self.rest(Order(order_id, user_id, coid, side, price, qty, remaining, filled_qty, filled_quote))


def _full_check_reason(cmd: PlaceOrder, market: Market) -> RejectReason:
    """Fields, then shape, then range (matcher/checks.py): the first reason that refuses the order, or UNSPECIFIED."""
    reason = field_reason(cmd)
    if reason is NO_REASON:
        reason = invalid_reason(cmd, market)
    if reason is NO_REASON:
        reason = range_reason(cmd, market)
    return reason


def _fok_fillable(opposite: BookSide, cmd: PlaceOrder, limit_key: int, mode: SelfTradeMode) -> bool:
    """True if the makers a FOK order could reach now (self-trade prevention included) cover its quantity."""
    wanted, user_id, levels = cmd.qty_units, cmd.user_id, opposite.levels
    reachable = 0
    for key in reversed(opposite.keys):
        if key < limit_key:
            return False
        for maker in levels[key].orders:
            if not maker.remaining_qty_units:
                continue
            if maker.user_id == user_id:
                if mode == EXPIRE_MAKER:
                    continue
                return False
            reachable += maker.remaining_qty_units
            if reachable >= wanted:
                return True
    return False


def rejected_update(cmd: PlaceOrder, reason: RejectReason) -> OrderUpdated:
    """The REJECTED update of an order refused before matching (e.g. by the engine for an unknown market)."""
    return _taker_update(cmd, REJECTED, 0, 0, 0, reason)


def _taker_update(
    cmd: PlaceOrder, status: OrderStatus, filled_qty: int, filled_quote: int, remaining: int, reason: RejectReason
) -> OrderUpdated:
    unspent = cmd.quote_budget_units - filled_quote if cmd.order_type == MARKET and cmd.side == BUY else 0
    return _new(OrderUpdated, (
        cmd.symbol, cmd.order_id, cmd.user_id, cmd.client_order_id, cmd.side, cmd.order_type, cmd.time_in_force,
        cmd.price_units, cmd.qty_units, status, filled_qty, filled_quote, remaining, unspent, reason, cmd.ts_event_ns,
    ))  # fmt: skip
