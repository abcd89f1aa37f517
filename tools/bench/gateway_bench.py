"""Gateway benchmark: the cost of the gateway's call path beside a trivial echo RPC on the same grpcio server.

    .venv/bin/python -m tools.bench.gateway_bench [--seconds 5] [--threads 4]

Builds a real gateway (gateway.app: CQL key cache on a private keyspace, Kafka, no matcher feed, no UBSCore)
with an extra echo method registered on the same server, then for each RPC runs `--threads` client threads in
this process for `--seconds` and reports calls/s and latency percentiles:

- echo: bytes in, same bytes out; passes the metrics interceptor and the error boundary like every call;
- GetServerTime: the cheapest exchange RPC, through auth (key lookup, role) and the rate limiter too;
- ListMarkets: the same path with a larger response;
- PlaceOrder: unary order entry through the real UBSCore (`python -m ubscore` as a subprocess on the shared
  media driver, private topics and stream ids, funded accounts, no matcher: orders rest as UBSCore accepted them);
- PlaceOrders: batches of 1000 through the same UBSCore (one thread; calls/s counts orders).

Client and server share one process (as CEILINGS.md measured grpcio), so the numbers are the server's cost plus
the client's; UBSCore (and whatever else runs) shares the machine's cores. Writes bench-results/gateway.json.
Not a test: numbers depend on the machine and its load. Targets (issue 10): unary order entry at 80 % of echo,
batches at 50,000 orders/s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import grpc

from common.kafka import BOOTSTRAP_DEFAULT, create_topic, delete_topic
from exchange.v1 import (
    common_pb2,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    trading_service_pb2,
    trading_service_pb2_grpc,
)
from gateway.api_keys import ApiKeyStore, parse_roles
from gateway.app import build_gateway
from gateway.config import GatewayConfig
from gateway.rate_limit import parse_rate_limits
from tools.bench.ubscore_bench import USERS, deposit_funds, free_port, wait_for_deposits
from tools.infra import cassandra
from tools.infra.layout import CQL_KEYSPACE, aeron_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
BATCH_ORDERS = 1_000

RESULTS_DIR = REPO_ROOT / "bench-results"
ECHO_METHOD = "/bench.Echo/Echo"
WARMUP_S = 1.0


@dataclass(slots=True, kw_only=True)
class Row:
    """One RPC's result."""

    rpc: str
    calls_per_s: float
    latency_us_p50: float
    latency_us_p99: float
    ratio_to_echo: float = 0.0


def echo_handler() -> grpc.GenericRpcHandler:
    """A generic handler answering ECHO_METHOD with its request bytes."""
    identity = grpc.unary_unary_rpc_method_handler(
        lambda request, context: request, request_deserializer=None, response_serializer=None
    )
    return grpc.method_handlers_generic_handler("bench.Echo", {"Echo": identity})


def run(call: Callable[[], object], *, seconds: float, threads: int) -> tuple[float, list[int]]:
    """(calls per second, latencies in ns) of `call` from `threads` threads for `seconds` after a warm-up."""
    stop = threading.Event()
    measuring = threading.Event()
    latencies: list[list[int]] = [[] for _ in range(threads)]

    def worker(index: int) -> None:
        mine = latencies[index]
        while not stop.is_set():
            started_ns = time.monotonic_ns()
            call()
            if measuring.is_set():
                mine.append(time.monotonic_ns() - started_ns)

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    time.sleep(WARMUP_S)  # a benchmark's warm-up, not a test waiting for a condition
    measuring.set()
    started_ns = time.monotonic_ns()
    time.sleep(seconds)
    measuring.clear()
    elapsed_s = (time.monotonic_ns() - started_ns) / 1e9
    stop.set()
    for thread in pool:
        thread.join(30)
    merged = sorted(latency for mine in latencies for latency in mine)
    return len(merged) / elapsed_s, merged


def percentile_us(sorted_ns: list[int], fraction: float) -> float:
    """The `fraction` percentile of sorted nanosecond latencies, in microseconds."""
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * fraction))] / 1_000


