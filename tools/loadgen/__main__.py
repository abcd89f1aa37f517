"""`python -m tools.loadgen`: load the running stack (or a private one) and report rates, latencies and lags.

    python -m tools.loadgen --users 20 --rate 1000 --duration 30        # against the stack `bin/stack up` started
    python -m tools.loadgen --rate 0 --entry batch --duration 20         # as fast as possible, PlaceOrders batches
    python -m tools.loadgen --private-stack --duration 20                # its own stack beside the shared infra

Prints orders per second accepted -> matched -> persisted, latency percentiles of the acknowledgement, of the
match and of persistence, and the largest Kafka, feed and database lags; writes <name>.json,
<name>_latency.png and <name>_throughput.png under --results-dir (bench-results/).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tools.loadgen.driver import LoadRecord
from tools.loadgen.private_stack import UNLIMITED_RATE_LIMITS, private_stack
from tools.loadgen.report import table, write
from tools.loadgen.run import LoadRun, RunOptions
from tools.services.lifecycle import config_for_inspect
from tools.stack_config import StackConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (long flags only)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20, help="accounts, one key and one stream each")
    parser.add_argument("--rate", type=float, default=1000.0, help="orders+cancels per second; 0 = max")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending")
    parser.add_argument("--entry", choices=("stream", "batch"), default="stream",
                        help="StreamOrders (one stream per user) or PlaceOrders batches")
    parser.add_argument("--window", type=int, default=64, help="commands in flight per stream")
    parser.add_argument("--batch-orders", type=int, default=100, help="orders per PlaceOrders call")
    parser.add_argument("--transfers-per-s", type=float, default=0.0, help="deposits/withdrawals per second")
    parser.add_argument("--symbol", default="BTC_USDT")
    parser.add_argument("--mid-price", default="30000.00")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="loadgen", help="file name stem of the results")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "bench-results")
    parser.add_argument("--private-stack", action="store_true",
                        help="run a private stack (free ports, private topics and keyspace) for this run")
    return parser.parse_args(argv)


@contextmanager
def target_stack(private: bool) -> Iterator[StackConfig]:
    """The running stack (STACK_HOME's saved settings), or a private one that lives as long as the block."""
    if not private:
        yield config_for_inspect(os.environ)
        return
    with tempfile.TemporaryDirectory(prefix="loadgen-stack-") as home, \
            private_stack(Path(home), extra_env={"GATEWAY_RATE_LIMITS": UNLIMITED_RATE_LIMITS}) as config:
        yield config


def main(argv: list[str] | None = None) -> int:
    """Run, print, write; exit 1 if some accepted order was never matched or persisted."""
    args = parse_args(argv)
    options = RunOptions(users=args.users, symbol=args.symbol, mid_price=args.mid_price, rate_per_s=args.rate,
                         duration_s=args.duration, entry=args.entry, window=args.window,
                         batch_orders=args.batch_orders, transfers_per_s=args.transfers_per_s, seed=args.seed)
    with target_stack(args.private_stack) as config:
        print(f"stack {config.home}: gateway :{config.ports.gateway_grpc}, {config.matcher_shards} matcher "
              f"shard(s), keyspace {config.cql_keyspace}", flush=True)
        summary, series, lags = run_with_progress(config, options)
    print(table(summary))
    paths = write(args.results_dir, args.name, summary, series, lags, vars(args) | {"results_dir": None})
    print("wrote " + ", ".join(str(path) for path in paths))
    return 1 if summary["not_matched"] or summary["not_persisted"] else 0


def run_with_progress(config: StackConfig, options: RunOptions) -> tuple[dict[str, object], dict[str, list[float]],
                                                                         list[object]]:
    """Prepare, drive with a progress bar (time, then the drain), finish."""
    run = LoadRun(config, options)
    try:
        run.prepare()
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      TextColumn("{task.fields[counts]}")) as progress:
            task = progress.add_task("sending", total=options.duration_s, counts="")

            def tick(record: LoadRecord) -> None:
                unmatched, unpersisted = run.pending(record)
                accepted = len(record.accepted)
                progress.update(task, completed=min(options.duration_s, _elapsed_s(record)),
                                counts=f"accepted {accepted}  matched {accepted - unmatched}  "
                                       f"persisted {accepted - unmatched - unpersisted}")

            record = run.drive(on_tick=tick)
            progress.update(task, description="draining", completed=options.duration_s)
            summary, series = run.finish(record)
        assert run.lags is not None
        return summary, series, list(run.lags.samples)
    finally:
        run.stop_watching()


def _elapsed_s(record: LoadRecord) -> float:
    return (time.monotonic_ns() - record.started_ns) / 1e9


if __name__ == "__main__":
    sys.exit(main())
