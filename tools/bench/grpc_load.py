"""The gateway benchmark's load client: one RPC driven from its own process, many calls in flight.

Runs in a child process (spawned by tools.bench.gateway_bench), so the client has its own interpreter and GIL and
the gateway's process holds the server alone: a profile of the gateway's pid shows the server's cost only. One
asyncio event loop keeps `concurrency` calls in flight (grpc.aio: no thread per call on the client side either),
for a warm-up and then `seconds`, and returns the measured calls per second and every latency.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from exchange.v1 import common_pb2, market_data_service_pb2, trading_service_pb2

ECHO_METHOD = "/bench.Echo/Echo"
WARMUP_S = 1.0
BATCH_ORDERS = 1_000
CALL_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """What to drive: `rpc` on 127.0.0.1:`port` with `key`, `concurrency` calls in flight, for `seconds`."""

    port: int
    key: str
    rpc: str  # echo, GetServerTime, ListMarkets, PlaceOrder, PlaceOrders
    seconds: float
    concurrency: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Measured:
    """Items per second (orders for PlaceOrders, calls otherwise) and call latencies in ns, sorted; `items_total`
    counts the warm-up too (to divide the server's CPU time of the whole run by)."""

    items_per_s: float
    latencies_ns: list[int]
    items_total: int


def drive(load: Load) -> Measured:
    """Run `load` to completion in this process (the child's entry point)."""
    return asyncio.run(_drive(load))


def _caller(channel: grpc.aio.Channel, load: Load) -> tuple[Callable[[], Awaitable[object]], int]:
    """The call to repeat and how many items one call carries."""
    metadata = (("authorization", f"Bearer {load.key}"),)
    ids = itertools.count()
    prefix = uuid.uuid4().hex[:8]  # client order ids unique across runs against the same UBSCore

    def order() -> trading_service_pb2.PlaceOrderRequest:
        return trading_service_pb2.PlaceOrderRequest(
            symbol="BTC_USDT", side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_LIMIT, price="1000.00",
            quantity="0.01", client_order_id=f"{prefix}-{next(ids)}",
        )

    if load.rpc == "echo":
        echo = channel.unary_unary(ECHO_METHOD, request_serializer=None, response_deserializer=None)
        return (lambda: echo(b"x" * 32, timeout=CALL_TIMEOUT_S)), 1
    if load.rpc in ("GetServerTime", "ListMarkets"):
        method = f"/exchange.v1.MarketDataService/{load.rpc}"
        request_type = getattr(market_data_service_pb2, f"{load.rpc}Request")
        call = channel.unary_unary(method, request_serializer=request_type.SerializeToString,
                                   response_deserializer=lambda data: data)  # fmt: skip
        return (lambda: call(request_type(), metadata=metadata, timeout=CALL_TIMEOUT_S)), 1
    if load.rpc == "PlaceOrder":
        place = channel.unary_unary(
            "/exchange.v1.TradingService/PlaceOrder",
            request_serializer=trading_service_pb2.PlaceOrderRequest.SerializeToString,
            response_deserializer=trading_service_pb2.PlaceOrderResponse.FromString,
        )

        async def place_one() -> None:
            response = await place(order(), metadata=metadata, timeout=CALL_TIMEOUT_S)
            assert response.order_id > 0, response

        return place_one, 1
    assert load.rpc == "PlaceOrders", load.rpc
    place_many = channel.unary_unary(
        "/exchange.v1.TradingService/PlaceOrders",
        request_serializer=trading_service_pb2.PlaceOrdersRequest.SerializeToString,
        response_deserializer=trading_service_pb2.PlaceOrdersResponse.FromString,
    )

    async def place_batch() -> None:
        request = trading_service_pb2.PlaceOrdersRequest(orders=[order() for _ in range(BATCH_ORDERS)])
        response = await place_many(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        assert all(result.WhichOneof("outcome") == "accepted" for result in response.results), response.results[0]

    return place_batch, BATCH_ORDERS


async def _drive(load: Load) -> Measured:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{load.port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        call, items_per_call = _caller(channel, load)
        state = {"stop": False, "measuring": False}
        latencies: list[int] = []
        calls = [0]

        async def worker() -> None:
            while not state["stop"]:
                started_ns = time.monotonic_ns()
                await call()
                calls[0] += 1
                if state["measuring"]:
                    latencies.append(time.monotonic_ns() - started_ns)

        tasks = [asyncio.create_task(worker()) for _ in range(load.concurrency)]
        await asyncio.sleep(WARMUP_S)  # a benchmark's warm-up, not a test waiting for a condition
        state["measuring"] = True
        started_ns = time.monotonic_ns()
        await asyncio.sleep(load.seconds)
        state["measuring"] = False
        elapsed_s = (time.monotonic_ns() - started_ns) / 1e9
        state["stop"] = True
        await asyncio.gather(*tasks)
    return Measured(items_per_s=len(latencies) * items_per_call / elapsed_s, latencies_ns=sorted(latencies),
                    items_total=calls[0] * items_per_call)  # fmt: skip
