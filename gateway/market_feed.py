"""The gateway's view of one matcher shard's feed: books kept from BookDeltas, fanned out to stream clients.

One thread owns the `EngineFeed` (ZeroMQ sockets are single-threaded): it polls verified outputs in `seq` order,
applies their book deltas to one `BookView` per market, and hands the stream messages (book updates, trades) to
every subscriber's bounded queue, all under one lock. A subscriber registers under the same lock and gets the
snapshot of its markets at the current `seq`, so it sees every later change exactly once, after the snapshot.

A subscriber whose queue is full is cut off (`cut` set, removed from the fan-out); its stream then ends with
RESOURCE_EXHAUSTED. One slow client never slows the feed or the other clients.

At start the gateway knows no book: the feed starts at seq 0 and catches up through the matcher's replay
endpoint from seq 1 (EngineFeed's start-up catch-up). Until the books reach the matcher's last seq at start
(asked of the replay endpoint by `head_seq`), `ready` is unset and book reads answer UNAVAILABLE.

Limit: the matcher serves replay from its WAL, which it prunes (it keeps 2M records by default, see
matcher/config.py WAL_RETAIN_RECORDS_DEFAULT); once seq 1 is gone, a gateway cannot build its books this way
and its feed halts with ChainBroken (health NOT_SERVING). The fix is a book snapshot from the matcher (its
state at a seq) followed by replay from there, which needs a snapshot request on the replay endpoint. Replaying
a long history also costs start-up time (about 3.6 µs to decode each output, CEILINGS.md, plus the deltas).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from common.errors import Timeout
from common.markets import MarketCatalog
from common.money import format_units
from exchange.v1 import engine_pb2, market_data_service_pb2
from gateway.book import BookView, Levels
from gateway.metrics import GatewayMetrics
from gateway.streams import Subscription

POLL_TIMEOUT_MS = 100
STOP_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)

Message = market_data_service_pb2.StreamMarketDataResponse


class FeedLike(Protocol):
    """What MarketFeed needs of common.engine_feed.EngineFeed."""

    def poll(self, timeout_ms: int) -> list[engine_pb2.EngineOutput]:
        """Verified outputs after the last one, in seq order."""
        ...

    def close(self) -> None:
        """Release the sockets."""
        ...


class MarketFeed:
    """Books of one matcher shard, kept from its feed on a thread of their own."""

    def __init__(
        self, feed_factory: Callable[[], FeedLike], *, head_seq: Callable[[], int], catalog: MarketCatalog,
        metrics: GatewayMetrics, shard_id: int,
        observers: Iterable[Callable[[engine_pb2.EngineOutput], None]] = (),
    ) -> None:
        """`observers` also see every verified output, in seq order, on the feed thread (e.g. OrderResults)."""
        self.feed_factory = feed_factory
        self.head_seq = head_seq
        self.observers = tuple(observers)
        self.catalog = catalog
        self.metrics = metrics
        self.shard_id = shard_id
        self.books = {symbol: BookView(symbol) for symbol in catalog.markets}
        self.owned: set[str] = set()  # markets this shard has shown an output of (it owns their partitions)
        self.seq = 0
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.subscribers: set[Subscription] = set()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the feed thread (it catches up from seq 1 first)."""
        self._thread = threading.Thread(target=self._run, name="market-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the feed thread and close its sockets."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)

    def check(self) -> None:
        """Health check: raise unless the feed is caught up and running."""
        if self.error is not None:
            raise RuntimeError(f"market feed halted: {self.error}")
        if not self.ready.is_set():
            raise RuntimeError("market feed still catching up")

    def _run(self) -> None:
        feed: FeedLike | None = None
        head_seq: int | None = None  # the matcher's last seq when we started: ready once the books reach it
        try:
            feed = self.feed_factory()
            while not self._stop.is_set():
                try:
                    if head_seq is None:
                        head_seq = self.head_seq()
                    outputs = feed.poll(timeout_ms=POLL_TIMEOUT_MS)
                except Timeout as error:  # replay endpoint silent: nothing verified was lost, ask again
                    log.warning("market feed: %s", error)
                    continue
                if outputs:
                    self._apply(outputs)
                if not self.ready.is_set() and self.seq >= head_seq:
                    log.info("market feed ready at seq %d", self.seq)
                    self.ready.set()
        except Exception as error:  # ChainBroken, ConfigInvalid, ...: market data stops loudly, health turns red
            log.critical("market feed halted at seq %d: %s", self.seq, error)
            self.error = error
            with self.lock:
                for subscription in self.subscribers:
                    subscription.cut = True
                self.subscribers.clear()
        finally:
            if feed is not None:
                feed.close()

    def _apply(self, outputs: Iterable[engine_pb2.EngineOutput]) -> None:
        with self.lock:
            for output in outputs:
                messages = self._messages(output)
                self.seq = output.seq
                for observe in self.observers:
                    observe(output)
                for subscription in list(self.subscribers):
                    self._deliver(subscription, messages)
            self.metrics.market_feed_seq.labels(str(self.shard_id)).set(self.seq)

    def _messages(self, output: engine_pb2.EngineOutput) -> list[Message]:
        command = output.input.command
        kind = command.WhichOneof("command")
        if kind is not None:
            self.owned.add(getattr(command, kind).symbol)
        messages: list[Message] = []
        for delta in output.book_deltas:
            book = self.books.get(delta.symbol)
            if book is None:  # a market this gateway's config lacks: nothing to show
                continue
            book.apply(delta.side, delta.price_units, delta.qty_units)
            market = self.catalog.markets[delta.symbol]
            messages.append(Message(seq=output.seq, book_update=market_data_service_pb2.BookUpdate(
                symbol=delta.symbol, side=delta.side, price=format_units(delta.price_units, market.quote_scale),
                quantity=format_units(delta.qty_units, market.base_scale),
            )))  # fmt: skip
        for trade in output.trades:
            market = self.catalog.markets.get(trade.symbol)
            if market is None:
                continue
            messages.append(Message(seq=output.seq, trade=market_data_service_pb2.PublicTrade(
                trade_id=trade.trade_id, symbol=trade.symbol, price=format_units(trade.price_units, market.quote_scale),
                quantity=format_units(trade.qty_units, market.base_scale), taker_side=trade.taker_side,
                ts_event_ns=trade.ts_event_ns,
            )))  # fmt: skip
        return messages

    def _deliver(self, subscription: Subscription, messages: list[Message]) -> None:
        for message in messages:
            symbol = message.book_update.symbol if message.HasField("book_update") else message.trade.symbol
            if symbol not in subscription.symbols:
                continue
            if not subscription.offer(message):
                self.subscribers.discard(subscription)
                self.metrics.stream_clients_cut.labels("slow_consumer").inc()
                return

    def attach(self, subscription: Subscription, *, snapshot_symbols: Iterable[str], depth: int) -> None:
        """Register a stream client, adding a BookSnapshot of each of `snapshot_symbols` at this feed's current seq.

        The caller holds `self.lock` (gateway.market_feeds takes every shard's lock at once), so the snapshot and
        the registration happen between two outputs: the client sees each later change exactly once.
        """
        for symbol in sorted(snapshot_symbols):
            bids, asks = self.books[symbol].depth(depth)
            subscription.snapshot.append(Message(seq=self.seq, book_snapshot=market_data_service_pb2.BookSnapshot(
                symbol=symbol, bids=self.price_levels(symbol, bids), asks=self.price_levels(symbol, asks),
            )))  # fmt: skip
        self.subscribers.add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to a client (its stream ended)."""
        with self.lock:
            self.subscribers.discard(subscription)

    def depth(self, symbol: str, levels_max: int) -> tuple[Levels, Levels, int]:
        """(bids, asks, seq) of one market now."""
        with self.lock:
            bids, asks = self.books[symbol].depth(levels_max)
            return bids, asks, self.seq

    def price_levels(self, symbol: str, levels: Levels) -> list[market_data_service_pb2.PriceLevel]:
        """Levels as decimal-string PriceLevels."""
        market = self.catalog.markets[symbol]
        return [
            market_data_service_pb2.PriceLevel(
                price=format_units(price, market.quote_scale), quantity=format_units(qty, market.base_scale)
            )
            for price, qty in levels
        ]
