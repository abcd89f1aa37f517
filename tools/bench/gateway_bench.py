"""Gateway benchmark: the cost of the gateway's call path beside a trivial echo RPC on the same grpcio server.

    .venv/bin/python -m tools.bench.gateway_bench [--seconds 5] [--concurrency 32] [--batch-concurrency 2]
                                                  [--only PlaceOrder]

Builds a real gateway (gateway.app: CQL key cache on a private keyspace, Kafka, no matcher feed) in this
process with an extra echo method registered on the same server, and drives each RPC from a separate client
process (tools.bench.grpc_load: grpc.aio, `--concurrency` calls in flight) for `--seconds`; reports calls/s and
latency percentiles:

- echo: bytes in, same bytes out; passes every interceptor like every call (metrics, trace, error boundary);
- GetServerTime: the cheapest exchange RPC, through auth (key lookup, role) and the rate limiter too;
- ListMarkets: the same path with a larger response;
- PlaceOrder: unary order entry through the real UBSCore (`python -m ubscore` as a subprocess on the shared
  media driver, private topics and stream ids, funded accounts, no matcher: orders rest as UBSCore accepted them);
- PlaceOrders: batches of 1000 through the same UBSCore, `--batch-concurrency` batches in flight (calls/s counts
  orders);
- echo (grpc.aio server): the echo method alone on grpc's asyncio server in this process, from the same client:
  what the sync server's thread hand-offs cost (the gateway runs the sync server);
- UBSCore direct: the same UBSCore driven over Aeron from this process with no gateway, as many orders in flight
  as the batches carry: the ceiling of the batch path.

The client has its own process (and GIL), so the gateway's process holds the server alone (`py-spy top --pid`
the printed server pid to profile it); the client, UBSCore and whatever else runs share the machine's cores, so
each RPC's CPU time per call is also read for every process on its path (gateway, client, UBSCore, and the Kafka
broker and media driver when this project started them): their sum bounds the rate on a saturated machine.
Writes bench-results/gateway.json. Not a test: numbers depend on the machine and its load; compare the ratios
within one run. Targets (issue 10): unary order entry at 80 % of echo, batches at 50,000 orders/s.
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from tempfile import TemporaryDirectory

import grpc

from common.aeron.client import AeronClient, ClientConfig
from common.aeron.idle import BackoffIdleStrategy
from common.aeron.request_response import RequestClient
from common.kafka import BOOTSTRAP_DEFAULT, create_topic, delete_topic
from exchange.v1 import common_pb2, ubscore_pb2
from gateway.api_keys import ApiKeyStore, parse_roles
from gateway.app import build_gateway
from gateway.config import GRPC_WORKERS_DEFAULT, GatewayConfig
from gateway.rate_limit import parse_rate_limits
from settlement.cql import drop_keyspace
from tools.bench.grpc_load import BATCH_ORDERS, Load, drive
from tools.bench.ubscore_bench import USERS, cpu_s_of, deposit_funds, free_port, wait_for_deposits
from tools.infra import cassandra
from tools.infra.layout import CQL_KEYSPACE, aeron_dir, pid_path
from tools.infra.process import is_alive, read_pid_file

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "bench-results"
RPCS = ("echo", "GetServerTime", "ListMarkets", "PlaceOrder", "PlaceOrders", "UBSCore")
CONCURRENCY_DEFAULT = 32
BATCH_CONCURRENCY_DEFAULT = 2


@dataclass(slots=True, kw_only=True)
class Row:
    """One RPC's result."""

    rpc: str
    calls_per_s: float
    latency_us_p50: float
    latency_us_p99: float
    server_cpu_us_per_call: float  # the gateway process's CPU time (every thread) per call or order
    ratio_to_echo: float = 0.0
    cpu_us_per_call_by_thread: dict[str, float] = field(default_factory=dict)  # the same, by thread group
    # Every process of the machine the call path uses (gateway, client, UBSCore, Kafka broker, media driver): on
    # two cores they share, what one call costs them all together bounds the rate.
    cpu_us_per_call_by_process: dict[str, float] = field(default_factory=dict)


