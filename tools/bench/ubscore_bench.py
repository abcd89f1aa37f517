"""UBSCore benchmark: durable validations in-process, fills applied, and order round trips over Aeron, beside the
raw Aeron request/response round trip and the fsync rate, all measured in the same run.

    .venv/bin/python -m tools.bench.ubscore_bench [--orders 50000] [--fills 20000] [--round-trips 5000]

1. Durable validations/s (in-process): decode an `UbscoreRequest`, validate, lock, number, stamp the request's
   traceparent on its events (every order from the gateway carries one), build the WAL record,
   group-commit batches of `--batch-records-max` as the service does (one write + fsync each, temp dir on the state
   disk), then encode the reply, the `OrderCommand` and the `BalanceEvent` (the service's per-order work minus the
   transports). Reported as wall rate and as CPU time per
   order (time.process_time: the machine is shared, CPU time moves far less than wall time). `--profile N`
   prints the N costliest functions of that run (cProfile, by own time).
   The codec floor: the same orders' decode and three encodes alone, and upb's parse + serialize alone (CPU per
   order), the part of row 1 that no change to the core can remove.
2. Fills applied/s: matcher outputs with trades (made by the real matcher core), parsed and settled by the core.
3. Aeron round trips: `python -m ubscore` runs as a subprocess (own media driver under /dev/shm, private Kafka
   topics, no matcher feed); a requester here sends one order at a time and waits for its reply: rate and
   p50/p99/p99.9. The raw round trip is the same requester against an echo responder child on the same driver.
4. fsync: WAL appends of one record each, same disk: rate and latency percentiles, the floor of a durable reply.
Prints a table; writes bench-results/ubscore.json. Needs Kafka (`bin/stack infra up kafka`). Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from common.aeron.client import AeronClient, ClientConfig
from common.aeron.driver import MediaDriverProcess
from common.aeron.request_response import RequestClient, ResponseServer
from common.engine_chain import Chain
from common.gc_tuning import tune_gc
from common.kafka import BOOTSTRAP_DEFAULT, create_topic, delete_topic, flush_or_raise, make_producer
from common.markets import load_catalog
from common.wal import Wal
from exchange.v1 import balance_pb2, engine_pb2, order_pb2, ubscore_pb2
from matcher.codec import build_output, decode_command
from matcher.engine import Engine
from tools.bench.results import save_json
from ubscore import codec
from ubscore.commands import TransferRequest
from ubscore.core import UbsCore
from ubscore.events import Effects, with_traceparent
from ubscore.state import REQUEST_RECORD

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO_ROOT / "bench-results" / "ubscore.json"
USERS = range(1001, 1101)
PRICE_45K = 45_000_000_000
REQUEST_STREAM, ECHO_STREAM, RESPONSE_STREAM = 7101, 7102, 7103
CONNECT_TIMEOUT_MS = 30_000
REQUEST_TIMEOUT_MS = 5_000
WARMUP_ROUND_TRIPS = 500
FSYNC_SAMPLES = 300


def new_core() -> UbsCore:
    """A core where every user holds plenty of BTC and USDT."""
    catalog = load_catalog()
    core = UbsCore(catalog.markets.values(), [a.asset_id for a in catalog.assets.values()], fee_account_user_id=1)
    for user in USERS:
        for asset in (1, 2):
            core.transfer(TransferRequest(f"seed-{user}-{asset}", user, asset, 10**15, 1, 1))
    return core


def order_payloads(count: int, *, crossing: bool) -> list[bytes]:
    """UbscoreRequest bytes of limit orders: resting (bids below asks) or alternating sides at one price. Each
    carries an unsampled traceparent, as every order from the gateway does (gateway/tracing.py)."""
    payloads = []
    for index in range(count):
        side = 1 + index % 2
        price = PRICE_45K if crossing else PRICE_45K + (1 if side == 2 else -1) * 10_000 * (1 + index % 50)
        order = ubscore_pb2.OrderRequest(
            user_id=USERS[index % len(USERS)], client_order_id=f"b{index}", symbol="BTC_USDT", side=side,
            order_type=1, time_in_force=1, price_units=price, qty_units=10_000 * (1 + index % 7), ts_event_ns=index,
            traceparent=f"00-{index + 1:032x}-{index + 1:016x}-00",
        )  # fmt: skip
        payloads.append(ubscore_pb2.UbscoreRequest(place_order=order).SerializeToString())
    return payloads


def durable_validations(orders: int, batch_records_max: int, state_dir: Path, profile_top: int) -> dict[str, Any]:
    """The service's per-order work with group commits; validations per second and CPU us per order."""
    core, payloads = new_core(), order_payloads(orders, crossing=False)
    wal = Wal.open(state_dir / "validations-wal")
    profiler = cProfile.Profile() if profile_top else None
    started_ns, started_cpu_s = time.perf_counter_ns(), time.process_time()
    if profiler is not None:
        profiler.enable()
    for start in range(0, orders, batch_records_max):
        records, applied = [], []
        for payload in payloads[start : start + batch_records_max]:
            _, request = codec.decode_request(payload)
            applied.append(with_traceparent(core.place(request), request.traceparent))  # as service.py does
            records.append(REQUEST_RECORD + payload)
        wal.append(records)
        encode_outputs(applied)  # durable: what would leave now
    if profiler is not None:
        profiler.disable()
    elapsed_s, cpu_s = (time.perf_counter_ns() - started_ns) / 1e9, time.process_time() - started_cpu_s
    wal.close()
    assert core.counters.last_order_id == orders, core.counters.last_order_id
    if profiler is not None:
        print(f"cProfile of {orders} durable validations, by own time:")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(profile_top)
    return {"orders": orders, "batches": wal.fsync_count, "elapsed_s": round(elapsed_s, 3),
            "cpu_s": round(cpu_s, 3), "cpu_us_per_order": round(1e6 * cpu_s / orders, 2),
            "validations_per_s": round(orders / elapsed_s), "validations_per_cpu_s": round(orders / cpu_s),
            "profiled": bool(profiler)}  # fmt: skip


