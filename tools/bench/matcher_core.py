"""Benchmark of the pure matching core (no I/O): throughput and per-operation latency on exchange-core's mix.

exchange-core's published single-book benchmark sends 9% GTC, 3% IOC, 6% cancel and 82% move commands, with
~1,000 resting orders in ~750 price slots and 1,000 users. We have no move (amend) command, so the default mix
keeps their GTC:IOC:cancel ratio (9:3:6 -> 50% / 16.7% / 33.3%); `--mix move` instead replays each move as a
cancel plus a GTC at the new price (two commands, counted as two ops). The generator steers the book size
around `--book-orders` (placing when below, cancelling when above) and ~10% of GTCs cross.

    .venv/bin/python -m tools.bench.matcher_core [--ops 300000] [--mix plain|move] [--seed 1]

Prints a table; writes bench-results/matcher_core.json and bench-results/matcher_core.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from common.enums import OrderStatus, OrderType, Side, TimeInForce
from common.markets import Market, load_catalog
from matcher.book_reference import ReferenceBook
from matcher.commands import CancelOrder, Command, PlaceOrder
from matcher.engine import Engine

RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench-results"
SYMBOL = "BTC_USDT"
USERS = 1_000
PRICE_SLOTS_PER_SIDE = 750
OPEN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
TARGET_OPS_PER_S = 500_000


class Generator:
    """Builds a command stream by running it through a tracking engine, so cancels name live orders."""

    def __init__(self, market: Market, seed: int, book_orders: int) -> None:
        self.market = market
        self.rng = random.Random(seed)
        self.book_orders = book_orders
        self.tracker = Engine([market])
        self.live: list[tuple[int, int]] = []  # (order_id, user_id), swap-removed
        self.live_index: dict[int, int] = {}
        self.next_id = 1
        self.mid_units = 45_000 * 10**market.quote_scale
        self.ts_ns = 1_700_000_000_000_000_000

    def _track(self, cmd: Command) -> None:
        for update in self.tracker.apply(cmd).order_updates:
            if update.status in OPEN:
                if update.order_id not in self.live_index:
                    self.live_index[update.order_id] = len(self.live)
                    self.live.append((update.order_id, update.user_id))
            elif update.order_id in self.live_index:
                position = self.live_index.pop(update.order_id)
                last = self.live.pop()
                if position < len(self.live):
                    self.live[position] = last
                    self.live_index[last[0]] = position

    def _place(self, tif: TimeInForce, crossing: bool) -> PlaceOrder:
        rng, market = self.rng, self.market
        side = rng.choice((Side.BUY, Side.SELL))
        ticks = rng.randint(1, PRICE_SLOTS_PER_SIDE)
        direction = -1 if side == Side.BUY else 1
        if crossing:
            direction, ticks = -direction, rng.randint(0, 20)
        price = self.mid_units + direction * ticks * market.tick_units
        self.next_id += 1
        self.ts_ns += 1_000
        return PlaceOrder(
            symbol=market.symbol, order_id=self.next_id, user_id=rng.randint(1, USERS), side=side,
            order_type=OrderType.LIMIT, time_in_force=tif, price_units=price,
            qty_units=rng.randint(1, 10) * market.lot_units, ts_event_ns=self.ts_ns,
        )  # fmt: skip

    def _cancel(self) -> CancelOrder:
        order_id, user_id = self.live[self.rng.randrange(len(self.live))]
        self.ts_ns += 1_000
        return CancelOrder(symbol=self.market.symbol, user_id=user_id, order_id=order_id, ts_event_ns=self.ts_ns)

    def prefill(self) -> list[Command]:
        """Passive GTCs until the book holds `book_orders` orders (not timed)."""
        commands: list[Command] = []
        while len(self.live) < self.book_orders:
            commands.append(self._emit(self._place(TimeInForce.GTC, crossing=False)))
        return commands

    def _emit(self, cmd: Command) -> Command:
        self._track(cmd)
        return cmd

    def stream(self, ops: int, mix: str) -> list[tuple[str, Command]]:
        """`ops` commands labelled gtc / ioc / cancel (plain mix) or with moves replayed as cancel + gtc."""
        rng, out = self.rng, []
        weights = (9, 3, 6, 82) if mix == "move" else (9, 3, 6, 0)
        while len(out) < ops:
            size = len(self.live)
            kind = rng.choices(("gtc", "ioc", "cancel", "move"), weights=weights)[0]
            if size < self.book_orders * 0.9 and kind in ("cancel", "ioc"):
                kind = "gtc"
            elif size > self.book_orders * 1.1 and kind == "gtc":
                kind = "cancel"
            if kind == "gtc":
                out.append(("gtc", self._emit(self._place(TimeInForce.GTC, crossing=rng.random() < 0.1))))
            elif kind == "ioc":
                out.append(("ioc", self._emit(self._place(TimeInForce.IOC, crossing=True))))
            else:
                out.append(("cancel", self._emit(self._cancel())))
                if kind == "move":
                    out.append(("gtc", self._emit(self._place(TimeInForce.GTC, crossing=False))))
        return out[:ops]


def measure_throughput(engine: Engine, commands: list[Command]) -> tuple[float, float]:
    """(wall-clock ops/s, CPU-time ops/s) of engine.apply over `commands` in one tight loop, no per-op timing.

    CPU time (time.process_time) is reported too because benchmark machines are often shared: it excludes the
    time the process waited for a core.
    """
    apply = engine.apply
    started_ns, started_cpu_ns = time.perf_counter_ns(), time.process_time_ns()
    for cmd in commands:
        apply(cmd)
    wall_s = (time.perf_counter_ns() - started_ns) / 1e9
    cpu_s = (time.process_time_ns() - started_cpu_ns) / 1e9
    return len(commands) / wall_s, len(commands) / cpu_s


def measure_latency(engine: Engine, labelled: list[tuple[str, Command]]) -> dict[str, HdrHistogram]:
    """Per-op latency (perf_counter_ns around each apply), recorded per label after the run."""
    apply, clock = engine.apply, time.perf_counter_ns
    samples: dict[str, list[int]] = defaultdict(list)
    for label, cmd in labelled:
        started_ns = clock()
        result = apply(cmd)
        elapsed_ns = clock() - started_ns
        samples[label if not result.trades else f"{label}+trade"].append(elapsed_ns)
    histograms: dict[str, HdrHistogram] = {}
    everything = HdrHistogram(1, 10_000_000_000, 3)
    for label, values in sorted(samples.items()):
        if not values:
            continue
        histogram = histograms[label] = HdrHistogram(1, 10_000_000_000, 3)
        for value in values:
            histogram.record_value(max(value, 1))
            everything.record_value(max(value, 1))
    histograms["all"] = everything
    return histograms


PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def interpreter_speed_ns() -> float:
    """CPU ns per iteration of an empty `for` loop: a yardstick to compare machines (a fast desktop: ~10 ns)."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time_ns()
        for _ in range(1_000_000):
            pass
        best = min(best, (time.process_time_ns() - started) / 1_000_000)
    return best