def echo_handler() -> grpc.GenericRpcHandler:
    """A generic handler answering ECHO_METHOD with its request bytes."""
    identity = grpc.unary_unary_rpc_method_handler(
        lambda request, context: request, request_deserializer=None, response_serializer=None
    )
    return grpc.method_handlers_generic_handler("bench.Echo", {"Echo": identity})


@contextmanager
def aio_echo_server() -> Iterator[int]:
    """The echo method alone on grpc's asyncio server (an event loop on a thread of this process); its port.

    Measured beside the gateway's sync server to show what the sync server's thread hand-offs cost per call."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="aio-echo", daemon=True)
    thread.start()

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {
            "Echo": grpc.unary_unary_rpc_method_handler(echo, request_deserializer=None, response_serializer=None),
        }),))  # fmt: skip
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(None), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def percentile_us(sorted_ns: list[int], fraction: float) -> float:
    """The `fraction` percentile of sorted nanosecond latencies, in microseconds."""
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * fraction))] / 1_000


@contextmanager
def ubscore_subprocess(stream_id: int) -> Iterator[int]:
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
            yield service.pid
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
            for topic in topics:
                delete_topic(BOOTSTRAP_DEFAULT, topic)


def main() -> int:
    """Build, measure, print, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY_DEFAULT, help="unary calls in flight")
    parser.add_argument("--batch-concurrency", type=int, default=BATCH_CONCURRENCY_DEFAULT,
                        help="PlaceOrders batches in flight")  # fmt: skip
    parser.add_argument("--workers", type=int, default=GRPC_WORKERS_DEFAULT, help="the server's gRPC workers")
    parser.add_argument("--only", action="append", choices=RPCS, help="measure just this RPC (repeatable; echo "
                        "always runs, as the reference); no JSON is written")  # fmt: skip
    args = parser.parse_args()
    rpcs = [rpc for rpc in RPCS[:-1] if args.only is None or rpc in args.only or rpc == "echo"]
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
            grpc_address="127.0.0.1:0", grpc_workers=args.workers, metrics_port=0, cql_keyspace=keyspace,
            matcher_pub_endpoint="", balance_events_topic="", aeron_dir=str(aeron_dir()), ubscore_stream_id=stream_id,
            ubscore_response_stream_id=stream_id + 1,
            rate_limits=parse_rate_limits("market=1000000000/1000000000,trade=1000000000/1000000000"),
        )
        with ubscore_subprocess(stream_id) as ubscore_pid, \
                ProcessPoolExecutor(1, mp_context=get_context("spawn")) as client:
            client_pid = client.submit(os.getpid).result()  # the client process is up before anything is timed
            processes = {"gateway": os.getpid(), "client": client_pid, "ubscore": ubscore_pid, **infra_pids()}
            gateway = build_gateway(config)
            gateway.server.add_generic_rpc_handlers((echo_handler(),))
            gateway.start()
            try:
                deadline_ns = time.monotonic_ns() + 30_000_000_000
                while not gateway.ubscore.connected.is_set():  # type: ignore[union-attr]
                    assert time.monotonic_ns() < deadline_ns, "the gateway did not reach UBSCore"
                    time.sleep(0.05)
                print(f"gateway (server) pid {os.getpid()}, client pid {client_pid}", flush=True)
                rows = [measure(client, gateway.port, key, rpc, args, processes) for rpc in rpcs]
            finally:
                gateway.stop()
            if args.only is None:
                with aio_echo_server() as aio_port:
                    rows.append(measure(client, aio_port, key, "echo", args, processes))
                    rows[-1].rpc = "echo (grpc.aio server)"
            if args.only is None or "UBSCore" in args.only:
                for window in (args.concurrency, args.batch_concurrency * BATCH_ORDERS):
                    rows.append(ubscore_direct(stream_id, window, seconds=args.seconds))
    finally:
        drop_keyspace(admin, keyspace)
        admin.cluster.shutdown()
    for row in rows:
        row.ratio_to_echo = row.calls_per_s / rows[0].calls_per_s
    load = os.getloadavg()[0]
    print(f"\ngateway RPCs from a client process, {args.concurrency} calls in flight (batches of {BATCH_ORDERS}: "
          f"{args.batch_concurrency}), {args.seconds:.0f} s each, load {load:.2f}")  # fmt: skip
    print(f"{'rpc':<28}{'calls/s':>10}{'p50 us':>10}{'p99 us':>10}{'vs echo':>10}{'server CPU us/call':>20}")
    for row in rows:
        print(f"{row.rpc:<28}{row.calls_per_s:>10.0f}{row.latency_us_p50:>10.0f}{row.latency_us_p99:>10.0f}"
              f"{row.ratio_to_echo:>10.2f}{row.server_cpu_us_per_call:>20.0f}")  # fmt: skip
    for row in rows:
        if row.cpu_us_per_call_by_thread:
            print(f"  {row.rpc}: server CPU us per call by thread: {row.cpu_us_per_call_by_thread}")
    print_cpu_by_process(rows)
    if args.only is None:
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / "gateway.json").write_text(json.dumps(
            {"concurrency": args.concurrency, "batch_concurrency": args.batch_concurrency, "seconds": args.seconds,
             "load": load, "rows": [asdict(row) for row in rows]}, indent=2) + "\n")  # fmt: skip
    return 0


