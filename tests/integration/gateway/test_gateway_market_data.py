"""Market data from a real matcher subprocess through a real gateway: books, the stream, slow clients.

Orders go to a private Kafka topic, a real matcher matches them and publishes its feed; the gateway builds its
books from that feed (catching up from seq 1 through the replay endpoint). The oracle is a fresh matching
engine fed the same inputs in the same order (read from the matcher's own verified outputs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import zmq

from common.markets import load_catalog
from common.money import parse_units
from exchange.v1 import (
    common_pb2,
    engine_pb2,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    trading_service_pb2,
    trading_service_pb2_grpc,
)
from gateway.app import Gateway
from gateway.book import BookView
from matcher.codec import decode_command
from matcher.engine import Engine

from ..matcher.conftest import MatcherProcess, OrdersProducer, collect, open_feed
from ..matcher.orderflow import OrderFlow
from .calls import bearer, reason_of
from .conftest import eventually
from .scripted_ubscore import ScriptedUbscore

pytestmark = pytest.mark.integration
CATALOG = load_catalog()
SYMBOL = "BTC_USDT"
DEPTH = 500


def engine_depth(outputs: list[engine_pb2.EngineOutput], symbol: str) -> tuple[list, list]:
    """The aggregated book of `symbol` after replaying the outputs' inputs through a fresh engine."""
    engine = Engine(CATALOG.markets.values())
    for output in outputs:
        engine.apply(decode_command(output.input.command))
    bids, asks = engine.depth(symbol, DEPTH)
    return [tuple(level) for level in bids], [tuple(level) for level in asks]


def as_units(levels: object, symbol: str) -> list[tuple[int, int]]:
    """PriceLevels (decimal strings) back to (price_units, qty_units)."""
    market = CATALOG.markets[symbol]
    return [
        (parse_units(level.price, market.quote_scale), parse_units(level.quantity, market.base_scale))
        for level in levels  # type: ignore[attr-defined]
    ]


def start_gateway(gateway_factory: Callable[..., Gateway], matcher: MatcherProcess, **overrides: object) -> Gateway:
    gateway = gateway_factory(
        matcher_pub_endpoint=matcher.pub_endpoint, matcher_replay_endpoint=matcher.replay_endpoint,
        matcher_shard_id=int(matcher.env["MATCHER_SHARD_ID"]), **overrides,
    )
    return gateway


