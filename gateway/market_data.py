"""MarketDataService: markets from the config, books and the live stream from the matcher feed, the server clock.

ListTrades reads Settlement's `market_trades` table (gateway.reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc

from common.markets import FEE_SCALE, Market, MarketCatalog
from common.money import format_units
from common.quoting import quoted
from exchange.v1 import common_pb2, market_data_service_pb2, market_data_service_pb2_grpc
from gateway.errors import FieldViolation, Refused
from gateway.market_feed import Message
from gateway.market_feeds import MarketFeeds
from gateway.reads import Reads
from gateway.streams import follow

DEPTH_DEFAULT = 20
DEPTH_MAX = 500
R = common_pb2.RejectReason


def market_info(market: Market) -> market_data_service_pb2.MarketInfo:
    """A market's public description, amounts as decimal strings."""
    return market_data_service_pb2.MarketInfo(
        symbol=market.symbol,
        base_asset=market.base_asset,
        quote_asset=market.quote_asset,
        tick=format_units(market.tick_units, market.quote_scale),
        lot=format_units(market.lot_units, market.base_scale),
        min_quantity=format_units(market.min_qty_units, market.base_scale),
        min_notional=format_units(market.min_notional_units, market.quote_scale),
        maker_fee_rate=format_units(market.maker_fee_ppm, FEE_SCALE),
        taker_fee_rate=format_units(market.taker_fee_ppm, FEE_SCALE),
        max_price=format_units(market.max_price_units, market.quote_scale),
        max_quantity=format_units(market.max_qty_units, market.base_scale),
        base_scale=market.base_scale,
        quote_scale=market.quote_scale,
    )


class MarketDataServicer(market_data_service_pb2_grpc.MarketDataServiceServicer):
    """Public market data; every call needs a valid key (any role), checked by the auth interceptor."""

    def __init__(
        self, catalog: MarketCatalog, feed: MarketFeeds | None, *, heartbeat_ms: int, reads: Reads | None = None,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.catalog = catalog
        self.reads = reads
        self.feed = feed
        self.heartbeat_ms = heartbeat_ms
        self.wall_clock_ns = wall_clock_ns
        self.markets = market_data_service_pb2.ListMarketsResponse(
            markets=[market_info(market) for market in sorted(catalog.markets.values(), key=lambda m: m.market_id)]
        )

    def ListMarkets(
        self, request: object, context: grpc.ServicerContext
    ) -> market_data_service_pb2.ListMarketsResponse:
        """Every market with its steps, minimums and fees."""
        return self.markets

    def ListTrades(
        self, request: market_data_service_pb2.ListTradesRequest, context: grpc.ServicerContext
    ) -> market_data_service_pb2.ListTradesResponse:
        """A market's recent public trades, one page, newest first."""
        if self.reads is None:
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, "this gateway runs without the database queries")
        return self.reads.list_trades(request)

    def GetServerTime(
        self, request: object, context: grpc.ServicerContext
    ) -> market_data_service_pb2.GetServerTimeResponse:
        """The server's wall clock."""
        return market_data_service_pb2.GetServerTimeResponse(server_time_ns=self.wall_clock_ns())

    def GetOrderBook(
        self, request: market_data_service_pb2.GetOrderBookRequest, context: grpc.ServicerContext
    ) -> market_data_service_pb2.GetOrderBookResponse:
        """The aggregated book of one market at its shard's current seq."""
        depth = self._depth(request.depth)
        symbol = self._symbol("symbol", request.symbol)
        feed = self._ready_feed()
        bids, asks, seq = feed.depth(symbol, depth)
        return market_data_service_pb2.GetOrderBookResponse(
            symbol=symbol, bids=feed.price_levels(symbol, bids), asks=feed.price_levels(symbol, asks), seq=seq
        )

    def StreamMarketData(
        self, request: market_data_service_pb2.StreamMarketDataRequest, context: grpc.ServicerContext
    ) -> Iterator[Message]:
        """A BookSnapshot per market, then its deltas and trades in seq order; heartbeats when idle."""
        depth = self._depth(request.depth)
        symbols = [self._symbol(f"symbols[{i}]", symbol) for i, symbol in enumerate(request.symbols)]
        feed = self._ready_feed()
        try:
            subscription = feed.subscribe(symbols or sorted(self.catalog.markets), depth)
        except OverflowError as error:
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, f"too many market data streams: {error}") from error
        try:
            yield from subscription.snapshot
            yield from follow(
                subscription, context, heartbeat_ms=self.heartbeat_ms, heartbeat=self._heartbeat,
                halted=lambda: None if feed.error is None else "the market feed halted",
            )
        finally:
            feed.unsubscribe(subscription)

    def _heartbeat(self) -> Message:
        return Message(seq=0, heartbeat=common_pb2.Heartbeat(server_time_ns=self.wall_clock_ns()))

    def _depth(self, depth: int) -> int:
        if depth > DEPTH_MAX:
            violation = FieldViolation(
                field="depth", reason=R.REJECT_REASON_INVALID_REQUEST, description=f"at most {DEPTH_MAX}"
            )
            raise Refused.from_violations([violation])
        return depth or DEPTH_DEFAULT

    def _symbol(self, field: str, symbol: str) -> str:
        if symbol in self.catalog.markets:
            return symbol
        reason = R.REJECT_REASON_MISSING_FIELD if not symbol else R.REJECT_REASON_UNKNOWN_MARKET
        violation = FieldViolation(field=field, reason=reason, description=f"no market {quoted(symbol)}")
        raise Refused.from_violations([violation])

    def _ready_feed(self) -> MarketFeeds:
        feed = self.feed
        if feed is None:
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, "this gateway runs without a matcher feed")
        if feed.error is not None:
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, "the market feed halted")
        if not feed.is_ready():
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, "the market feed is still catching up")
        return feed
