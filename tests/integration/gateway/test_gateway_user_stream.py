"""The private user stream over a real gateway: order updates and fills from a real matcher, balance changes from
a private balance-events topic on the real Kafka, each only to its own user.

UBSCore is the forwarding stand-in (scripted_ubscore.py) for orders; the balance events are produced to the
test's topic exactly as UBSCore writes them (BalanceEvent keyed by user).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from common.kafka import create_topic, delete_topic, flush_or_raise, make_producer
from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    balance_pb2,
    common_pb2,
    trading_service_pb2,
    trading_service_pb2_grpc,
)
from gateway.app import Gateway

from ..matcher.conftest import MatcherProcess, OrdersProducer
from .calls import StreamReader, bearer
from .conftest import eventually
from .scripted_ubscore import ScriptedUbscore

pytestmark = pytest.mark.integration


@pytest.fixture
def balance_events_topic(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh topic standing in for balance.events, deleted afterwards."""
    topic = f"balance.events.test.{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap, topic, partitions=4)
    yield topic
    delete_topic(kafka_bootstrap, topic)


def publish(kafka_bootstrap: str, topic: str, *events: balance_pb2.BalanceEvent) -> None:
    """Produce balance events as UBSCore writes them (keyed by user) and wait until Kafka has them."""
    producer = make_producer(kafka_bootstrap, client_id="user-stream-test")
    for event in events:
        producer.produce(topic, key=str(event.user_id).encode(), value=event.SerializeToString())
    flush_or_raise(producer, timeout_s=30)


def test_each_user_sees_only_their_orders_fills_and_balance_changes(
    matcher: MatcherProcess, orders_producer: OrdersProducer, gateway_factory: Callable[..., Gateway],
    channel_factory: Callable[[int], grpc.Channel], make_key: Callable[..., tuple[str, str]],
    aeron_directory: Path, streams: tuple[int, int], balance_events_topic: str, kafka_bootstrap: str,
) -> None:
    """Bob sells, Alice buys: Alice's stream shows her order FILLED and her taker fill; Bob's shows his maker fill;
    a balance event of Alice reaches Alice only."""
    matcher.start()
    ubscore = ScriptedUbscore(str(aeron_directory), streams[0], forward=orders_producer.send)
    ubscore.start()
    assert ubscore.ready.wait(10)
    try:
        alice, alice_id = make_key(1070, "trade", "read")
        bob, bob_id = make_key(1071, "trade", "read")
        gateway = gateway_factory(
            matcher_pub_endpoint=matcher.pub_endpoint, matcher_replay_endpoint=matcher.replay_endpoint,
            matcher_shard_id=int(matcher.env["MATCHER_SHARD_ID"]), aeron_dir=str(aeron_directory),
            ubscore_stream_id=streams[0], ubscore_response_stream_id=streams[1],
            balance_events_topic=balance_events_topic,
        )
        eventually(lambda: {alice_id, bob_id} <= set(gateway.key_cache.keys) and gateway.market_feed.is_ready()
                   and gateway.ubscore.connected.is_set() and gateway.balance_events.ready.is_set(),
                   timeout_ms=30_000)  # fmt: skip
        channel = channel_factory(gateway.port)
        account = account_service_pb2_grpc.AccountServiceStub(channel)
        readers = {}
        for name, key in (("alice", alice), ("bob", bob)):
            stream = account.StreamUserData(account_service_pb2.StreamUserDataRequest(), metadata=bearer(key))
            assert next(stream).WhichOneof("event") == "heartbeat"  # open: later events reach it
            readers[name] = StreamReader(stream)
            readers[name].start()

        trading = trading_service_pb2_grpc.TradingServiceStub(channel)
        for key, coid, side in ((bob, "bob-1", common_pb2.SIDE_SELL), (alice, "alice-1", common_pb2.SIDE_BUY)):
            trading.PlaceOrder(trading_service_pb2.PlaceOrderRequest(
                symbol="BTC_USDT", side=side, order_type=common_pb2.ORDER_TYPE_LIMIT, price="45000.00",
                quantity="0.5", client_order_id=coid), metadata=bearer(key))  # fmt: skip
        publish(kafka_bootstrap, balance_events_topic, balance_pb2.BalanceEvent(
            event_id=1, user_id=1070, asset_id=2, type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED,
            delta_available_units=100_000_000_000, available_units=100_000_000_000, version=1, request_id="dep-1",
        ))

        alice_reader, bob_reader = readers["alice"], readers["bob"]
        alice_reader.until(lambda m: m.WhichOneof("event") == "balance_change")
        alice_reader.until(lambda m: m.WhichOneof("event") == "fill")
        alice_reader.until(lambda m: m.order_update.status == common_pb2.ORDER_STATUS_FILLED)
        bob_reader.until(lambda m: m.WhichOneof("event") == "fill")
        [alice_fill] = [m.fill for m in alice_reader.seen if m.WhichOneof("event") == "fill"]
        assert (alice_fill.client_order_id, alice_fill.is_maker, alice_fill.fee_asset) == ("alice-1", False, "BTC")
        [bob_fill] = [m.fill for m in bob_reader.seen if m.WhichOneof("event") == "fill"]
        assert (bob_fill.client_order_id, bob_fill.is_maker, bob_fill.fee_asset) == ("bob-1", True, "USDT")
        [change] = [m.balance_change for m in alice_reader.seen if m.WhichOneof("event") == "balance_change"]
        assert (change.asset, change.delta_available, change.request_id) == ("USDT", "100000.000000", "dep-1")
        bob_orders = [m.order_update for m in bob_reader.seen if m.HasField("order_update")]
        assert bob_orders
        assert all(order.client_order_id == "bob-1" for order in bob_orders)
        assert not any(m.HasField("balance_change") for m in bob_reader.seen)
    finally:
        ubscore.stopping.set()
        ubscore.join(10)
    assert not ubscore.errors, ubscore.errors