def test_book_and_stream_follow_the_matcher_exactly(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context,
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """300 orders before the gateway starts (it catches up from seq 1), 300 more while a client streams: the
    GetOrderBook answer, and the snapshot plus deltas of the stream, equal a fresh engine's book at each point."""
    flow = OrderFlow(seed=5)
    matcher.start()
    oracle_feed = open_feed(zmq_context, matcher)
    orders_producer.send(flow.batch(300))
    outputs = collect(oracle_feed, until_seq=300)
    key, key_id = make_key(1010, "read")
    gateway = start_gateway(gateway_factory, matcher)
    eventually(lambda: key_id in gateway.key_cache.keys and gateway.market_feed.feeds[0].seq == 300, timeout_ms=30_000)
    stub = market_data_service_pb2_grpc.MarketDataServiceStub(channel_factory(gateway.port))

    book = stub.GetOrderBook(market_data_service_pb2.GetOrderBookRequest(symbol=SYMBOL, depth=DEPTH),
                             metadata=bearer(key))  # fmt: skip
    assert book.seq == 300
    assert (as_units(book.bids, SYMBOL), as_units(book.asks, SYMBOL)) == engine_depth(outputs, SYMBOL)
    assert book.bids or book.asks  # not an empty book compared with an empty book

    stream = stub.StreamMarketData(
        market_data_service_pb2.StreamMarketDataRequest(symbols=[SYMBOL], depth=DEPTH), metadata=bearer(key), timeout=60
    )
    first = next(stream)
    assert first.WhichOneof("event") == "book_snapshot"
    assert first.seq == 300
    view = BookView(SYMBOL)
    for price, qty in as_units(first.book_snapshot.bids, SYMBOL):
        view.apply(common_pb2.SIDE_BUY, price, qty)
    for price, qty in as_units(first.book_snapshot.asks, SYMBOL):
        view.apply(common_pb2.SIDE_SELL, price, qty)

    orders_producer.send(flow.batch(300))
    outputs += collect(oracle_feed, until_seq=600)
    oracle_feed.close()
    last_btc_seq = max(o.seq for o in outputs if any(d.symbol == SYMBOL for d in o.book_deltas))
    trades = 0
    market = CATALOG.markets[SYMBOL]
    for message in stream:
        kind = message.WhichOneof("event")
        assert kind in ("book_update", "trade", "heartbeat"), kind
        if kind == "book_update":
            update = message.book_update
            assert update.symbol == SYMBOL
            view.apply(update.side, parse_units(update.price, market.quote_scale),
                       parse_units(update.quantity, market.base_scale, allow_zero=True))  # fmt: skip
        elif kind == "trade":
            trades += 1
        if message.seq >= last_btc_seq and kind == "book_update":
            bids, asks = engine_depth(outputs, SYMBOL)
            if view.depth(DEPTH) == (bids, asks):
                break
    stream.cancel()
    assert view.depth(DEPTH) == engine_depth(outputs, SYMBOL)
    assert trades > 0


def test_slow_stream_client_is_cut_off_with_resource_exhausted(
    matcher: MatcherProcess, orders_producer: OrdersProducer, gateway_factory: Callable[..., Gateway],
    channel_factory: Callable[[int], grpc.Channel], make_key: Callable[..., tuple[str, str]],
) -> None:
    """A client that stops reading while thousands of book changes arrive is cut off (queue of 20 messages)
    with RESOURCE_EXHAUSTED, while a second, reading client of the same gateway keeps up to the last seq."""
    flow = OrderFlow(seed=6)
    matcher.start()
    key, key_id = make_key(1011, "read")
    gateway = start_gateway(gateway_factory, matcher, stream_queue_max=20)
    eventually(lambda: key_id in gateway.key_cache.keys and gateway.market_feed.is_ready(), timeout_ms=30_000)
    stub = market_data_service_pb2_grpc.MarketDataServiceStub(channel_factory(gateway.port))
    slow = stub.StreamMarketData(market_data_service_pb2.StreamMarketDataRequest(), metadata=bearer(key))
    assert next(slow).WhichOneof("event") == "book_snapshot"  # subscribed; now it stops reading

    orders_producer.send(flow.batch(3_000))
    eventually(lambda: gateway.market_feed.feeds[0].seq == 3_000, timeout_ms=60_000)
    eventually(lambda: gateway.metrics.registry.get_sample_value(
        "gateway_stream_clients_cut_total", {"reason": "slow_consumer"}) == 1.0, timeout_ms=30_000)  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        for _ in slow:
            pass
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert reason_of(caught.value) == "REJECT_REASON_RATE_LIMITED"  # type: ignore[arg-type]
    method = "/exchange.v1.MarketDataService/StreamMarketData"
    eventually(lambda: gateway.metrics.registry.get_sample_value(
        "gateway_requests_total", {"method": method, "code": "RESOURCE_EXHAUSTED"}) == 1.0)  # fmt: skip


def test_book_requests_are_validated(
    matcher: MatcherProcess, gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """An unknown market is NOT_FOUND and a depth above 500 INVALID_ARGUMENT, each with its reason; ListMarkets
    carries the config's steps as decimal strings."""
    matcher.start()
    key, key_id = make_key(1012, "read")
    gateway = start_gateway(gateway_factory, matcher)
    eventually(lambda: key_id in gateway.key_cache.keys and gateway.market_feed.is_ready(), timeout_ms=30_000)
    stub = market_data_service_pb2_grpc.MarketDataServiceStub(channel_factory(gateway.port))
    for request, code, reason in [
        (market_data_service_pb2.GetOrderBookRequest(symbol="NOPE"), grpc.StatusCode.NOT_FOUND,
         "REJECT_REASON_UNKNOWN_MARKET"),
        (market_data_service_pb2.GetOrderBookRequest(symbol=SYMBOL, depth=501), grpc.StatusCode.INVALID_ARGUMENT,
         "REJECT_REASON_INVALID_REQUEST"),
    ]:  # fmt: skip
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetOrderBook(request, metadata=bearer(key))
        assert caught.value.code() == code  # type: ignore[attr-defined]
        assert reason_of(caught.value) == reason  # type: ignore[arg-type]
    markets = {m.symbol: m for m in stub.ListMarkets(market_data_service_pb2.ListMarketsRequest(),
                                                     metadata=bearer(key)).markets}  # fmt: skip
    btc = markets[SYMBOL]
    assert (btc.tick, btc.lot, btc.min_notional) == ("0.010000", "0.00010000", "1.000000")
    assert (btc.maker_fee_rate, btc.taker_fee_rate) == ("0.001000", "0.002000")
    assert (btc.base_scale, btc.quote_scale) == (8, 6)
    assert (btc.max_price, btc.max_quantity) == ("10000000.000000", "10000.00000000")
    assert set(markets) == set(CATALOG.markets)


@pytest.fixture
def traders(
    matcher: MatcherProcess, orders_producer: OrdersProducer, gateway_factory: Callable[..., Gateway],
    channel_factory: Callable[[int], grpc.Channel], make_key: Callable[..., tuple[str, str]],
    aeron_directory: Path, streams: tuple[int, int],
) -> Iterator[tuple[trading_service_pb2_grpc.TradingServiceStub, str, str]]:
    """(stub, alice's key, bob's key): both may trade and read, through a gateway following the real matcher;
    UBSCore is the scripted stand-in, forwarding accepted orders to the matcher over Kafka."""
    matcher.start()
    ubscore = ScriptedUbscore(str(aeron_directory), streams[0], forward=orders_producer.send)
    ubscore.start()
    assert ubscore.ready.wait(10)
    try:
        alice, alice_id = make_key(1060, "trade", "read")
        bob, bob_id = make_key(1061, "trade", "read")
        gateway = start_gateway(
            gateway_factory, matcher, aeron_dir=str(aeron_directory), ubscore_stream_id=streams[0],
            ubscore_response_stream_id=streams[1],
        )
        eventually(lambda: {alice_id, bob_id} <= set(gateway.key_cache.keys) and gateway.market_feed.is_ready()
                   and gateway.ubscore.connected.is_set(), timeout_ms=30_000)  # fmt: skip
        yield trading_service_pb2_grpc.TradingServiceStub(channel_factory(gateway.port)), alice, bob
    finally:
        ubscore.stopping.set()
        ubscore.join(10)
    assert not ubscore.errors, ubscore.errors


def test_place_order_waits_for_the_matchers_first_result(
    traders: tuple[trading_service_pb2_grpc.TradingServiceStub, str, str],
) -> None:
    """The seed's trade with result_wait_ms: Bob's sell rests (NEW), Alice's IOC buy comes back FILLED with its fill
    (0.5 BTC at 45000, taker fee 0.001 BTC), and an IOC with nothing to meet comes back EXPIRED, IOC_NOT_FILLED."""
    stub, alice, bob = traders

    def order(coid: str, side: int, tif: int) -> trading_service_pb2.PlaceOrderRequest:
        return trading_service_pb2.PlaceOrderRequest(
            symbol=SYMBOL, side=side, order_type=common_pb2.ORDER_TYPE_LIMIT, time_in_force=tif,
            price="45000.00", quantity="0.5", client_order_id=coid, result_wait_ms=5_000,
        )

    sell = stub.PlaceOrder(order("bob-1", common_pb2.SIDE_SELL, common_pb2.TIME_IN_FORCE_GTC), metadata=bearer(bob))
    assert (sell.status, sell.order.status, list(sell.fills)) == (
        common_pb2.ORDER_STATUS_NEW, common_pb2.ORDER_STATUS_NEW, []
    )
    buy = stub.PlaceOrder(order("alice-1", common_pb2.SIDE_BUY, common_pb2.TIME_IN_FORCE_IOC), metadata=bearer(alice))
    assert (buy.status, buy.order.filled_quantity, buy.order.remaining_quantity) == (
        common_pb2.ORDER_STATUS_FILLED, "0.50000000", "0.00000000"
    )
    [fill] = buy.fills
    assert (fill.price, fill.quantity, fill.quote_quantity) == ("45000.000000", "0.50000000", "22500.000000")
    assert (fill.fee, fill.fee_asset, fill.is_maker, fill.side) == ("0.00100000", "BTC", False, common_pb2.SIDE_BUY)
    unmet = stub.PlaceOrder(order("alice-2", common_pb2.SIDE_BUY, common_pb2.TIME_IN_FORCE_IOC),
                            metadata=bearer(alice))  # fmt: skip
    assert (unmet.status, unmet.order.reason) == (
        common_pb2.ORDER_STATUS_EXPIRED, common_pb2.REJECT_REASON_IOC_NOT_FILLED
    )


def test_get_order_answers_the_latest_state_before_the_database_has_it(
    traders: tuple[trading_service_pb2_grpc.TradingServiceStub, str, str],
) -> None:
    """No Settlement runs, so the database never stores these orders: GetOrder still finds Bob's sell right after
    PlaceOrder answered (by id and by client order id), then FILLED once Alice's buy met it; Alice asking for
    Bob's order is PERMISSION_DENIED; an order nobody placed stays NOT_FOUND."""
    stub, alice, bob = traders

    def place(key: str, coid: str, side: int) -> int:
        answer = stub.PlaceOrder(trading_service_pb2.PlaceOrderRequest(
            symbol=SYMBOL, side=side, order_type=common_pb2.ORDER_TYPE_LIMIT, price="45000.00", quantity="0.5",
            client_order_id=coid), metadata=bearer(key))  # fmt: skip
        return answer.order_id

    def status_of(key: str, **name: object) -> int:
        request = trading_service_pb2.GetOrderRequest(**name)  # type: ignore[arg-type]
        try:
            return stub.GetOrder(request, metadata=bearer(key)).order.status
        except grpc.RpcError as error:
            if reason_of(error) != "REJECT_REASON_NOT_FOUND":
                raise
            return -1

    sell_id = place(bob, "bob-9", common_pb2.SIDE_SELL)
    eventually(lambda: status_of(bob, order_id=sell_id) == common_pb2.ORDER_STATUS_NEW, timeout_ms=10_000)
    by_client_id = stub.GetOrder(trading_service_pb2.GetOrderRequest(client_order_id="bob-9"), metadata=bearer(bob))
    assert (by_client_id.order.order_id, by_client_id.order.price, by_client_id.order.quantity) == (
        sell_id, "45000.000000", "0.50000000")
    place(alice, "alice-9", common_pb2.SIDE_BUY)
    eventually(lambda: status_of(bob, order_id=sell_id) == common_pb2.ORDER_STATUS_FILLED, timeout_ms=10_000)
    assert status_of(alice, client_order_id="alice-9") == common_pb2.ORDER_STATUS_FILLED
    with pytest.raises(grpc.RpcError) as denied:
        stub.GetOrder(trading_service_pb2.GetOrderRequest(order_id=sell_id), metadata=bearer(alice))
    assert reason_of(denied.value) == "REJECT_REASON_PERMISSION_DENIED"
    assert status_of(bob, order_id=sell_id + 1_000) == -1


def test_books_and_stream_span_two_matcher_shards(
    matcher_factory: Callable[..., MatcherProcess], orders_producer: OrdersProducer, zmq_context: zmq.Context,
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """Two shards split the topic's partitions (so the markets): each market's book is served from the shard that
    owns it and equals a fresh engine fed that shard's inputs; one stream of every market ends equal to them too."""
    shards = [matcher_factory(shard_id=0, partitions="0,2"), matcher_factory(shard_id=1, partitions="1,3")]
    for shard in shards:
        shard.start()
    feeds = [open_feed(zmq_context, shard) for shard in shards]
    key, key_id = make_key(1013, "read")
    gateway = gateway_factory(matcher_feeds_text=",".join(
        f"{shard.env['MATCHER_SHARD_ID']}={shard.pub_endpoint}|{shard.replay_endpoint}" for shard in shards
    ))  # fmt: skip
    eventually(lambda: key_id in gateway.key_cache.keys and gateway.market_feed.is_ready(), timeout_ms=30_000)
    stub = market_data_service_pb2_grpc.MarketDataServiceStub(channel_factory(gateway.port))
    stream = stub.StreamMarketData(market_data_service_pb2.StreamMarketDataRequest(depth=DEPTH), metadata=bearer(key),
                                   timeout=60)  # fmt: skip
    views = {symbol: BookView(symbol) for symbol in CATALOG.markets}
    for _ in CATALOG.markets:  # a snapshot per market first, all empty: nothing was traded yet
        snapshot = next(stream).book_snapshot
        assert snapshot.symbol in CATALOG.markets
        assert not snapshot.bids
        assert not snapshot.asks

    orders_producer.send(OrderFlow(seed=8).batch(400))
    outputs: list[list[engine_pb2.EngineOutput]] = [[], []]

    def all_outputs_collected() -> bool:
        for index, feed in enumerate(feeds):
            outputs[index].extend(feed.poll(timeout_ms=20))
        return sum(len(shard_outputs) for shard_outputs in outputs) == 400

    eventually(all_outputs_collected, timeout_ms=60_000)
    for feed in feeds:
        feed.close()
    owners = {o.input.command.place.symbol or o.input.command.cancel.symbol: i for i in (0, 1) for o in outputs[i]}
    assert set(owners.values()) == {0, 1}, owners  # the markets really are split between the shards
    for symbol, shard in owners.items():
        expected = engine_depth(outputs[shard], symbol)
        eventually(lambda symbol=symbol, shard=shard: gateway.market_feed.owner(symbol).shard_id == shard)

        def book_of(symbol: str = symbol) -> market_data_service_pb2.GetOrderBookResponse:
            return stub.GetOrderBook(market_data_service_pb2.GetOrderBookRequest(symbol=symbol, depth=DEPTH),
                                     metadata=bearer(key))  # fmt: skip

        # The gateway reads the shard's feed on its own subscription, behind or ahead of the test's: its book is
        # awaited at the shard's last seq, then compared.
        eventually(lambda book_of=book_of, shard=shard: book_of().seq == outputs[shard][-1].seq, timeout_ms=60_000)
        book = book_of()
        assert (as_units(book.bids, symbol), as_units(book.asks, symbol)) == expected
        assert book.seq == outputs[shard][-1].seq

    expected_books = {symbol: engine_depth(outputs[shard], symbol) for symbol, shard in owners.items()}
    for message in stream:
        if message.WhichOneof("event") == "book_update":
            update, market = message.book_update, CATALOG.markets[message.book_update.symbol]
            views[update.symbol].apply(update.side, parse_units(update.price, market.quote_scale),
                                       parse_units(update.quantity, market.base_scale, allow_zero=True))  # fmt: skip
        if all(views[symbol].depth(DEPTH) == books for symbol, books in expected_books.items()):
            break
    stream.cancel()
    assert all(views[symbol].depth(DEPTH) == books for symbol, books in expected_books.items())