@contextmanager
def ubscore_subprocess(stream_id: int) -> Iterator[None]:
    """`python -m ubscore` on private topics and `stream_id` of the shared driver, its users funded; stopped after."""
    tag = uuid.uuid4().hex[:10]
    topics = [f"balance.operations.bench.{tag}", f"balance.events.bench.{tag}", f"orders.bench.{tag}"]
    for topic in topics:
        create_topic(BOOTSTRAP_DEFAULT, topic, partitions=4)
    metrics_port = free_port()
    with TemporaryDirectory(prefix="gateway-bench-ubscore-") as state_dir:
        env = dict(os.environ, UBSCORE_OPERATIONS_TOPIC=topics[0], UBSCORE_EVENTS_TOPIC=topics[1],
                   UBSCORE_ORDERS_TOPIC=topics[2], UBSCORE_AERON_DIR=str(aeron_dir()),
                   UBSCORE_AERON_STREAM_ID=str(stream_id), UBSCORE_FEEDS="", UBSCORE_METRICS_PORT=str(metrics_port),
                   UBSCORE_STATE_DIR=state_dir, UBSCORE_IN_FLIGHT_MAX="10000000")  # fmt: skip
        deposit_funds(BOOTSTRAP_DEFAULT, topics[0])
        service = subprocess.Popen([sys.executable, "-m", "ubscore"], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_for_deposits(metrics_port, 2 * len(USERS))
            yield
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
            for topic in topics:
                delete_topic(BOOTSTRAP_DEFAULT, topic)


def main() -> int:
    """Build, measure, print, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    keyspace = f"gw_bench_{uuid.uuid4().hex[:12]}"
    admin = cassandra.connect_session(CQL_KEYSPACE)
    replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    admin.execute(f"CREATE KEYSPACE {keyspace} WITH replication = {replication}")
    stream_id = random.randrange(200_000_000, 900_000_000, 2)
    try:
        store = ApiKeyStore(admin, keyspace)
        store.create_table()
        key, _ = store.create(user_id=USERS[0], roles=parse_roles(["read", "trade"]), label="bench",
                              now_ns=time.time_ns())  # fmt: skip
        config = GatewayConfig(
            grpc_address="127.0.0.1:0", metrics_port=0, cql_keyspace=keyspace, matcher_pub_endpoint="",
            balance_events_topic="", aeron_dir=str(aeron_dir()), ubscore_stream_id=stream_id,
            ubscore_response_stream_id=stream_id + 1,
            rate_limits=parse_rate_limits("market=1000000000/1000000000,trade=1000000000/1000000000"),
        )
        with ubscore_subprocess(stream_id):
            gateway = build_gateway(config)
            gateway.server.add_generic_rpc_handlers((echo_handler(),))
            gateway.start()
            try:
                deadline_ns = time.monotonic_ns() + 30_000_000_000
                while not gateway.ubscore.connected.is_set():  # type: ignore[union-attr]
                    assert time.monotonic_ns() < deadline_ns, "the gateway did not reach UBSCore"
                    time.sleep(0.05)
                rows = measure(gateway.port, key, seconds=args.seconds, threads=args.threads)
            finally:
                gateway.stop()
    finally:
        admin.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        admin.cluster.shutdown()
    load = os.getloadavg()[0]
    print(f"\ngateway RPCs, {args.threads} client threads (batches: 1), {args.seconds:.0f} s each, load {load:.2f}")
    print(f"{'rpc':<16}{'calls/s':>10}{'p50 us':>10}{'p99 us':>10}{'vs echo':>10}")
    for row in rows:
        print(f"{row.rpc:<16}{row.calls_per_s:>10.0f}{row.latency_us_p50:>10.0f}{row.latency_us_p99:>10.0f}"
              f"{row.ratio_to_echo:>10.2f}")  # fmt: skip
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "gateway.json").write_text(json.dumps(
        {"threads": args.threads, "seconds": args.seconds, "load": load,
         "rows": [asdict(row) for row in rows]}, indent=2) + "\n")  # fmt: skip
    return 0


def measure(port: int, key: str, *, seconds: float, threads: int) -> list[Row]:
    """Echo, GetServerTime and ListMarkets, one after the other on one channel."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    metadata = (("authorization", f"Bearer {key}"),)
    echo = channel.unary_unary(ECHO_METHOD, request_serializer=None, response_deserializer=None)
    stub = market_data_service_pb2_grpc.MarketDataServiceStub(channel)
    time_request = market_data_service_pb2.GetServerTimeRequest()
    markets_request = market_data_service_pb2.ListMarketsRequest()
    calls: list[tuple[str, Callable[[], object]]] = [
        ("echo", lambda: echo(b"x" * 32)),
        ("GetServerTime", lambda: stub.GetServerTime(time_request, metadata=metadata)),
        ("ListMarkets", lambda: stub.ListMarkets(markets_request, metadata=metadata)),
    ]
    trading = trading_service_pb2_grpc.TradingServiceStub(channel)
    ids = itertools.count()

    def order(prefix: str) -> trading_service_pb2.PlaceOrderRequest:
        return trading_service_pb2.PlaceOrderRequest(
            symbol="BTC_USDT", side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_LIMIT, price="1000.00",
            quantity="0.01", client_order_id=f"{prefix}-{next(ids)}",
        )

    calls.append(("PlaceOrder", lambda: trading.PlaceOrder(order("u"), metadata=metadata)))
    rows = []
    for name, call in calls:
        rate, latencies = run(call, seconds=seconds, threads=threads)
        rows.append(Row(rpc=name, calls_per_s=rate, latency_us_p50=percentile_us(latencies, 0.5),
                        latency_us_p99=percentile_us(latencies, 0.99)))  # fmt: skip

    def batch() -> None:
        response = trading.PlaceOrders(
            trading_service_pb2.PlaceOrdersRequest(orders=[order("b") for _ in range(BATCH_ORDERS)]),
            metadata=metadata, timeout=60,
        )
        assert all(result.WhichOneof("outcome") == "accepted" for result in response.results), response.results[0]

    batches_per_s, latencies = run(batch, seconds=seconds, threads=1)
    rows.append(Row(
        rpc="PlaceOrders", calls_per_s=batches_per_s * BATCH_ORDERS, latency_us_p50=percentile_us(latencies, 0.5),
        latency_us_p99=percentile_us(latencies, 0.99),
    ))  # fmt: skip
    for row in rows:
        row.ratio_to_echo = row.calls_per_s / rows[0].calls_per_s
    channel.close()
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
