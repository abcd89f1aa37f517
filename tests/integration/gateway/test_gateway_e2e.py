"""The seed's scenario end to end: a real gateway in front of the real UBSCore and matcher (subprocesses, private
topics, Kafka, the Aeron driver), over gRPC and over REST (the real proxy), followed on both users' private streams.

Alice deposits 100,000 USDT, Bob 10 BTC; Bob sells 0.5 BTC at 45,000 (gRPC); Alice buys 0.5 BTC at 45,000 (REST,
POST /orders, waiting for the result). Both see the trade, their order states and their exact balances after fees
(taker 0.2 % on what Alice receives, maker 0.1 % on what Bob receives) on their streams. Balances are read from
the streams because the balance query waits for Settlement's tables; an order's lock is the exception: it shows in
GetBalances as soon as PlaceOrder answers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    common_pb2,
    trading_service_pb2,
    trading_service_pb2_grpc,
)
from gateway.app import Gateway

from ...contracts.conftest import http, start_proxy, stop_proxy
from ..ubscore.conftest import Stack
from .calls import StreamReader, bearer, reason_of
from .conftest import eventually

pytestmark = pytest.mark.integration


def balances(reader: StreamReader) -> dict[str, tuple[str, str]]:
    """(available, frozen) per asset after the last balance change the stream delivered."""
    last: dict[str, tuple[str, str]] = {}
    for message in reader.seen:
        if message.HasField("balance_change"):
            change = message.balance_change
            last[change.asset] = (change.available, change.frozen)
    return last


def test_seed_scenario_over_grpc_rest_and_private_streams(
    stack: Stack, gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], proxy_binary: Path, tmp_path: Path,
) -> None:
    """Deposits complete, Bob's sell rests, Alice's REST buy fills at once, both streams end with the exact
    balances; an unfunded withdrawal comes back REJECTED, an unfunded order FAILED_PRECONDITION; Alice's cancel of
    Bob's open order is PERMISSION_DENIED, Bob's own goes through."""
    stack.matcher.start()
    stack.ubscore.start()
    operator, operator_id = make_key(5000, "transfer")
    alice, alice_id = make_key(1001, "trade", "read")
    bob, bob_id = make_key(1002, "trade", "read")
    gateway = gateway_factory(
        matcher_pub_endpoint=stack.matcher.env["MATCHER_PUB_ENDPOINT"],
        matcher_replay_endpoint=stack.matcher.env["MATCHER_REPLAY_ENDPOINT"], matcher_shard_id=0,
        aeron_dir=stack.aeron_dir, ubscore_stream_id=stack.request_stream_id,
        ubscore_response_stream_id=stack.request_stream_id + 1_000, transfer_topic=stack.topics.operations,
        balance_events_topic=stack.topics.events,
    )
    eventually(lambda: {operator_id, alice_id, bob_id} <= set(gateway.key_cache.keys)
               and gateway.ubscore.connected.is_set() and gateway.market_feed.is_ready()
               and gateway.balance_events.ready.is_set(), timeout_ms=60_000)  # fmt: skip
    channel = channel_factory(gateway.port)
    account = account_service_pb2_grpc.AccountServiceStub(channel)
    trading = trading_service_pb2_grpc.TradingServiceStub(channel)
    streams = {}
    for name, key in (("alice", alice), ("bob", bob)):
        stream = account.StreamUserData(account_service_pb2.StreamUserDataRequest(), metadata=bearer(key))
        assert next(stream).HasField("heartbeat")
        streams[name] = StreamReader(stream)
        streams[name].start()

    for request_id, user_id, asset, amount in (("dep-alice", 1001, "USDT", "100000"), ("dep-bob", 1002, "BTC", "10")):
        deposit = account.TransferIn(account_service_pb2.TransferInRequest(
            request_id=request_id, user_id=user_id, asset=asset, amount=amount, result_wait_ms=5_000,
        ), metadata=bearer(operator)).transfer  # fmt: skip
        assert deposit.status == account_service_pb2.TRANSFER_STATUS_COMPLETED, deposit

    sell = trading.PlaceOrder(trading_service_pb2.PlaceOrderRequest(
        symbol="BTC_USDT", side=common_pb2.SIDE_SELL, order_type=common_pb2.ORDER_TYPE_LIMIT, price="45000.00",
        quantity="0.5", client_order_id="bob-1", result_wait_ms=5_000,
    ), metadata=bearer(bob))  # fmt: skip
    assert (sell.status, sell.locked, sell.locked_asset) == (common_pb2.ORDER_STATUS_NEW, "0.50000000", "BTC")

    proxy = start_proxy(proxy_binary, f"127.0.0.1:{gateway.port}", tmp_path / "rest.log")
    try:
        buy = http("POST", proxy.base_url + "/orders", {
            "symbol": "BTC_USDT", "side": "SIDE_BUY", "order_type": "ORDER_TYPE_LIMIT", "price": "45000.00",
            "quantity": "0.5", "client_order_id": "alice-1", "result_wait_ms": 5000,
        }, {"Authorization": f"Bearer {alice}"})  # fmt: skip
    finally:
        stop_proxy(proxy)
    assert buy.status == 200, buy
    assert (buy.body["status"], buy.body["locked"]) == ("ORDER_STATUS_FILLED", "22500.000000")  # type: ignore[index]
    [fill] = buy.body["fills"]  # type: ignore[index]
    assert (fill["price"], fill["quantity"], fill["fee"], fill["fee_asset"]) == (
        "45000.000000", "0.50000000", "0.00100000", "BTC"
    )

    alice_stream, bob_stream = streams["alice"], streams["bob"]
    alice_stream.until(lambda m: m.order_update.status == common_pb2.ORDER_STATUS_FILLED)
    bob_stream.until(lambda m: m.order_update.status == common_pb2.ORDER_STATUS_FILLED)
    alice_stream.until(lambda m: balances(alice_stream).get("BTC") == ("0.49900000", "0.00000000"))
    alice_stream.until(lambda m: balances(alice_stream).get("USDT") == ("77500.000000", "0.000000"))
    bob_stream.until(lambda m: balances(bob_stream).get("USDT") == ("22477.500000", "0.000000"))
    bob_stream.until(lambda m: balances(bob_stream).get("BTC") == ("9.50000000", "0.00000000"))
    bob_stream.until(lambda m: m.HasField("fill"))  # offered just after the order update of the same output
    [bob_fill] = [m.fill for m in bob_stream.seen if m.HasField("fill")]
    assert (bob_fill.is_maker, bob_fill.fee, bob_fill.fee_asset) == (True, "22.500000", "USDT")

    refused = account.TransferOut(account_service_pb2.TransferOutRequest(
        request_id="wd-alice", user_id=1001, asset="BTC", amount="1", result_wait_ms=5_000,
    ), metadata=bearer(operator)).transfer  # fmt: skip
    assert (refused.status, refused.reason) == (
        account_service_pb2.TRANSFER_STATUS_REJECTED, common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS
    )
    with pytest.raises(grpc.RpcError) as unfunded:
        trading.PlaceOrder(trading_service_pb2.PlaceOrderRequest(
            symbol="BTC_USDT", side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_LIMIT, price="45000.00",
            quantity="2", client_order_id="alice-2",
        ), metadata=bearer(alice))  # fmt: skip
    assert unfunded.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert reason_of(unfunded.value) == "REJECT_REASON_INSUFFICIENT_FUNDS"  # type: ignore[arg-type]

    for n in range(1, 4):  # each lock shows in GetBalances as soon as PlaceOrder answers (read your writes)
        trading.PlaceOrder(trading_service_pb2.PlaceOrderRequest(
            symbol="BTC_USDT", side=common_pb2.SIDE_SELL, order_type=common_pb2.ORDER_TYPE_LIMIT,
            price=f"{60000 + n}.00", quantity="0.01", client_order_id=f"bob-lock-{n}",
        ), metadata=bearer(bob))  # fmt: skip
        [btc] = [b for b in account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=bearer(bob)).balances
                 if b.asset == "BTC"]  # fmt: skip
        assert (btc.available, btc.frozen) == (f"{9.5 - n / 100:.8f}", f"{n / 100:.8f}")

    resting = trading.PlaceOrder(trading_service_pb2.PlaceOrderRequest(
        symbol="BTC_USDT", side=common_pb2.SIDE_SELL, order_type=common_pb2.ORDER_TYPE_LIMIT, price="50000.00",
        quantity="0.1", client_order_id="bob-2",
    ), metadata=bearer(bob))  # fmt: skip
    with pytest.raises(grpc.RpcError) as not_hers:
        trading.CancelOrder(trading_service_pb2.CancelOrderRequest(order_id=resting.order_id), metadata=bearer(alice))
    assert not_hers.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert reason_of(not_hers.value) == "REJECT_REASON_PERMISSION_DENIED"  # type: ignore[arg-type]
    canceled = trading.CancelOrder(trading_service_pb2.CancelOrderRequest(order_id=resting.order_id),
                                   metadata=bearer(bob))  # fmt: skip
    assert (canceled.order_id, canceled.client_order_id) == (resting.order_id, "bob-2")
