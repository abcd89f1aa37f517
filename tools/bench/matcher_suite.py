"""Issue 12's matcher numbers in one run (`make bench`): core, service, verifying subscriber, replay load, restart.

    core_commands_per_s             the pure matching core (tools.bench.matcher_core, best of 3)
    kafka_consume_records_per_s     the ceiling: a bare consumer reading the same backlog, doing nothing else
    service_outputs_per_s           Kafka backlog -> match -> WAL (fsync) -> ZeroMQ (tools.bench.matcher_service)
    feed_live_outputs_per_s         an EngineFeed (verifies every link) consuming that live feed, first to last output
    feed_catch_up_outputs_per_s     a fresh EngineFeed replaying the whole history from the replay endpoint
    replay_load_ratio               matching throughput with 50 clients replaying old history / quiet (target >= 0.9;
                                    tools.bench.matcher_replay_load)
    restart_*                       start time with a WAL of `--restart-records` (tools.bench.matcher_restart)

The default run stays short (about two minutes here): restart at 200k records. The 1M and 2M restart figures are
an opt-in (`--restart-records 1000000 --restart-records 2000000`, about five minutes more on this box, mostly to
build the state), also runnable alone as `python -m tools.bench.matcher_restart --records 1000000 ...`.

Prints one table; writes bench-results/matcher_suite.json (and each part's own JSON is left as it was).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import zmq

from common.engine_feed import EngineFeed
from common.errors import Timeout
from common.kafka import BOOTSTRAP_DEFAULT, assign_from, create_topic, delete_topic, make_consumer
from tools.bench import matcher_core, matcher_replay_load, matcher_restart, matcher_service
from tools.bench.results import print_rows, save_json

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO_ROOT / "bench-results" / "matcher_suite.json"
SHARD_ID = 0
FEED_POLL_OUTPUTS_MAX = 10_000
CEILING_RECORDS_MIN = 200_000


def collect(feed: EngineFeed, count: int, timeout_s: float) -> tuple[int, int]:
    """Poll `feed` until output `count`; return (first_ns, last_ns) of the polls that returned outputs."""
    first_ns = last_ns = 0
    deadline_ns = time.monotonic_ns() + int(timeout_s * 1e9)
    while feed.last_seq < count or feed.ready:
        if time.monotonic_ns() > deadline_ns:
            raise SystemExit(f"feed reached seq {feed.last_seq} of {count}")
        try:
            outputs = feed.poll(timeout_ms=100, outputs_max=FEED_POLL_OUTPUTS_MAX)
        except Timeout:
            continue
        if outputs:
            last_ns = time.monotonic_ns()
            first_ns = first_ns or last_ns
    return first_ns, last_ns


def consume_ceiling(orders: int, bootstrap: str) -> float:
    """Records/s a bare consumer (the matcher's settings) reads a preloaded backlog of `orders` at.

    Timed like the service (tools.bench.matcher_service): from the first batch received to the last, so neither
    includes connecting and the first fetch (about 0.3 s here, which at 50k records halved the figure). At least
    CEILING_RECORDS_MIN records: a small backlog is mostly prefetched by then, and reading memory is no ceiling.
    """
    orders = max(orders, CEILING_RECORDS_MIN)
    topic = f"orders.bench.{uuid.uuid4().hex[:10]}"
    create_topic(bootstrap, topic, partitions=4)
    try:
        matcher_service.preload(bootstrap, topic, matcher_service.commands(orders, 7))
        consumer = make_consumer(bootstrap, client_id="bench-consume-ceiling")
        assign_from(consumer, topic, {partition: -1 for partition in range(4)})
        received = first_batch = 0
        started_ns = 0
        while received < orders:
            batch = consumer.consume(num_messages=1_000, timeout=0.02)
            if batch and not started_ns:
                started_ns, first_batch = time.monotonic_ns(), len(batch)
            received += len(batch)
        elapsed_s = (time.monotonic_ns() - started_ns) / 1e9
        consumer.close()
    finally:
        delete_topic(bootstrap, topic)
    return round((orders - first_batch) / elapsed_s, 1)


def feed_rates(orders: int, bootstrap: str, timeout_s: float) -> dict[str, float]:
    """A live EngineFeed over a Kafka backlog of `orders`, then a fresh one catching up the whole history."""
    topic = f"orders.bench.{uuid.uuid4().hex[:10]}"
    create_topic(bootstrap, topic, partitions=4)
    matcher_service.preload(bootstrap, topic, matcher_service.commands(orders, 5))
    pub = f"tcp://127.0.0.1:{matcher_service.free_port()}"
    replay = f"tcp://127.0.0.1:{matcher_service.free_port()}"
    context = zmq.Context()
    try:
        with tempfile.TemporaryDirectory(prefix="matcher-bench-feed-") as state_dir:
            env = dict(os.environ)
            env.update(
                MATCHER_SHARD_ID=str(SHARD_ID), MATCHER_TOPIC=topic, MATCHER_KAFKA_BOOTSTRAP=bootstrap,
                MATCHER_PUB_ENDPOINT=pub, MATCHER_REPLAY_ENDPOINT=replay, MATCHER_METRICS_PORT="0",
                MATCHER_STATE_DIR=state_dir,
            )
            live = EngineFeed(context, sub_endpoint=pub, replay_endpoint=replay, shard_id=SHARD_ID)
            process = subprocess.Popen(
                [sys.executable, "-m", "matcher"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                live_first, live_last = collect(live, orders, timeout_s)
                catch_up = EngineFeed(context, sub_endpoint=pub, replay_endpoint=replay, shard_id=SHARD_ID)
                catch_up_first, catch_up_last = collect(catch_up, orders, timeout_s)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
            live.close()
            catch_up.close()
    finally:
        context.destroy(linger=0)
        delete_topic(bootstrap, topic)
    return {
        "feed_live_outputs_per_s": round((orders - 1) / ((live_last - live_first) / 1e9), 1),
        "feed_live_replayed_outputs": live.replayed_outputs,
        "feed_catch_up_outputs_per_s": round((orders - 1) / ((catch_up_last - catch_up_first) / 1e9), 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every part in turn; the suite's document."""
    started_ns = time.monotonic_ns()
    core = matcher_core.run(argparse.Namespace(
        ops=args.core_ops, mix="plain", book_orders=1_000, repeat=3, reference_ops=1_000, seed=1,
    ))
    consume = consume_ceiling(args.orders, args.bootstrap)
    service = matcher_service.run(argparse.Namespace(
        orders=args.orders, batch_records_max=1_000, seed=1, bootstrap=args.bootstrap, timeout_s=args.timeout_s,
    ))
    feed = feed_rates(args.orders, args.bootstrap, args.timeout_s)
    replay = matcher_replay_load.run(argparse.Namespace(
        history=40_000, backlog=20_000, rounds=5, clients=args.replay_clients, seed=3, bootstrap=args.bootstrap,
        timeout_s=args.timeout_s,
    ))
    restarts = [
        matcher_restart.run(records=records, tail=min(100_000, records // 2), seed=1, bootstrap=args.bootstrap)
        for records in (args.restart_records or [200_000])
    ]
    result: dict[str, Any] = {
        "benchmark": "matcher_suite",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "core_commands_per_s": round(core["throughput_ops_per_s"]["best"], 1),
        "kafka_consume_records_per_s": consume,
        "service_outputs_per_s": service["throughput_outputs_per_s"],
        "service_over_consume_ceiling": round(service["throughput_outputs_per_s"] / consume, 3),
        "service_target_outputs_per_s": 80_000,
        **feed,
        "replay_quiet_outputs_per_s": replay["quiet_median_outputs_per_s"],
        "replay_loaded_outputs_per_s": replay["loaded_median_outputs_per_s"],
        "replay_load_ratio": replay["loaded_over_quiet"],
        "replay_load_ratio_per_round": replay["loaded_over_quiet_per_round"],
        "replay_clients": replay["replay_clients"],
        "replay_served_outputs_per_s": replay["replay_outputs_per_s"],
    }
    for restart in restarts:
        prefix = f"restart_{restart['wal_records'] // 1_000}k"
        result[f"{prefix}_clean_stop_ready_s"] = restart["clean_stop_ready_s"]
        result[f"{prefix}_after_kill_ready_s"] = restart["after_kill_ready_s"]
        result[f"{prefix}_after_kill_tail_records"] = restart["after_kill_tail_records"]
        result[f"{prefix}_first_metrics_s"] = restart["after_kill_first_metrics_s"]
    result["suite_s"] = round((time.monotonic_ns() - started_ns) / 1e9, 1)
    return result


def main() -> None:
    """Parse flags, run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000, help="service and feed backlog")
    parser.add_argument("--core-ops", type=int, default=100_000)
    parser.add_argument("--replay-clients", type=int, default=50)
    parser.add_argument("--restart-records", type=int, action="append", help="repeatable; default 200000")
    parser.add_argument("--bootstrap", default=BOOTSTRAP_DEFAULT)
    parser.add_argument("--timeout-s", type=float, default=300.0)
    args = parser.parse_args()
    result = run(args)
    print()
    print_rows(result)
    save_json(result, RESULTS_PATH)


if __name__ == "__main__":
    main()