def test_a_stream_opened_after_a_change_not_yet_stored_has_it_in_its_snapshot(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], balance_events_topic: str, kafka_bootstrap: str,
) -> None:
    """No Settlement runs, so the database never stores Carol's deposit. A first stream sees it live; a second
    one, opened afterwards, would see it neither live (already handed out) nor in a snapshot read from the
    database alone: its snapshot holds it, from what the gateway saw, and so does GetBalances."""
    carol, carol_id = make_key(1072, "read")
    gateway = gateway_factory(balance_events_topic=balance_events_topic)
    eventually(lambda: carol_id in gateway.key_cache.keys and gateway.balance_events.ready.is_set(),
               timeout_ms=30_000)  # fmt: skip
    account = account_service_pb2_grpc.AccountServiceStub(channel_factory(gateway.port))

    def open_stream() -> StreamReader:
        stream = account.StreamUserData(account_service_pb2.StreamUserDataRequest(), metadata=bearer(carol))
        assert next(stream).WhichOneof("event") == "heartbeat"
        reader = StreamReader(stream)
        reader.start()
        reader.until(lambda m: m.WhichOneof("event") == "balance_snapshot")
        return reader

    first = open_stream()
    assert list(first.seen[0].balance_snapshot.balances) == []
    publish(kafka_bootstrap, balance_events_topic, balance_pb2.BalanceEvent(
        event_id=1, user_id=1072, asset_id=2, type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED,
        delta_available_units=2_500_000_000, available_units=2_500_000_000, version=1, request_id="dep-carol",
    ))
    first.until(lambda m: m.WhichOneof("event") == "balance_change")

    second = open_stream()

    [snapshot] = [m.balance_snapshot for m in second.seen if m.WhichOneof("event") == "balance_snapshot"]
    assert [(b.asset, b.available, b.frozen, b.version) for b in snapshot.balances] == [
        ("USDT", "2500.000000", "0.000000", 1)]
    balances = account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=bearer(carol)).balances
    assert list(balances) == list(snapshot.balances)  # GetBalances, too, reads what the gateway saw


def test_a_change_made_before_the_gateway_started_is_in_the_snapshot_not_replayed_live(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], balance_events_topic: str, kafka_bootstrap: str,
) -> None:
    """Dave's deposit is on the topic before the gateway starts and never in the database: the starting gateway
    reads the topic's recent history into its snapshots, and hands none of it to the streams as live changes."""
    dave, dave_id = make_key(1073, "read")
    publish(kafka_bootstrap, balance_events_topic, *(balance_pb2.BalanceEvent(
        event_id=version, user_id=1073, asset_id=1, type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED,
        delta_available_units=delta_units, available_units=available_units, version=version,
        request_id=f"dep-dave-{version}",
    ) for version, delta_units, available_units in ((1, 700_000, 700_000), (2, 200_000, 900_000))))
    gateway = gateway_factory(balance_events_topic=balance_events_topic)
    eventually(lambda: dave_id in gateway.key_cache.keys and gateway.balance_events.ready.is_set(),
               timeout_ms=30_000)  # fmt: skip
    account = account_service_pb2_grpc.AccountServiceStub(channel_factory(gateway.port))

    def snapshot() -> list[tuple[str, str, int]]:
        stream = account.StreamUserData(account_service_pb2.StreamUserDataRequest(), metadata=bearer(dave))
        try:
            assert next(stream).WhichOneof("event") == "heartbeat"
            opening = next(stream)
            return [(b.asset, b.available, b.version) for b in opening.balance_snapshot.balances]
        finally:
            stream.cancel()

    eventually(lambda: snapshot() == [("BTC", "0.00900000", 2)], timeout_ms=30_000)
    stream = account.StreamUserData(account_service_pb2.StreamUserDataRequest(), metadata=bearer(dave))
    reader = StreamReader(stream)
    reader.start()
    reader.until(lambda m: m.WhichOneof("event") == "balance_snapshot")
    publish(kafka_bootstrap, balance_events_topic, balance_pb2.BalanceEvent(
        event_id=3, user_id=1073, asset_id=1, type=balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWN,
        delta_available_units=-100_000, available_units=800_000, version=3, request_id="wd-dave-3",
    ))
    reader.until(lambda m: m.WhichOneof("event") == "balance_change")
    stream.cancel()
    assert [m.balance_change.version for m in reader.seen if m.WhichOneof("event") == "balance_change"] == [3]
