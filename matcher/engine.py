"""The matching engine core: one book per market, commands in, events out; no I/O, no clock, no randomness.

The shell (matcher/service.py) feeds it commands decoded from Kafka `orders` in offset order and publishes each
EngineResult; replaying the same commands into a fresh engine (or into one restored from a snapshot taken at the
same point) gives the same results, event for event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from common.enums import RejectReason
from common.markets import Market
from matcher.book import Book, rejected_update
from matcher.commands import CancelOrder, Command, PlaceOrder
from matcher.events import CancelRejected, EngineResult

SNAPSHOT_VERSION = 1


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

    def apply(self, command: Command) -> EngineResult:
        """Apply one command, return everything it caused; bad orders are rejected, non-commands raise TypeError."""
        kind = type(command)
        if kind is PlaceOrder:
            place = self._placers.get(command.symbol)
            if place is not None:
                return place(command)
            update = rejected_update(command, RejectReason.MATCHER_UNKNOWN_MARKET)
            return EngineResult(command.symbol, [update], [], [], [])
        if kind is CancelOrder:
            cancel = self._cancelers.get(command.symbol)
            if cancel is not None:
                return cancel(command)
            rejected = CancelRejected(
                command.symbol, command.user_id, command.order_id, command.client_order_id,
                RejectReason.MATCHER_UNKNOWN_MARKET, command.ts_event_ns,
            )  # fmt: skip
            return EngineResult(command.symbol, [], [], [], [rejected])
        raise TypeError(f"not a matcher command: {command!r}")

    def depth(self, symbol: str, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top `levels` (price_units, qty_units) per side of `symbol`'s book, best first; KeyError if unknown."""
        return self.books[symbol].depth(levels)

    def snapshot(self) -> dict[str, Any]:
        """Plain data (ints, strings, lists, dicts; JSON/msgpack-able), books in symbol order."""
        return {"version": SNAPSHOT_VERSION, "books": [book.snapshot() for book in self.books.values()]}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Replace every book's state with the snapshot's; the snapshot must cover exactly this engine's markets."""
        assert snapshot["version"] == SNAPSHOT_VERSION, snapshot["version"]
        states = {state["symbol"]: state for state in snapshot["books"]}
        assert sorted(states) == sorted(self.books), (sorted(states), sorted(self.books))
        for symbol, state in states.items():
            assert state["market_id"] == self.markets[symbol].market_id, (symbol, state["market_id"])
            self.books[symbol].restore(state)
