"""Where the matcher's per-command CPU goes, and a verifying subscriber's: CPU time per output and a cProfile.

Producer side: `--orders` commands (tools.bench.matcher_service's mix) go through a real `MatcherService`
(`process_batch`, batches of 1000: decode, dedupe, match, build, seal, WAL append + fsync, publish on a real
ZeroMQ PUB) with a temp state dir; no Kafka (records are handed over as Kafka would hand them).
Subscriber side: the feed messages the service published are received by a real `EngineFeed` over ZeroMQ and
verified (every link). The time is CPU time of this process (`time.process_time`), best of `--repeat`; the
profiles (cProfile, which inflates everything about 2x) are printed as microseconds per output by own time.

    .venv/bin/python -m tools.bench.matcher_profile [--orders 50000] [--top 14] [--repeat 3]

Prints tables; writes bench-results/matcher_profile.json.
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
from confluent_kafka import Consumer

from common.engine_feed import EngineFeed
from common.markets import load_catalog
from matcher.config import MatcherConfig
from matcher.engine import Engine
from matcher.metrics import MatcherMetrics
from matcher.service import MatcherService
from matcher.state import recover
from tools.bench.matcher_service import commands, free_port
from tools.bench.results import save_json

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO_ROOT / "bench-results" / "matcher_profile.json"
BATCH_RECORDS = 1_000
PARTITIONS = 4
FEED_POLL_OUTPUTS_MAX = 10_000
FEED_WAIT_S = 60.0


class Record:
    """What `MatcherService.process_batch` reads of a confluent_kafka Message (which Python cannot build)."""

    __slots__ = ("_offset", "_partition", "_value")

    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        self._partition, self._offset, self._value = partition, offset, value

    def error(self) -> None:
        """Never an error here."""

    def partition(self) -> int:
        """Kafka partition."""
        return self._partition

    def offset(self) -> int:
        """Kafka offset."""
        return self._offset

    def value(self) -> bytes:
        """The OrderCommand bytes."""
        return self._value

    def topic(self) -> str:
        """The topic name (only logged)."""
        return "orders.profile"


def batches(orders: int) -> list[list[Record]]:
    """The commands as Kafka would deliver them: partition by symbol, dense offsets, batches of 1000."""
    offsets = [0] * PARTITIONS
    records = []
    for symbol, value in commands(orders, 1):
        partition = zlib.crc32(symbol.encode()) % PARTITIONS  # any fixed mapping: one symbol, one partition
        records.append(Record(partition, offsets[partition], value))
        offsets[partition] += 1
    return [records[start : start + BATCH_RECORDS] for start in range(0, len(records), BATCH_RECORDS)]


def run_once(orders: int, profilers: tuple[cProfile.Profile, cProfile.Profile] | None) -> tuple[float, float]:
    """(producer, subscriber) CPU microseconds per output of one fresh service and feed."""
    work = batches(orders)
    context = zmq.Context()
    pub, replay = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory(prefix="matcher-profile-") as state_dir:
        config = MatcherConfig(pub_endpoint=pub, replay_endpoint=replay, metrics_port=0, state_dir=Path(state_dir),
                               snapshot_outputs=10 * orders)  # fmt: skip
        engine = Engine(load_catalog(config.markets_path).markets.values())
        recovered = recover(engine=engine, wal_dir=config.wal_dir, snapshot_dir=config.snapshot_dir, shard_id=0,
                            partitions=config.partitions, segment_bytes_max=config.wal_segment_bytes_max)  # fmt: skip
        consumer = Consumer({"bootstrap.servers": config.kafka_bootstrap, "group.id": "matcher-profile.unused"})
        service = MatcherService(config=config, engine=engine, recovered=recovered, consumer=consumer,
                                 context=context, metrics=MatcherMetrics())  # fmt: skip
        feed = EngineFeed(context, sub_endpoint=pub, replay_endpoint=replay, shard_id=0,
                          idle_check_ms=3_600_000)  # fmt: skip
        feed.last_check_ns = time.monotonic_ns()  # live only: the replay endpoint is not served here
        wait_for_subscription(service, feed)
        try:
            producer_s = timed(lambda: produce(service, work), profilers and profilers[0])
            subscriber_s = timed(lambda: drain(feed, service.chain.last_seq), profilers and profilers[1])
        finally:
            feed.close()
            service.close()
    context.term()
    return 1e6 * producer_s / orders, 1e6 * subscriber_s / orders


def wait_for_subscription(service: MatcherService, feed: EngineFeed) -> None:
    """ZeroMQ drops what a PUB sends before the SUB's subscription arrived: wait for it (poll the socket)."""
    deadline_ns = time.monotonic_ns() + int(FEED_WAIT_S * 1e9)
    probe = service.topic + b"probe"
    while not feed.subscriber.poll(10, zmq.POLLIN):
        if time.monotonic_ns() > deadline_ns:
            raise SystemExit("the subscriber never connected")
        service.publisher.send(probe)
    while feed.subscriber.poll(0, zmq.POLLIN):
        feed.subscriber.recv()


