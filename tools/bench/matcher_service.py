"""Benchmark of the matcher service: sustained rate from Kafka `orders` to the ZeroMQ feed, WAL fsync included.

Pre-loads `--orders` OrderCommands into a private 4-partition topic, starts `python -m matcher` on it (temp state
dir, free ports), and times the outputs arriving on a ZeroMQ SUB socket: from the first output to output
number `--orders` (the backlog drained at full speed), plus the time from process start. The matcher's own
Prometheus metrics give the batch count and the WAL append+fsync time. Bounded by `--timeout-s`.

    .venv/bin/python -m tools.bench.matcher_service [--orders 50000] [--batch-records-max 1000]

Prints a table; writes bench-results/matcher_service.json. Needs `bin/stack infra up kafka`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
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

import zmq

from common.engine_chain import link_problem
from common.engine_feed import decode_feed_message, feed_topic
from common.kafka import BOOTSTRAP_DEFAULT, create_topic, delete_topic, flush_or_raise, make_producer
from exchange.v1 import common_pb2, order_pb2
from tools.bench.results import print_rows, save_json

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO_ROOT / "bench-results" / "matcher_service.json"
MARKETS = (("BTC_USDT", 45_000_000_000, 10_000, 10_000), ("ETH_USDT", 3_000_000_000, 10_000, 100_000))
SHARD_ID = 0
START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def commands(count: int, seed: int) -> list[tuple[str, bytes]]:
    """(symbol key, OrderCommand bytes): ~75% GTC, ~10% IOC, ~15% cancels of earlier orders, around a mid."""
    rng = random.Random(seed)
    placed: list[tuple[int, int, str]] = []
    out: list[tuple[str, bytes]] = []
    for seq in range(1, count + 1):
        ts_ns = 1_763_000_000_000_000_000 + seq
        if placed and rng.random() < 0.15:
            order_id, user_id, symbol = placed.pop(rng.randrange(len(placed)))
            cancel = order_pb2.InternalCancel(order_id=order_id, user_id=user_id, symbol=symbol, ts_event_ns=ts_ns)
            out.append((symbol, order_pb2.OrderCommand(command_seq=seq, cancel=cancel).SerializeToString()))
            continue
        symbol, mid_units, tick_units, lot_units = rng.choice(MARKETS)
        tif = common_pb2.TIME_IN_FORCE_IOC if rng.random() < 0.12 else common_pb2.TIME_IN_FORCE_GTC
        order = order_pb2.InternalOrder(
            order_id=seq, user_id=rng.randint(1, 1_000), symbol=symbol,
            side=rng.choice((common_pb2.SIDE_BUY, common_pb2.SIDE_SELL)), order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=tif, price_units=mid_units + rng.randint(-50, 50) * tick_units,
            qty_units=lot_units * rng.randint(1, 20), ts_event_ns=ts_ns,
        )
        placed.append((seq, order.user_id, symbol))
        out.append((symbol, order_pb2.OrderCommand(command_seq=seq, place=order).SerializeToString()))
    return out


def preload(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> float:
    """Produce every record and wait for the acks; return the seconds it took."""
    producer = make_producer(bootstrap, client_id="bench-matcher-service")
    started_ns = time.monotonic_ns()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)  # local queue full: let deliveries drain
        producer.poll(0)
    flush_or_raise(producer, timeout_s=60.0)
    return (time.monotonic_ns() - started_ns) / 1e9


def scrape(port: int) -> dict[str, float]:
    """The matcher's Prometheus samples (name with labels -> value)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def wait_for_outputs(sub: zmq.Socket, count: int, deadline_ns: int) -> tuple[int, int, int, int]:
    """Receive until output `count`, then verify the chain; return (first_ns, last_ns, first seq seen, trades).

    Frames are only stored while timing (parsing and verifying 40k outputs a second here would make this
    subscriber, not the matcher, the bottleneck); the chain is checked once the last one has arrived. Counted
    from the first output seen: a message published before our SUB connected is lost (PUB drops).
    """
    topic = feed_topic(SHARD_ID)
    frames: list[bytes] = []
    first_ns = last_ns = last_seq = 0
    while last_seq < count:
        if time.monotonic_ns() > deadline_ns:
            raise SystemExit(f"timeout: only {last_seq} of {count} outputs arrived")
        if not sub.poll(200):
            continue
        frames.append(sub.recv())
        last_ns = time.monotonic_ns()
        first_ns = first_ns or last_ns
        last_seq = decode_feed_message(topic, frames[-1])[-1].seq  # one C parse per message, ~1 us an output
    outputs = [output for frame in frames for output in decode_feed_message(topic, frame)]
    held_seq, held_hash = outputs[0].seq - 1, outputs[0].prev_hash
    for output in outputs:
        problem = link_problem(output, shard_id=SHARD_ID, last_seq=held_seq, last_hash=held_hash)
        if problem:
            raise SystemExit(f"feed broken (a slow subscriber drops on PUB; rerun with fewer orders): {problem}")
        held_seq, held_hash = output.seq, output.hash
    # Timing starts when the first message arrived, so its outputs are not counted in the rate.
    return first_ns, last_ns, decode_feed_message(topic, frames[0])[-1].seq, sum(len(o.trades) for o in outputs)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One measured run; returns the result document."""
    topic = f"orders.bench.{uuid.uuid4().hex[:10]}"
    create_topic(args.bootstrap, topic, partitions=4)
    records = commands(args.orders, args.seed)
    produce_s = preload(args.bootstrap, topic, records)
    metrics_port = free_port()
    pub_endpoint = f"tcp://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory(prefix="matcher-bench-") as state_dir:
        env = dict(os.environ)
        env.update(
            MATCHER_SHARD_ID=str(SHARD_ID), MATCHER_TOPIC=topic, MATCHER_KAFKA_BOOTSTRAP=args.bootstrap,
            MATCHER_PUB_ENDPOINT=pub_endpoint, MATCHER_REPLAY_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
            MATCHER_METRICS_PORT=str(metrics_port), MATCHER_STATE_DIR=state_dir,
            MATCHER_BATCH_RECORDS_MAX=str(args.batch_records_max),
        )
        context = zmq.Context()
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 0)  # unbounded on the bench side: we measure the matcher, not our drops
        sub.setsockopt(zmq.SUBSCRIBE, feed_topic(SHARD_ID))
        sub.connect(pub_endpoint)
        started_ns = time.monotonic_ns()
        process = subprocess.Popen(
            [sys.executable, "-m", "matcher"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline_ns = started_ns + int(args.timeout_s * 1e9)
            first_ns, last_ns, first_seq, trades = wait_for_outputs(sub, args.orders, deadline_ns)
            samples = scrape(metrics_port)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            sub.close(linger=0)
            context.term()
    delete_topic(args.bootstrap, topic)
    drain_s = (last_ns - first_ns) / 1e9
    batches = samples.get("matcher_wal_append_seconds_count", 0.0)
    return {
        "benchmark": "matcher_service",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "orders": args.orders,
        "batch_records_max": args.batch_records_max,
        "trades": trades,
        "produce_s": round(produce_s, 3),
        "start_to_last_output_s": round((last_ns - started_ns) / 1e9, 3),
        "drain_s": round(drain_s, 3),
        "throughput_outputs_per_s": round((args.orders - first_seq) / drain_s, 1) if drain_s > 0 else None,
        "wal_batches": int(batches),
        "records_per_batch_mean": round(args.orders / batches, 1) if batches else None,
        "wal_append_fsync_ms_mean": round(1e3 * samples["matcher_wal_append_seconds_sum"] / batches, 3)
        if batches else None,
    }


def main() -> None:
    """Parse flags, run once, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--batch-records-max", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bootstrap", default=BOOTSTRAP_DEFAULT)
    parser.add_argument("--timeout-s", type=float, default=180.0)
    args = parser.parse_args()
    result = run(args)
    print_rows(result)
    save_json(result, RESULTS_PATH)


if __name__ == "__main__":
    main()