def measure(
    client: ProcessPoolExecutor, port: int, key: str, rpc: str, args: argparse.Namespace, processes: dict[str, int]
) -> Row:
    """One RPC driven from the client process; calls/s counts orders for PlaceOrders; CPU per call of this process
    by thread, and of each of `processes` (name: pid)."""
    concurrency = args.batch_concurrency if rpc == "PlaceOrders" else args.concurrency
    cpu_before_s = time.process_time()  # this process is the server alone: the client has its own
    threads_before_s = thread_cpu_s()
    processes_before_s = processes_cpu_s(processes)
    measured = client.submit(drive, Load(port=port, key=key, rpc=rpc, seconds=args.seconds,
                                         concurrency=concurrency)).result()  # fmt: skip
    cpu_us = (time.process_time() - cpu_before_s) * 1e6
    threads_after_s = thread_cpu_s()
    by_process = {name: round((spent_s - processes_before_s[name]) * 1e6 / measured.items_total, 1)
                  for name, spent_s in processes_cpu_s(processes).items() if name in processes_before_s}  # fmt: skip
    by_thread = {group: round((spent_s - threads_before_s.get(group, 0.0)) * 1e6 / measured.items_total, 1)
                 for group, spent_s in threads_after_s.items()}  # fmt: skip
    return Row(rpc=rpc, calls_per_s=measured.items_per_s, latency_us_p50=percentile_us(measured.latencies_ns, 0.5),
               latency_us_p99=percentile_us(measured.latencies_ns, 0.99),
               server_cpu_us_per_call=cpu_us / measured.items_total, cpu_us_per_call_by_thread=by_thread,
               cpu_us_per_call_by_process=by_process)  # fmt: skip


def infra_pids() -> dict[str, int]:
    """Pids of the Kafka broker and the media driver this project started (none for external ones)."""
    pids = {}
    for name, component in (("kafka", "kafka"), ("aeron driver", "aeron")):
        record = read_pid_file(pid_path(component))
        if record is not None and is_alive(record):
            pids[name] = record.pid
    return pids


