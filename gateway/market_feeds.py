"""Market data over every matcher shard: one MarketFeed per shard, reads routed to the shard that owns the market.

`orders` is keyed by symbol and each shard owns whole partitions, so each market lives on exactly one shard. The
gateway learns which from the outputs themselves (a shard that matched a command of a market owns it); a market
no shard has shown yet has an empty book everywhere, and the first shard answers for it.

A stream client is attached to every shard at once, under every shard's lock (taken in shard order; each feed
thread only ever holds its own): the snapshot of each market comes from its owner at that instant and every later
change, from whichever shard, reaches the client exactly once. Stream messages carry the seq of the shard they
came from (seqs of different shards are not comparable); heartbeats carry 0.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Sequence
from contextlib import ExitStack

from exchange.v1 import market_data_service_pb2
from gateway.book import Levels
from gateway.market_feed import MarketFeed
from gateway.streams import Subscription


class MarketFeeds:
    """The shards' feeds as one source of books and streams."""

    def __init__(self, feeds: Sequence[MarketFeed], *, queue_max: int, subscribers_max: int) -> None:
        assert feeds, "at least one matcher shard"
        self.feeds = tuple(feeds)
        self.queue_max = queue_max
        self.subscribers_max = subscribers_max
        self.subscribers = 0
        self.count_lock = threading.Lock()

    def start(self) -> None:
        """Start every shard's feed thread."""
        for feed in self.feeds:
            feed.start()

    def stop(self) -> None:
        """Stop every shard's feed thread."""
        for feed in self.feeds:
            feed.stop()

    @property
    def error(self) -> BaseException | None:
        """The first shard's halt, if any shard halted."""
        return next((feed.error for feed in self.feeds if feed.error is not None), None)

    def is_ready(self) -> bool:
        """True once every shard's books caught up with its head at start."""
        return all(feed.ready.is_set() for feed in self.feeds)

    def check(self) -> None:
        """Health check: raise unless every shard's feed is caught up and running."""
        for feed in self.feeds:
            feed.check()

    def owner(self, symbol: str) -> MarketFeed:
        """The shard that has shown outputs of `symbol` (the first shard if none has yet)."""
        return next((feed for feed in self.feeds if symbol in feed.owned), self.feeds[0])

    def depth(self, symbol: str, levels_max: int) -> tuple[Levels, Levels, int]:
        """(bids, asks, seq of the owning shard) of one market now."""
        return self.owner(symbol).depth(symbol, levels_max)

    def price_levels(self, symbol: str, levels: Levels) -> list[market_data_service_pb2.PriceLevel]:
        """Levels as decimal-string PriceLevels."""
        return self.feeds[0].price_levels(symbol, levels)

    def subscribe(self, symbols: Iterable[str], depth: int) -> Subscription:
        """A stream client of `symbols` on every shard; its `snapshot` has one BookSnapshot per market."""
        with self.count_lock:
            if self.subscribers >= self.subscribers_max:
                raise OverflowError(f"{self.subscribers_max} market data streams already")
            self.subscribers += 1
        wanted = frozenset(symbols)
        subscription = Subscription(messages=queue.Queue(maxsize=self.queue_max), symbols=wanted)
        with ExitStack() as locks:
            for feed in self.feeds:
                locks.enter_context(feed.lock)
            owners = {symbol: self.owner(symbol) for symbol in wanted}
            for feed in self.feeds:
                feed.attach(subscription, snapshot_symbols=[s for s in wanted if owners[s] is feed], depth=depth)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Detach a stream client from every shard."""
        for feed in self.feeds:
            feed.unsubscribe(subscription)
        with self.count_lock:
            self.subscribers -= 1