def summarise(histograms: dict[str, HdrHistogram]) -> dict[str, dict[str, float]]:
    """Microsecond percentiles and counts per label."""
    return {
        label: {
            "count": h.get_total_count(),
            **{f"p{p:g}_us": h.get_value_at_percentile(p) / 1_000 for p in PERCENTILES},
            "max_us": h.get_max_value() / 1_000,
            "mean_us": h.get_mean_value() / 1_000,
        }
        for label, h in histograms.items()
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    market = load_catalog().markets[SYMBOL]
    generator = Generator(market, args.seed, args.book_orders)
    prefill = generator.prefill()
    labelled = generator.stream(args.ops, args.mix)
    commands = [cmd for _, cmd in labelled]

    def fresh(factory: Callable[[Market], Any] | None = None) -> Engine:
        engine = Engine([market]) if factory is None else Engine([market], book_factory=factory)
        for cmd in prefill:
            engine.apply(cmd)
        return engine

    runs = [measure_throughput(fresh(), commands) for _ in range(args.repeat)]
    gc.disable()
    no_gc = measure_throughput(fresh(), commands)
    gc.enable()
    reference_ops = min(len(commands), args.reference_ops)
    reference = measure_throughput(fresh(ReferenceBook), commands[:reference_ops])
    latency_engine = fresh()
    histograms = measure_latency(latency_engine, labelled)
    trading = sum(h.get_total_count() for label, h in histograms.items() if label.endswith("+trade"))
    return {
        "benchmark": "matcher_core",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "empty_loop_ns_per_iter": interpreter_speed_ns(),
        "mix": args.mix,
        "ops": len(commands),
        "book_orders_target": args.book_orders,
        "resting_orders_end": len(generator.live),
        "price_levels_end": sum(len(lv) for lv in latency_engine.depth(SYMBOL, 10**6)),
        "ops_with_trades_pct": 100.0 * trading / len(commands),
        "throughput_ops_per_s": {
            "best": max(wall for wall, _ in runs),
            "runs": [wall for wall, _ in runs],
            "best_cpu_time": max(cpu for _, cpu in runs),
            "gc_disabled": no_gc[0],
        },
        "reference_book_ops_per_s": {"ops": reference_ops, "value": reference[0]},
        "target_ops_per_s": TARGET_OPS_PER_S,
        "latency_us": summarise(histograms),
    }


def print_table(report: dict[str, Any]) -> None:
    through = report["throughput_ops_per_s"]
    print(f"matcher core, mix={report['mix']}, {report['ops']:,} ops, ~{report['resting_orders_end']} resting orders "
          f"in {report['price_levels_end']} levels, {report['ops_with_trades_pct']:.1f}% ops trade")  # fmt: skip
    runs = ", ".join(f"{r:,.0f}" for r in through["runs"])
    print(f"interpreter yardstick: empty for-loop {report['empty_loop_ns_per_iter']:.1f} ns/iteration")
    reference = report["reference_book_ops_per_s"]["value"]
    print(f"throughput: best {through['best']:,.0f} ops/s wall clock (runs {runs}), {through['best_cpu_time']:,.0f} "
          f"ops/s of CPU time; gc disabled {through['gc_disabled']:,.0f}; reference book {reference:,.0f} ops/s; "
          f"target {report['target_ops_per_s']:,}")  # fmt: skip
    header = f"{'op':<14}{'count':>9}" + "".join(f"{f'p{p:g} us':>11}" for p in PERCENTILES) + f"{'max us':>11}"
    print(header)
    for label, row in report["latency_us"].items():
        cells = "".join(f"{row[f'p{p:g}_us']:>11.2f}" for p in PERCENTILES)
        print(f"{label:<14}{row['count']:>9}{cells}{row['max_us']:>11.1f}")


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib  # only needed here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = list(report["latency_us"])
    for index, p in enumerate(PERCENTILES):
        values = [report["latency_us"][label][f"p{p:g}_us"] for label in labels]
        left.bar([i + index * 0.2 for i in range(len(labels))], values, width=0.2, label=f"p{p:g}")
    left.set_xticks([i + 0.3 for i in range(len(labels))], labels, rotation=20)
    left.set_ylabel("latency per op (us)")
    left.set_yscale("log")
    left.legend()
    left.set_title("matcher core latency by operation")
    through = report["throughput_ops_per_s"]
    names = ["reference book", "fast book", "fast (CPU time)", "fast, gc off", "target"]
    values = [
        report["reference_book_ops_per_s"]["value"], through["best"], through["best_cpu_time"], through["gc_disabled"],
        TARGET_OPS_PER_S,
    ]  # fmt: skip
    right.bar(names, values, color=["grey", "tab:blue", "tab:purple", "tab:cyan", "tab:red"])
    right.tick_params(axis="x", rotation=15)
    right.set_ylabel("ops/s (one core, CPython)")
    right.set_title(f"throughput, mix={report['mix']}, {report['ops']:,} ops")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=300_000, help="timed commands (default keeps the run < 60 s)")
    parser.add_argument("--mix", choices=("plain", "move"), default="plain")
    parser.add_argument("--book-orders", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs; the best is reported")
    parser.add_argument("--reference-ops", type=int, default=3_000, help="ops for the naive book (it is O(n))")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    report = run(args)
    print_table(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "matcher_core.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out / "matcher_core.png")
    print(f"wrote {args.out / 'matcher_core.json'} and {args.out / 'matcher_core.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