def processes_cpu_s(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process still running."""
    spent: dict[str, float] = {}
    for name, pid in processes.items():
        try:
            spent[name] = cpu_s_of(pid)
        except OSError:  # gone: not counted
            continue
    return spent


def print_cpu_by_process(rows: list[Row]) -> None:
    """CPU per call of every process on the call path, and their sum: on a machine the processes share, the rate
    of an RPC relative to echo is at most echo's sum over the RPC's sum."""
    measured = [row for row in rows if row.cpu_us_per_call_by_process]
    if not measured:
        return
    names = list(measured[0].cpu_us_per_call_by_process)
    print(f"\nCPU us per call, every process on the path (machine: {os.cpu_count()} cores)")
    print(f"{'rpc':<28}" + "".join(f"{name:>14}" for name in names) + f"{'sum':>10}")
    for row in measured:
        spent = row.cpu_us_per_call_by_process
        print(f"{row.rpc:<28}" + "".join(f"{spent.get(name, 0.0):>14.0f}" for name in names)
              + f"{sum(spent.values()):>10.0f}")  # fmt: skip


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by this process's threads, grouped: grpc workers, grpc's poller, the UBSCore client's
    owner thread, the rest (Linux /proc/self/task/<tid>/stat; a thread that ended is no longer counted)."""
    groups: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        name = thread.name
        group = ("grpc workers" if name.startswith("grpc-worker") else "grpc poller" if "(_serve)" in name
                 else name if name in ("ubscore-client", "aio-echo") else "other")  # fmt: skip
        groups[group] = groups.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return groups


def direct_payloads(prefix: str) -> Iterator[bytes]:
    """UbscoreRequest bytes of resting limit orders of the funded users, client order ids `prefix`0, 1, ..."""
    for index in itertools.count():
        order = ubscore_pb2.OrderRequest(
            user_id=USERS[index % len(USERS)], client_order_id=f"{prefix}{index}", symbol="BTC_USDT",
            side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=common_pb2.TIME_IN_FORCE_GTC, price_units=1_000_000_000, qty_units=1_000_000,  # 1000.00, 0.01
        )  # fmt: skip
        yield ubscore_pb2.UbscoreRequest(place_order=order).SerializeToString()


def ubscore_direct(stream_id: int, window: int, *, seconds: float) -> Row:
    """UBSCore's own rate: orders over Aeron straight from this process, `window` in flight (no gateway).

    UBSCore answers in order, so the oldest request is the one to look for: O(1) per answer, unlike
    ubscore_bench.round_trips (a scan of every pending request per poll, which bounds it at large windows).
    """
    payloads = direct_payloads(f"d{window}-")
    latencies_ns: list[int] = []
    in_flight: deque[tuple[int, int]] = deque()  # (correlation id, sent at ns), oldest first
    idle = BackoffIdleStrategy(spins_max=0, yields_max=0, park_period_ns_max=200_000)
    with AeronClient(ClientConfig(aeron_dir=str(aeron_dir()))) as client:
        requester = RequestClient(client, request_channel="aeron:ipc", request_stream_id=stream_id,
                                  response_channel="aeron:ipc", response_stream_id=stream_id + 3,
                                  connect_timeout_ms=10_000)  # fmt: skip
        started_ns = time.monotonic_ns()
        deadline_ns = started_ns + int(seconds * 1e9)
        while time.monotonic_ns() < deadline_ns or in_flight:
            sending = time.monotonic_ns() < deadline_ns
            while sending and len(in_flight) < window:
                in_flight.append((requester.send(next(payloads), timeout_ms=30_000), time.monotonic_ns()))
            work = requester.poll()
            while in_flight and requester.take(in_flight[0][0]) is not None:
                latencies_ns.append(time.monotonic_ns() - in_flight.popleft()[1])
            idle.idle(work)
        elapsed_s = (time.monotonic_ns() - started_ns) / 1e9
        requester.close()
    latencies_ns.sort()
    return Row(rpc=f"UBSCore direct ({window} in flight)", calls_per_s=len(latencies_ns) / elapsed_s,
               latency_us_p50=percentile_us(latencies_ns, 0.5), latency_us_p99=percentile_us(latencies_ns, 0.99),
               server_cpu_us_per_call=0.0)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