def encode_outputs(effects: list[Effects]) -> list[bytes]:
    """The bytes that leave for a batch of orders: the Aeron reply, the `OrderCommand`s, the `BalanceEvent`s (plain
    loops, as service.py and outbox.py encode them)."""
    outgoing = []
    for effect in effects:
        outgoing.append(codec.encode_reply(effect.reply))
        for command in effect.commands:
            outgoing.append(codec.encode_command(command))
        for event in effect.events:
            outgoing.append(codec.encode_event(event))
    return outgoing


def codec_floor(orders: int) -> dict[str, Any]:
    """The protobuf share of a durable validation, on the same orders: CPU per order to decode each request and
    encode its reply, `OrderCommand` and `BalanceEvent` with ubscore/codec.py (the core's effects computed
    beforehand, untimed), and upb's own parse + serialize of the same four messages with no field read or set
    from Python. The first is a floor for any Python core that speaks these protos; the second for any at all."""
    core, payloads = new_core(), order_payloads(orders, crossing=False)
    effects = [core.place(codec.decode_request(payload)[1]) for payload in payloads]
    started_cpu_s = time.process_time()
    for payload, effect in zip(payloads, effects, strict=True):
        codec.decode_request(payload)
        codec.encode_reply(effect.reply)
        codec.encode_command(effect.commands[0])
        codec.encode_event(effect.events[0])
    codec_cpu_s = time.process_time() - started_cpu_s
    messages = [
        (ubscore_pb2.UbscoreResponse.FromString(codec.encode_reply(effect.reply)),
         order_pb2.OrderCommand.FromString(codec.encode_command(effect.commands[0])),
         balance_pb2.BalanceEvent.FromString(codec.encode_event(effect.events[0])))
        for effect in effects
    ]  # fmt: skip
    parse = ubscore_pb2.UbscoreRequest.FromString
    started_cpu_s = time.process_time()
    for payload, (reply, command, event) in zip(payloads, messages, strict=True):
        parse(payload)
        reply.SerializeToString()
        command.SerializeToString()
        event.SerializeToString()
    upb_cpu_s = time.process_time() - started_cpu_s
    return {"orders": orders, "codec_cpu_us_per_order": round(1e6 * codec_cpu_s / orders, 2),
            "codec_per_cpu_s": round(orders / codec_cpu_s), "upb_cpu_us_per_order": round(1e6 * upb_cpu_s / orders, 2),
            "upb_per_cpu_s": round(orders / upb_cpu_s)}  # fmt: skip


