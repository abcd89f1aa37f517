"""Build the whole gateway from its config (every object made here and passed down), start it, stop it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import zmq

from common.engine_feed import EngineFeed, FeedEndpoints, ReplayClient
from common.markets import MarketCatalog, load_catalog
from exchange.v1 import balance_pb2, engine_pb2
from gateway.accepted_transfers import AcceptedTransfers
from gateway.account import AccountServicer
from gateway.api_keys import ApiKeyStore
from gateway.auth import AuthInterceptor, KeyCache, role_class_of
from gateway.balance_events import BalanceEventFollower
from gateway.config import GatewayConfig
from gateway.cql import LazySession
from gateway.health import HealthMonitor, cql_check, kafka_check
from gateway.interceptors import ErrorBoundaryInterceptor, InterceptorChain
from gateway.market_data import MarketDataServicer
from gateway.market_feed import MarketFeed
from gateway.market_feeds import MarketFeeds
from gateway.metrics import GatewayMetrics, MetricsInterceptor
from gateway.order_results import OrderResults
from gateway.rate_limit import RateLimiter, RateLimitInterceptor
from gateway.reads import Reads
from gateway.recent_balances import HISTORY_MS as RECENT_HISTORY_MS
from gateway.recent_orders import RecentOrders
from gateway.server import GRACE_S, SERVICE_NAMES, Servicers, build_server
from gateway.tracing import TraceInterceptor
from gateway.trading import TradingServicer
from gateway.transfer_results import TransferResults
from gateway.transfers import TransferPublisher
from gateway.ubscore_client import UbscoreClient, UbscoreClientConfig
from gateway.user_streams import UserStreams
from settlement.queries import SettlementQueries

TRADING, ACCOUNT, MARKET_DATA = SERVICE_NAMES

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Gateway:
    """A built gateway: `start()`, then `stop()`; `port` is the bound gRPC port."""

    config: GatewayConfig
    server: grpc.Server
    port: int
    metrics: GatewayMetrics
    health: HealthMonitor
    key_cache: KeyCache
    market_feed: MarketFeeds | None
    ubscore: UbscoreClient | None
    transfers: TransferPublisher
    balance_events: BalanceEventFollower | None
    transfer_requests: BalanceEventFollower  # balance.operations: transfers any gateway accepted
    cql_session: LazySession
    zmq_context: zmq.Context

    def start(self) -> None:
        """Load keys, start the feed, the health checks and the server."""
        self.key_cache.start()
        if self.market_feed is not None:
            self.market_feed.start()
        if self.ubscore is not None:
            self.ubscore.start()
        self.transfers.start()
        self.transfer_requests.start()
        if self.balance_events is not None:
            self.balance_events.start()
        self.health.start()
        self.server.start()
        log.info("gateway ready: gRPC port %d", self.port, extra={"grpc_port": self.port})

    def stop(self) -> None:
        """Refuse new calls, let running ones finish (GRACE_S), then release everything."""
        self.health.stop()
        self.server.stop(GRACE_S).wait(GRACE_S + 1)
        if self.market_feed is not None:
            self.market_feed.stop()
        if self.ubscore is not None:
            self.ubscore.stop()
        self.transfers.stop()
        self.transfer_requests.stop()
        if self.balance_events is not None:
            self.balance_events.stop()
        self.key_cache.stop()
        self.cql_session.shutdown()
        self.zmq_context.destroy(linger=0)


def build_gateway(config: GatewayConfig) -> Gateway:
    """Every object of a gateway, wired; nothing started."""
    catalog = load_catalog(config.markets_path)
    metrics = GatewayMetrics()
    session = LazySession(config.cql_hosts, config.cql_port)  # opened on first use: start even if CQL is down
    key_cache = KeyCache(ApiKeyStore(session, config.cql_keyspace), refresh_ms=config.key_refresh_ms)
    context = zmq.Context()
    # Streams hold a gRPC worker each: market data may take half the workers, user streams a quarter.
    order_results, recent_orders = (OrderResults(), RecentOrders(catalog)) if config.matcher_feeds else (None, None)
    user_streams = UserStreams(
        catalog, queue_max=config.stream_queue_max, subscribers_max=max(1, config.grpc_workers // 4),
        placement=recent_orders.placement if recent_orders is not None else None,
    )
    feed_observers: tuple[Callable[[engine_pb2.EngineOutput], None], ...] = ()
    if order_results is not None and recent_orders is not None:
        feed_observers = (order_results.observe, recent_orders.observe, user_streams.observe)
    feed = _market_feeds(config, catalog, metrics, context, feed_observers)
    ubscore = _ubscore_client(config)
    transfers = TransferPublisher(config.kafka_bootstrap, config.transfer_topic)
    balance_events = transfer_results = None
    if config.balance_events_topic:
        transfer_results = TransferResults()
        balance_events = BalanceEventFollower(
            config.kafka_bootstrap, config.balance_events_topic,
            (user_streams.observe_balance,), timed_observers=(transfer_results.observe,),
            history_observers=(user_streams.recent.observe,), history_ms=RECENT_HISTORY_MS,
        )
    accepted = AcceptedTransfers()
    transfer_requests = BalanceEventFollower(
        config.kafka_bootstrap, config.transfer_topic, (accepted.observe_request,),
        message_type=balance_pb2.BalanceRequest, name="transfer-requests",
    )
    checks = {
        # Order entry needs no database (keys are cached): only the account service, all reads, goes red;
        # TradingService's own reads answer UNAVAILABLE meanwhile.
        "cql": (cql_check(session), (ACCOUNT,)),
        "kafka": (kafka_check(config.kafka_bootstrap, config.transfer_topic), (ACCOUNT,)),
        "api_keys": (key_cache.check, SERVICE_NAMES),
    }
    if feed is not None:
        checks["market_feed"] = (feed.check, (MARKET_DATA,))
    if ubscore is not None:
        checks["ubscore"] = (ubscore.check, (TRADING,))
    health = HealthMonitor(checks, service_names=SERVICE_NAMES, metrics=metrics, interval_ms=config.health_interval_ms)
    limiter = RateLimiter(config.rate_limits)
    reads = Reads(catalog, SettlementQueries(session, keyspace=config.cql_keyspace))  # type: ignore[arg-type]
    servicers = Servicers(
        trading=TradingServicer(catalog, ubscore, order_results, limiter=limiter, reads=reads,
                                recent_orders=recent_orders, recent_balances=user_streams.recent),
        account=AccountServicer(
            catalog, transfers, user_streams, transfer_results, heartbeat_ms=config.heartbeat_ms, reads=reads,
            accepted=accepted,
        ),
        market_data=MarketDataServicer(catalog, feed, heartbeat_ms=config.heartbeat_ms, reads=reads),
    )
    interceptors = [InterceptorChain([
        MetricsInterceptor(metrics),
        TraceInterceptor(),
        ErrorBoundaryInterceptor(),
        AuthInterceptor(key_cache),
        RateLimitInterceptor(limiter, role_class_of),
    ])]  # fmt: skip
    server, port = build_server(
        address=config.grpc_address, workers=config.grpc_workers, servicers=servicers, interceptors=interceptors,
        health=health,
    )
    return Gateway(
        config=config, server=server, port=port, metrics=metrics, health=health, key_cache=key_cache,
        market_feed=feed, ubscore=ubscore, transfers=transfers, balance_events=balance_events,
        transfer_requests=transfer_requests, cql_session=session,
        zmq_context=context,
    )


def _market_feeds(
    config: GatewayConfig, catalog: MarketCatalog, metrics: GatewayMetrics, context: zmq.Context,
    observers: tuple[Callable[[engine_pb2.EngineOutput], None], ...],
) -> MarketFeeds | None:
    endpoints = config.matcher_feeds
    if not endpoints:
        return None
    feeds = [
        MarketFeed(
            lambda endpoint=endpoint: EngineFeed(
                context, sub_endpoint=endpoint.pub_endpoint, replay_endpoint=endpoint.replay_endpoint,
                shard_id=endpoint.shard_id,
            ),
            head_seq=lambda endpoint=endpoint: matcher_head_seq(context, endpoint),
            catalog=catalog, metrics=metrics, shard_id=endpoint.shard_id,
            observers=observers,
        )
        for endpoint in endpoints
    ]
    return MarketFeeds(feeds, queue_max=config.stream_queue_max, subscribers_max=max(1, config.grpc_workers // 2))


def _ubscore_client(config: GatewayConfig) -> UbscoreClient | None:
    if not config.ubscore_stream_id:
        return None
    return UbscoreClient(UbscoreClientConfig(
        aeron_dir=config.aeron_dir, request_channel=config.ubscore_channel, request_stream_id=config.ubscore_stream_id,
        response_channel=config.ubscore_response_channel, response_stream_id=config.ubscore_response_stream_id,
        request_timeout_ms=config.ubscore_timeout_ms,
    ))  # fmt: skip


def matcher_head_seq(context: zmq.Context, endpoint: FeedEndpoints) -> int:
    """The last seq the matcher shard has published (asked of its replay endpoint); raises Timeout if silent."""
    client = ReplayClient(context, endpoint.replay_endpoint, shard_id=endpoint.shard_id)
    try:
        return client.fetch(1, limit=1).last_seq
    finally:
        client.close()