def produce(service: MatcherService, work: list[list[Record]]) -> None:
    """Every batch as the loop hands over a backlog (full batches: each fsync overlaps the next batch), then the
    last one published."""
    for batch in work:
        service.process_batch(batch, backlog=True)  # type: ignore[arg-type]  # Record stands in for Message
    service.publish_durable()


def drain(feed: EngineFeed, last_seq: int) -> None:
    """Poll the live feed until `last_seq` is verified and handed over."""
    deadline_ns = time.monotonic_ns() + int(FEED_WAIT_S * 1e9)
    while feed.last_seq < last_seq or feed.ready:
        if time.monotonic_ns() > deadline_ns:
            raise SystemExit(f"feed at seq {feed.last_seq} of {last_seq}")
        feed.poll(timeout_ms=100, outputs_max=FEED_POLL_OUTPUTS_MAX)


def timed(work: Callable[[], object], profiler: cProfile.Profile | None) -> float:
    """CPU seconds of `work()` in this process (profiled if a profiler is given)."""
    started_s = time.process_time()
    if profiler is not None:
        profiler.runcall(work)
    else:
        work()
    return time.process_time() - started_s


def top_entries(profiler: cProfile.Profile, orders: int, top: int) -> list[dict[str, Any]]:
    """The `top` functions by own time: calls, share of all own time (steadier than times on a loaded machine),
    own and cumulative microseconds per output."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total_s = sum(row[2] for row in stats.values())
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return [
        {"function": f"{Path(file).stem}.{name}" if line else name, "calls": calls,
         "own_share_percent": round(100 * own_s / total_s, 1), "own_us": round(1e6 * own_s / orders, 2),
         "cumulative_us": round(1e6 * cumulative_s / orders, 2)}
        for (file, line, name), (_, calls, own_s, cumulative_s, _) in rows
    ]  # fmt: skip


def main() -> None:
    """Parse flags, time, profile, print, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=14, help="0: no profile, timing only")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [run_once(args.orders, None) for _ in range(args.repeat)]
    profilers = (cProfile.Profile(), cProfile.Profile())
    if args.top:  # --top 0: timing only
        run_once(args.orders, profilers)
    producer_top, subscriber_top = (top_entries(profiler, args.orders, args.top) if args.top else []
                                    for profiler in profilers)  # fmt: skip
    result = {
        "benchmark": "matcher_profile",
        "python": platform.python_version(),
        "orders": args.orders,
        "producer_cpu_us_per_output": round(min(run[0] for run in runs), 2),
        "subscriber_cpu_us_per_output": round(min(run[1] for run in runs), 2),
        "runs_us_per_output": [[round(a, 2), round(b, 2)] for a, b in runs],
        "producer_profile_top": producer_top,
        "subscriber_profile_top": subscriber_top,
    }
    print(f"producer {result['producer_cpu_us_per_output']} us/output CPU, "
          f"subscriber {result['subscriber_cpu_us_per_output']} us/output CPU (best of {args.repeat})")  # fmt: skip
    for side, entries in (("producer", producer_top), ("subscriber", subscriber_top)):
        print(f"\n{side + ': function':<48}{'calls':>8}{'own %':>7}{'own us':>9}{'cum us':>9}")
        for entry in entries:
            print(f"{entry['function'][:47]:<48}{entry['calls']:>8}{entry['own_share_percent']:>7}{entry['own_us']:>9}"
                  f"{entry['cumulative_us']:>9}")  # fmt: skip
    save_json(result, RESULTS_PATH)


if __name__ == "__main__":
    main()
