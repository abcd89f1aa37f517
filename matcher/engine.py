"""The matching engine core: one book per market, commands in, events out; no I/O, no clock, no randomness.

The shell (matcher/service.py) feeds it commands decoded from Kafka `orders` in offset order and publishes each
EngineResult; replaying the same commands into a fresh engine (or into one restored from a snapshot taken at the
same point) gives the same results, event for event.

A command for a symbol this engine has no book for (an unknown market, or an empty symbol) is refused here: a
place gets one REJECTED update (MATCHER_UNKNOWN_MARKET, or MATCHER_INVALID_FIELD when the symbol is empty or a
field is unreadable), so UBSCore releases its funds. The engine remembers the last order id it refused per such
symbol (order ids increase per symbol, and a symbol lives on one partition), so a redelivered order gets a
PlaceRejected(DUPLICATE_ORDER_ID) and never a second REJECTED: a consumer releasing funds on REJECTED would
release them twice. The shell's command_seq dedupe catches Kafka redeliveries first; this is the second line,
for a re-send under a new command_seq, exactly as a book's own order-id check is for known markets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from common.enums import RejectReason
from common.markets import Market
from matcher.book import Book, rejected_update
from matcher.checks import cancel_field_reason, field_reason
from matcher.commands import CancelOrder, Command, PlaceOrder
from matcher.events import CancelRejected, EngineResult, PlaceRejected

SNAPSHOT_VERSION = 2  # 2: unrouted_last_order_ids
SNAPSHOT_VERSIONS_READ = (1, 2)
# Symbols without a book whose last refused order id is remembered. UBSCore only sends symbols it knows, so more
# than a handful means a config mismatch; beyond the limit a new symbol is refused without being remembered.
UNROUTED_SYMBOLS_MAX = 1_024


class OrderBook(Protocol):
    """What the engine needs from a book (matcher.book.Book and matcher.book_reference.ReferenceBook)."""

    def place(self, cmd: PlaceOrder) -> EngineResult: ...
    def cancel(self, cmd: CancelOrder) -> EngineResult: ...
    def depth(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, state: dict[str, Any]) -> None: ...


class Engine:
    """Routes commands by symbol to the market's book. Single-threaded: call from one thread only."""

    def __init__(self, markets: Iterable[Market], *, book_factory: Callable[[Market], OrderBook] = Book) -> None:
        self.markets = {m.symbol: m for m in sorted(markets, key=lambda m: m.symbol)}
        self.books: dict[str, OrderBook] = {symbol: book_factory(m) for symbol, m in self.markets.items()}
        # Bound methods per symbol: one dict lookup routes a command (apply is on the hot path).
        self._placers = {symbol: book.place for symbol, book in self.books.items()}
        self._cancelers = {symbol: book.cancel for symbol, book in self.books.items()}
        self.unrouted_last_order_ids: dict[str, int] = {}  # symbol without a book -> last order id refused

    def apply(self, command: Command) -> EngineResult:
        """Apply one command, return everything it caused; bad orders are rejected, non-commands raise TypeError."""
        kind = type(command)
        if kind is PlaceOrder:
            place = self._placers.get(command.symbol)
            if place is not None:
                return place(command)
            return self._place_unrouted(command)
        if kind is CancelOrder:
            cancel = self._cancelers.get(command.symbol)
            if cancel is not None:
                return cancel(command)
            reason = cancel_field_reason(command)
            rejected = CancelRejected(
                symbol=command.symbol, order_id=command.order_id, user_id=command.user_id,
                client_order_id=command.client_order_id, ts_event_ns=command.ts_event_ns,
                reason=RejectReason.MATCHER_UNKNOWN_MARKET if reason == RejectReason.UNSPECIFIED else reason,
            )  # fmt: skip
            return EngineResult(command.symbol, [], [], [], [rejected])
        raise TypeError(f"not a matcher command: {command!r}")

    def _place_unrouted(self, command: PlaceOrder) -> EngineResult:
        """Refuse an order for a symbol without a book, once per order id (see the module docstring)."""
        symbol, order_id = command.symbol, command.order_id
        last_order_id = self.unrouted_last_order_ids.get(symbol, 0)
        if order_id <= 0 or order_id <= last_order_id:
            rejected = PlaceRejected(
                symbol=symbol, order_id=order_id, user_id=command.user_id, client_order_id=command.client_order_id,
                reason=RejectReason.MATCHER_INVALID_FIELD if order_id <= 0 else RejectReason.DUPLICATE_ORDER_ID,
                ts_event_ns=command.ts_event_ns,
            )  # fmt: skip
            return EngineResult(symbol, [], [], [], [rejected])
        if symbol in self.unrouted_last_order_ids or len(self.unrouted_last_order_ids) < UNROUTED_SYMBOLS_MAX:
            self.unrouted_last_order_ids[symbol] = order_id
        reason = field_reason(command)
        if reason == RejectReason.UNSPECIFIED:
            reason = RejectReason.MATCHER_UNKNOWN_MARKET
        return EngineResult(symbol, [rejected_update(command, reason)], [], [], [])

    def depth(self, symbol: str, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top `levels` (price_units, qty_units) per side of `symbol`'s book, best first; KeyError if unknown."""
        return self.books[symbol].depth(levels)

    def snapshot(self) -> dict[str, Any]:
        """Plain data (ints, strings, lists, dicts; JSON/msgpack-able), books in symbol order."""
        return {
            "version": SNAPSHOT_VERSION,
            "books": [book.snapshot() for book in self.books.values()],
            "unrouted_last_order_ids": [[s, i] for s, i in sorted(self.unrouted_last_order_ids.items())],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Replace every book's state with the snapshot's; the snapshot must cover exactly this engine's markets."""
        assert snapshot["version"] in SNAPSHOT_VERSIONS_READ, snapshot["version"]
        self.unrouted_last_order_ids = {s: i for s, i in snapshot.get("unrouted_last_order_ids", [])}
        states = {state["symbol"]: state for state in snapshot["books"]}
        assert sorted(states) == sorted(self.books), (sorted(states), sorted(self.books))
        for symbol, state in states.items():
            assert state["market_id"] == self.markets[symbol].market_id, (symbol, state["market_id"])
            self.books[symbol].restore(state)