def fills_applied(fills: int) -> dict[str, Any]:
    """Settle matcher outputs with one trade each (made by the real matcher core); fills per second."""
    core, engine, chain = new_core(), Engine(load_catalog().markets.values()), Chain(shard_id=0)
    outputs = []
    for payload in order_payloads(fills * 2, crossing=True):
        _, request = codec.decode_request(payload)
        for command in core.place(request).commands:
            message = order_pb2.OrderCommand.FromString(codec.encode_command(command))
            output = chain.seal(
                build_output(message, partition=0, offset=0, result=engine.apply(decode_command(message)))
            )
            outputs.append(output.SerializeToString(deterministic=True))
    trades = 0
    started_ns = time.perf_counter_ns()
    for data in outputs:  # (the orders above were placed without settling: settle all outputs now, in order)
        output = codec.decode_output(engine_pb2.EngineOutput.FromString(data))
        trades += len(output.trades)
        core.apply_output(output)
    elapsed_s = (time.perf_counter_ns() - started_ns) / 1e9
    assert not core.invariant_problems()
    return {"outputs": len(outputs), "fills": trades, "elapsed_s": round(elapsed_s, 3),
            "fills_per_s": round(trades / elapsed_s)}  # fmt: skip


def fsync_rate(state_dir: Path) -> dict[str, Any]:
    """WAL appends of one small record each (one fsync each): rate and latency percentiles (us)."""
    wal = Wal.open(state_dir / "fsync-wal")
    samples_ns = []
    for _ in range(FSYNC_SAMPLES):
        started_ns = time.perf_counter_ns()
        wal.append([b"x" * 100])
        samples_ns.append(time.perf_counter_ns() - started_ns)
    wal.close()
    return {"fsyncs": FSYNC_SAMPLES, "fsyncs_per_s": round(FSYNC_SAMPLES / (sum(samples_ns) / 1e9)),
            **percentiles_us(samples_ns)}  # fmt: skip


def percentiles_us(samples_ns: list[int]) -> dict[str, float]:
    """p50, p99 and p99.9 of latency samples, in microseconds."""
    ordered = sorted(samples_ns)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e3, 1)

    return {"us_p50": at(0.5), "us_p99": at(0.99), "us_p999": at(0.999)}


def round_trips(aeron_dir: str, request_stream: int, payloads: list[bytes], *, window: int) -> dict[str, Any]:
    """Requests through RequestClient with up to `window` in flight; rate and per-request latency percentiles (us).

    window 1 is a lone client waiting for each reply; a larger window is a load client (gateways batching many
    users), which lets UBSCore's group commit share one fsync among the requests that arrive together.
    """
    with AeronClient(ClientConfig(aeron_dir=aeron_dir)) as client:
        requester = RequestClient(client, request_channel="aeron:ipc", request_stream_id=request_stream,
                                  response_channel="aeron:ipc", response_stream_id=RESPONSE_STREAM + request_stream,
                                  connect_timeout_ms=CONNECT_TIMEOUT_MS)  # fmt: skip
        for payload in payloads[:WARMUP_ROUND_TRIPS]:
            requester.request(payload, timeout_ms=REQUEST_TIMEOUT_MS)
        samples_ns: list[int] = []
        pending: dict[int, int] = {}  # correlation id -> sent at (ns)
        queue = list(reversed(payloads[WARMUP_ROUND_TRIPS:]))
        started_ns = time.perf_counter_ns()
        while queue or pending:
            while queue and len(pending) < window:
                pending[requester.send(queue.pop(), timeout_ms=REQUEST_TIMEOUT_MS)] = time.perf_counter_ns()
            requester.poll()
            for correlation_id, sent_ns in list(pending.items()):
                if requester.take(correlation_id) is not None:
                    samples_ns.append(time.perf_counter_ns() - sent_ns)
                    del pending[correlation_id]
        elapsed_s = (time.perf_counter_ns() - started_ns) / 1e9
        requester.close()
    return {"window": window, "round_trips": len(samples_ns), "per_s": round(len(samples_ns) / elapsed_s),
            **percentiles_us(samples_ns)}  # fmt: skip


