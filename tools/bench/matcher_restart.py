"""Benchmark: how long a matcher takes to start with a large WAL, after a clean stop and after a kill.

Builds a state dir the way the service would (real engine, real chain, real WAL with 64 MiB segments, real
snapshot) for `--records` outputs, without Kafka: inputs are the service benchmark's generated commands at fake
positions (partition i % 4, offset i // 4). Two snapshots are written: one `--tail` outputs before the end (the
state after a SIGKILL: recovery re-executes the tail) and, in a copy, one at the end (a clean stop). Then starts
`python -m matcher` on each (a private empty topic; the matcher is killed once it is ready) and reports the time
to its first metrics answer and to its "ready" log line.

    .venv/bin/python -m tools.bench.matcher_restart [--records 1000000] [--tail 100000]

Prints a table; writes bench-results/matcher_restart.json. Needs `bin/stack infra up kafka`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import uuid
from pathlib import Path
from typing import Any

from common.engine_chain import Chain
from common.kafka import BOOTSTRAP_DEFAULT, create_topic, delete_topic
from common.markets import load_catalog
from common.snapshot import write_snapshot
from common.wal import Wal
from matcher.codec import decode_command, parse_order_command
from matcher.engine import Engine
from matcher.execution import execute
from matcher.replay import ReplayStore, output_record
from matcher.state import InputPositions, encode_state
from tools.bench.matcher_service import commands, free_port, scrape
from tools.bench.results import print_rows, save_json

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO_ROOT / "bench-results" / "matcher_restart.json"
SHARD_ID = 0
PARTITIONS = (0, 1, 2, 3)
BATCH_RECORDS = 1_000
START_TIMEOUT_S = 600.0


def build_state(state_dir: Path, *, records: int, tail: int, seed: int) -> tuple[int, float]:
    """Write `records` outputs to a WAL and a snapshot `tail` outputs before the end; return (resting orders, s)."""
    started_ns = time.monotonic_ns()
    engine = Engine(load_catalog().markets.values())
    chain = Chain(shard_id=SHARD_ID)
    positions = InputPositions.fresh(PARTITIONS)
    wal = Wal.open(state_dir / "wal")
    store = ReplayStore(wal)
    generated = commands(records, seed)
    for start in range(0, records, BATCH_RECORDS):
        batch, remembered = [], []
        for index in range(start, min(start + BATCH_RECORDS, records)):
            message = parse_order_command(generated[index][1])
            partition, offset = index % 4, index // 4
            positions.consumed(partition, offset)
            assert positions.is_new(partition, message.command_seq)
            executed = execute(engine, decode_command(message), message, partition=partition, offset=offset)
            seq, _, data = chain.seal_body(executed.body)
            batch.append(output_record(seq, data))
            remembered.append((seq, wal.last_lsn + len(batch), None))
        wal.append(batch)
        store.remember_batch(remembered)
        if wal.last_lsn == records - tail:
            payload = encode_state(
                lsn=wal.last_lsn, chain=chain, positions=positions, engine=engine, replay_index=list(store.index)
            )
            write_snapshot(state_dir / "snapshots", wal.last_lsn, payload)
    wal.close()
    clean_dir = state_dir.with_name(state_dir.name + "-clean")
    shutil.copytree(state_dir, clean_dir)
    payload = encode_state(
        lsn=records, chain=chain, positions=positions, engine=engine, replay_index=list(store.index)
    )
    write_snapshot(clean_dir / "snapshots", records, payload)
    resting = sum(len(book.snapshot()["bids"]) + len(book.snapshot()["asks"]) for book in engine.books.values())
    return resting, (time.monotonic_ns() - started_ns) / 1e9


def time_start(state_dir: Path, topic: str, bootstrap: str) -> dict[str, float]:
    """Start the matcher on `state_dir`; seconds to its first metrics answer and to its ready line; then kill it."""
    metrics_port = free_port()
    log_path = state_dir / "matcher.log"
    env = dict(os.environ)
    env.update(
        MATCHER_SHARD_ID=str(SHARD_ID), MATCHER_TOPIC=topic, MATCHER_KAFKA_BOOTSTRAP=bootstrap,
        MATCHER_PUB_ENDPOINT=f"tcp://127.0.0.1:{free_port()}", MATCHER_REPLAY_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
        MATCHER_METRICS_PORT=str(metrics_port), MATCHER_STATE_DIR=str(state_dir),
    )
    started_ns = time.monotonic_ns()
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "matcher"], cwd=REPO_ROOT, env=env, stderr=log_file)
    metrics_s = ready_s = 0.0
    try:
        while not ready_s:
            elapsed_s = (time.monotonic_ns() - started_ns) / 1e9
            if elapsed_s > START_TIMEOUT_S or process.poll() is not None:
                raise SystemExit(f"matcher not ready after {elapsed_s:.1f} s:\n{log_path.read_text()[-2000:]}")
            if not metrics_s:
                try:
                    scrape(metrics_port)
                    metrics_s = elapsed_s
                except (urllib.error.URLError, ConnectionError):
                    pass
            if " ready: " in log_path.read_text(errors="replace"):
                ready_s = elapsed_s
            time.sleep(0.01)  # polling a log file and a port for the benchmark's own timing, not a test
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    return {"first_metrics_s": round(metrics_s, 3), "ready_s": round(ready_s, 3)}


def run(*, records: int, tail: int, seed: int, bootstrap: str) -> dict[str, Any]:
    """Build the state for `records` outputs, then time a start after a kill and after a clean stop."""
    topic = f"orders.bench.{uuid.uuid4().hex[:10]}"
    create_topic(bootstrap, topic, partitions=len(PARTITIONS))
    try:
        with tempfile.TemporaryDirectory(prefix="matcher-bench-restart-") as temp:
            state_dir = Path(temp) / "state"
            resting, build_s = build_state(state_dir, records=records, tail=tail, seed=seed)
            killed = time_start(state_dir, topic, bootstrap)
            clean = time_start(state_dir.with_name("state-clean"), topic, bootstrap)
    finally:
        delete_topic(bootstrap, topic)
    return {
        "wal_records": records,
        "resting_orders": resting,
        "state_build_s": round(build_s, 1),
        "after_kill_tail_records": tail,
        "after_kill_ready_s": killed["ready_s"],
        "after_kill_first_metrics_s": killed["first_metrics_s"],
        "clean_stop_ready_s": clean["ready_s"],
        "clean_stop_first_metrics_s": clean["first_metrics_s"],
    }


def main() -> None:
    """Parse flags, run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, action="append", help="WAL records (repeatable; default 1000000)")
    parser.add_argument("--tail", type=int, default=100_000, help="records after the snapshot in the kill case")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bootstrap", default=BOOTSTRAP_DEFAULT)
    args = parser.parse_args()
    results = [
        run(records=records, tail=args.tail, seed=args.seed, bootstrap=args.bootstrap)
        for records in (args.records or [1_000_000])
    ]
    for result in results:
        print_rows(result)
        print()
    save_json({"benchmark": "matcher_restart", "runs": results}, RESULTS_PATH)


if __name__ == "__main__":
    main()