def run_echo(aeron_dir: str) -> None:
    """Child role: answer every request with its own payload until killed."""
    with AeronClient(ClientConfig(aeron_dir=aeron_dir)) as client:
        server = ResponseServer(client, request_channel="aeron:ipc", request_stream_id=ECHO_STREAM)
        print("ready", flush=True)
        while True:
            server.poll(lambda request: server.respond(request, request.payload, timeout_ms=REQUEST_TIMEOUT_MS))


def aeron_round_trips(args: argparse.Namespace, state_dir: Path) -> dict[str, Any]:
    """Raw echo and UBSCore order round trips on one private media driver."""
    from tools.infra.artifacts import classpath

    aeron_dir = f"/dev/shm/aeron-ubscore-bench-{os.getpid()}"
    driver = MediaDriverProcess(classpath=classpath("aeron"), aeron_dir=aeron_dir,
                                properties={"aeron.pre.touch.mapped.memory": "true"})  # fmt: skip
    driver.start()
    tag = uuid.uuid4().hex[:10]
    topics = [f"balance.operations.bench.{tag}", f"balance.events.bench.{tag}", f"orders.bench.{tag}"]
    children: list[subprocess.Popen] = []
    try:
        for topic in topics:
            create_topic(args.bootstrap, topic, partitions=4)
        echo = subprocess.Popen([sys.executable, "-m", "tools.bench.ubscore_bench", "--role", "echo", "--aeron-dir",
                                 aeron_dir], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
        children.append(echo)
        assert echo.stdout is not None
        assert echo.stdout.readline().strip() == "ready"
        count = args.round_trips + WARMUP_ROUND_TRIPS
        metrics_port = free_port()
        raw = round_trips(aeron_dir, ECHO_STREAM, order_payloads(count, crossing=False), window=1)
        raw_window = round_trips(aeron_dir, ECHO_STREAM, order_payloads(count, crossing=False), window=args.window)
        echo.kill()  # it spins: left running it would take a core of this 2-core machine from the UBSCore rows
        echo.wait(timeout=60)
        env = dict(os.environ, UBSCORE_KAFKA_BOOTSTRAP=args.bootstrap, UBSCORE_OPERATIONS_TOPIC=topics[0],
                   UBSCORE_EVENTS_TOPIC=topics[1], UBSCORE_ORDERS_TOPIC=topics[2], UBSCORE_AERON_DIR=aeron_dir,
                   UBSCORE_AERON_STREAM_ID=str(REQUEST_STREAM), UBSCORE_FEEDS="",
                   UBSCORE_METRICS_PORT=str(metrics_port), UBSCORE_STATE_DIR=str(state_dir / "service"),
                   UBSCORE_IN_FLIGHT_MAX=str(10 * count))  # fmt: skip
        deposit_funds(args.bootstrap, topics[0])
        service = subprocess.Popen([sys.executable, "-m", "ubscore"], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        children.append(service)
        wait_for_deposits(metrics_port, 2 * len(USERS))
        payloads = order_payloads(2 * count, crossing=False)
        cpu_before_s = cpu_s_of(service.pid)
        orders = round_trips(aeron_dir, REQUEST_STREAM, payloads[:count], window=1)
        cpu_between_s = cpu_s_of(service.pid)
        orders_window = round_trips(aeron_dir, REQUEST_STREAM, payloads[count:], window=args.window)
        cpu_after_s = cpu_s_of(service.pid)
        # The service's whole CPU time over the run (its spin polling between requests included) per order.
        orders["service_cpu_us_per_order"] = round(1e6 * (cpu_between_s - cpu_before_s) / count, 1)
        orders_window["service_cpu_us_per_order"] = round(1e6 * (cpu_after_s - cpu_between_s) / count, 1)
        wal = wal_metrics(metrics_port)
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM if child is not children[0] else signal.SIGKILL)
                child.wait(timeout=60)
        driver.stop()
        shutil.rmtree(aeron_dir, ignore_errors=True)
        for topic in topics:
            delete_topic(args.bootstrap, topic)
    return {"raw": raw, "ubscore_orders": orders, "raw_window": raw_window, "ubscore_orders_window": orders_window,
            "ubscore_wal": wal}  # fmt: skip


def cpu_s_of(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deposit_funds(bootstrap: str, topic: str) -> None:
    """Fund every user through Kafka, as a gateway would, so the orders are accepted (and lock funds)."""
    producer = make_producer(bootstrap, client_id="ubscore-bench")
    for user in USERS:
        for asset in (1, 2):
            request = balance_pb2.BalanceRequest(request_id=f"seed-{asset}", user_id=user, asset_id=asset,
                                                 amount_units=10**15, operation=1)  # fmt: skip
            producer.produce(topic, key=str(user).encode(), value=request.SerializeToString())
    flush_or_raise(producer, timeout_s=30.0)


def scrape(port: int) -> dict[str, float]:
    """The service's Prometheus samples by full name (labels included); empty until it serves them."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            lines = response.read().decode().splitlines()
    except OSError:
        return {}
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in lines if line[:1] != "#")}


def wait_for_deposits(port: int, count: int) -> None:
    """Wait (bounded) until the service applied `count` transfers."""
    deadline_ns = time.monotonic_ns() + CONNECT_TIMEOUT_MS * 1_000_000
    key = 'ubscore_requests_total{kind="transfer",outcome="applied"}'
    while scrape(port).get(key, 0) < count:
        assert time.monotonic_ns() < deadline_ns, "the service did not apply the deposits in time"
        time.sleep(0.05)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wal_metrics(port: int) -> dict[str, Any]:
    """The service's own WAL numbers: group commits and their mean append + fsync time."""
    samples = scrape(port)
    count = samples.get("ubscore_wal_append_seconds_count", 0.0)
    mean_ms = 1e3 * samples.get("ubscore_wal_append_seconds_sum", 0.0) / count if count else None
    return {"wal_commits": int(count), "wal_append_fsync_ms_mean": round(mean_ms, 3) if mean_ms else None}


def print_table(result: dict[str, Any]) -> None:
    """The numbers, one row each, then the targets."""
    validations, fills, fsyncs = result["durable_validations"], result["fills_applied"], result["fsync"]
    aeron = result["aeron"]
    print(f"{'what':<58}{'rate /s':>10}{'p50 us':>10}{'p99 us':>10}{'p99.9 us':>10}")
    batch = result["batch_records_max"]
    print(
        f"{f'durable validations in-process (batch {batch})':<58}{validations['validations_per_s']:>10}"
        f"   CPU {validations['cpu_us_per_order']} us/order = {validations['validations_per_cpu_s']} /CPU-s"
    )
    floor = result["codec_floor"]
    for label, key in (("  of which protobuf alone: codec.py decode + 3 encodes", "codec"),
                       ("  upb parse + 3 serializes, no Python field access", "upb")):  # fmt: skip
        print(f"{label:<58}{'':>10}   CPU {floor[f'{key}_cpu_us_per_order']} us/order = "
              f"{floor[f'{key}_per_cpu_s']} /CPU-s")  # fmt: skip
    print(f"{'fills applied in-process':<58}{fills['fills_per_s']:>10}")
    print(f"{'fsync (one record per append)':<58}{fsyncs['fsyncs_per_s']:>10}{fsyncs['us_p50']:>10}"
          f"{fsyncs['us_p99']:>10}{fsyncs['us_p999']:>10}")  # fmt: skip
    window = aeron["raw_window"]["window"]
    for name, row in (
        ("Aeron raw request/response (echo), 1 in flight", aeron["raw"]),
        ("Aeron order round trip via UBSCore, 1 in flight", aeron["ubscore_orders"]),
        (f"Aeron raw request/response (echo), {window} in flight", aeron["raw_window"]),
        (f"Aeron order round trip via UBSCore, {window} in flight", aeron["ubscore_orders_window"]),
    ):
        print(f"{name:<58}{row['per_s']:>10}{row['us_p50']:>10}{row['us_p99']:>10}{row['us_p999']:>10}")
    lone, loaded = aeron["ubscore_orders"], aeron["ubscore_orders_window"]
    print(f"UBSCore CPU per order (whole process, polling included): {lone['service_cpu_us_per_order']} us at 1 "
          f"in flight, {loaded['service_cpu_us_per_order']} us at {window}")  # fmt: skip
    wal = aeron["ubscore_wal"]
    print(f"UBSCore WAL during the round trips: {wal['wal_commits']} group commits, "
          f"{wal['wal_append_fsync_ms_mean']} ms mean append + fsync")  # fmt: skip
    ratios = result["ratios"]
    print(f"target: durable validations 200,000 /s: {validations['validations_per_s'] / 200_000:.2f} of it "
          f"(CPU alone allows {validations['validations_per_cpu_s'] / 200_000:.2f})")  # fmt: skip
    for key, label in (("1", "1 in flight"), ("window", f"{window} in flight")):
        print(f"target: order round trip p99 <= 3x raw p99 ({label}): {ratios[f'p99_to_raw_p99_{key}']}x; "
              f"p99 / (raw fsync p99 + raw p99): {ratios[f'p99_to_fsync_plus_raw_p99_{key}']}x")  # fmt: skip


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    """Order round-trip p99 against the raw round trip p99 (the target) and against one fsync + one raw trip."""
    aeron, fsync_p99 = result["aeron"], result["fsync"]["us_p99"]
    out: dict[str, float | None] = {}
    for key, raw, orders in (("1", "raw", "ubscore_orders"), ("window", "raw_window", "ubscore_orders_window")):
        raw_p99, order_p99 = aeron[raw]["us_p99"], aeron[orders]["us_p99"]
        out[f"p99_to_raw_p99_{key}"] = round(order_p99 / raw_p99, 2) if raw_p99 else None
        out[f"p99_to_fsync_plus_raw_p99_{key}"] = round(order_p99 / (fsync_p99 + raw_p99), 2)
    return out


def main() -> None:
    """CLI entry point (also the echo child)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=("bench", "echo"), default="bench")
    parser.add_argument("--aeron-dir", default="")
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--fills", type=int, default=20_000)
    parser.add_argument("--round-trips", type=int, default=5_000)
    parser.add_argument("--window", type=int, default=64, help="requests in flight for the load-client runs")
    parser.add_argument("--batch-records-max", type=int, default=1_000)
    parser.add_argument("--bootstrap", default=BOOTSTRAP_DEFAULT)
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="print the N costliest functions of the in-process validations (slows that row)",
    )
    args = parser.parse_args()
    if args.role == "echo":
        run_echo(args.aeron_dir)
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # unwind through the finally blocks
    tune_gc()  # as the service does
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ubscore-bench-", dir=REPO_ROOT / ".local") as temp:
        state_dir = Path(temp)
        result: dict[str, Any] = {
            "benchmark": "ubscore", "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "load_average_before": load_before, "batch_records_max": args.batch_records_max,
            "durable_validations": durable_validations(args.orders, args.batch_records_max, state_dir, args.profile),
            "codec_floor": codec_floor(args.orders),
            "fills_applied": fills_applied(args.fills),
            "fsync": fsync_rate(state_dir),
            "aeron": aeron_round_trips(args, state_dir),
        }  # fmt: skip
    result["load_average_after"] = os.getloadavg()
    result["ratios"] = ratios(result)
    print_table(result)
    save_json(result, RESULTS_PATH)


if __name__ == "__main__":
    main()
