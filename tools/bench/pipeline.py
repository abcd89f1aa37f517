"""Whole-pipeline benchmark: the load generator through a private stack, beside the raw rate of each piece.

    .venv/bin/python -m tools.bench.pipeline [--duration 60] [--users 8]

One run, on a private stack (free ports, private topics and keyspace, the shared Kafka, CQL server and Aeron
driver; the gateway's rate limits lifted), measures in turn:

1. the raw pieces: Kafka produce (records/s, idempotent producer, ~100 B, to a private topic), CQL write
   (rows/s, UNLOGGED batches of 10 rows of one partition, 200 in flight), matcher core (commands/s, pure engine);
2. `ack@1000`: StreamOrders at 1,000 orders/s (plus the mix's cancels) for a third of `--duration` (ack latency
   target: p99 < 5 ms);
3. `max`: PlaceOrders batches as fast as possible for the rest (target: 20,000 orders/s accepted and matched;
   persistence keeps up with bounded lag at the highest rate the CQL server allows);
4. `sustain` (unless `--no-sustain`): StreamOrders paced at 80 % of the rate `max` persisted, for a third of
   `--duration`: does persistence keep up there, with its lags bounded (the largest lags and the drain time after
   the load say so)? Flat out, the pipeline accepts more than Settlement writes, so `max`'s lags grow by design;
   before this phase the bench waits until Settlement's `balance.events` lag is 0 (`events_drain_s` of `max`).

It prints each stage's sustained rate (accepted, matched, persisted) and its ratio to the piece that bounds it:
Kafka produce for accepted, matcher core for matched, CQL rows/s / (rows written per order, counted from
Settlement's `settlement_rows_written` during the run) for persisted. Targets are reported, never asserted.
Each phase also records every process's CPU time per accepted order (`cpu_us_per_order`: gateway, UBSCore,
matcher, Settlement, REST proxy, and this process, the load generator), read from /proc for the stack's pid
files: the machine is shared, so rates move with its load, but CPU per order says where the two cores go.
Writes bench-results/pipeline.json (with the load average before and after) and the load generator's JSON and
plots for both phases.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from common.kafka import create_topic, delete_topic
from common.markets import load_catalog
from gateway.cql import connect
from matcher.engine import Engine
from tools.bench.matcher_core import Generator, measure_throughput
from tools.bench.matcher_service import preload
from tools.bench.settlement_service import raw_rows
from tools.infra.process import read_pid_file
from tools.loadgen.mix import MixShares
from tools.loadgen.private_stack import UNLIMITED_RATE_LIMITS, private_stack
from tools.loadgen.report import table, write
from tools.loadgen.run import LoadRun, RunOptions
from tools.services.probes import metric_sum
from tools.stack_config import HOST, StackConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "bench-results"
KAFKA_RECORDS = 50_000
KAFKA_RECORD_BYTES = 100
CQL_ROWS = 20_000
CQL_BATCH_ROWS = 10
CQL_IN_FLIGHT = 200
CQL_COLUMNS = 6
MATCHER_OPS = 50_000
ACK_RATE_PER_S = 1_000.0
TARGET_ORDERS_PER_S = 20_000
TARGET_ACK_US_P99 = 5_000
EVENTS_DRAIN_DEADLINE_S = 300.0
EVENTS_DRAIN_POLL_S = 0.5
SUSTAIN_SHARE = 0.8  # of the rate `max` persisted: the pace of the phase that checks persistence keeps up


def kafka_produce_per_s(config: StackConfig) -> float:
    """Records/s of an idempotent producer (the project's settings) into a private 4-partition topic."""
    topic = f"bench.pipeline.{uuid.uuid4().hex[:10]}"
    create_topic(config.kafka_bootstrap, topic, partitions=4)
    try:
        records = [(str(index % 64), b"x" * KAFKA_RECORD_BYTES) for index in range(KAFKA_RECORDS)]
        return KAFKA_RECORDS / preload(config.kafka_bootstrap, topic, records)
    finally:
        delete_topic(config.kafka_bootstrap, topic)


def cql_rows_per_s(config: StackConfig) -> float:
    """Rows/s of UNLOGGED batches of one partition (Settlement's write shape) in the stack's keyspace."""
    session = connect(config.cql_contact_points, config.cql_port)
    try:
        names = ", ".join(f"v{index} bigint" for index in range(CQL_COLUMNS))
        session.execute(f"CREATE TABLE IF NOT EXISTS {config.cql_keyspace}.bench_raw_{CQL_COLUMNS} "
                        f"(pk bigint, ck bigint, {names}, PRIMARY KEY (pk, ck))", timeout=120)
        return raw_rows(session, config.cql_keyspace, CQL_ROWS, CQL_IN_FLIGHT, columns=CQL_COLUMNS,
                        batch_rows=CQL_BATCH_ROWS)["rows_per_s"]
    finally:
        session.cluster.shutdown()


def matcher_core_per_s() -> float:
    """Commands/s of the pure matching engine on exchange-core's mix (tools.bench.matcher_core), best of one."""
    market = load_catalog().markets["BTC_USDT"]
    generator = Generator(market, 1, 1_000)
    prefill = generator.prefill()
    commands = [command for _, command in generator.stream(MATCHER_OPS, "plain")]
    engine = Engine([market])
    for command in prefill:
        engine.apply(command)
    return measure_throughput(engine, commands)[0]


def order_share() -> float:
    """The fraction of the mix's commands that are orders (the rest are cancels): the driver paces commands."""
    shares = MixShares()
    weights = (shares.limit_gtc, shares.limit_ioc, shares.limit_fok, shares.market)
    return sum(weights) / (sum(weights) + shares.cancel)


def rows_written(config: StackConfig) -> int:
    """Rows Settlement wrote so far, over every instance and table."""
    return sum(metric_sum(f"http://{HOST}:{port}/metrics", "settlement_rows_written_total") or 0
               for port in config.ports.settlement_metrics)


def services_cpu_s(config: StackConfig) -> dict[str, float]:
    """CPU seconds (user + system) each of the stack's services has used so far, and this process (the load
    generator: driver and watchers). Per order, these say where the machine's two cores go, whatever else runs."""
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for pid_file in sorted(config.run_dir.glob("*.pid")):
        record = read_pid_file(pid_file)
        if pid_file.name.endswith(".supervisor.pid") or record is None:
            continue
        try:
            fields = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited
            continue
        used[pid_file.name.removesuffix(".pid")] = (int(fields[11]) + int(fields[12])) / ticks_per_s
    times = os.times()
    used["loadgen"] = times.user + times.system
    return used


def wait_events_persisted(config: StackConfig, *, deadline_s: float = EVENTS_DRAIN_DEADLINE_S) -> float | None:
    """Seconds until Settlement's `balance.events` lag (its gauge, every instance) is 0, or None past the deadline.

    A phase's drain waits for the matcher outputs only (chain_state); the balance events behind them (ledger,
    balances) may take longer, and a backlog left by `max` would show as the next phase's lag."""
    started_ns = time.monotonic_ns()
    deadline_ns = started_ns + int(deadline_s * 1e9)
    while time.monotonic_ns() < deadline_ns:
        lags = [metric_sum(f"http://{HOST}:{port}/metrics", "settlement_kafka_lag_records")
                for port in config.ports.settlement_metrics]
        if all(lag == 0 for lag in lags):
            return (time.monotonic_ns() - started_ns) / 1e9
        time.sleep(EVENTS_DRAIN_POLL_S)  # polling a gauge the service refreshes once a second
    return None


def phase(config: StackConfig, name: str, options: RunOptions) -> dict[str, Any]:
    """One load run; writes its JSON and plots; returns its summary (with rows written per persisted order and
    each process's CPU time per accepted order, from the start of sending to the end of the drain)."""
    run = LoadRun(config, options)
    try:
        run.prepare()
        rows_before = rows_written(config)
        cpu_before = services_cpu_s(config)
        record = run.drive()
        summary, series = run.finish(record)
        cpu_after = services_cpu_s(config)
        summary["rows_per_order"] = (rows_written(config) - rows_before) / max(1, int(summary["persisted"]))
        summary["cpu_us_per_order"] = {
            process: round(1e6 * (cpu_after[process] - cpu_before[process]) / max(1, int(summary["accepted"])))
            for process in cpu_after if process in cpu_before}
        assert run.lags is not None
        write(RESULTS_DIR, f"pipeline_{name}", summary, series, run.lags.samples, {"options": options})
    finally:
        run.stop_watching()
    print(f"\n[{name}]\n{table(summary)}\nCPU per accepted order (µs): {summary['cpu_us_per_order']}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Raw pieces, then the two load phases, then the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load over the ack and max phases")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--no-sustain", action="store_true",
                        help="skip the phase paced at 80 %% of the rate max persisted")
    args = parser.parse_args(argv)
    load_average_start = os.getloadavg()  # the machine is shared: how busy it was before and after this run
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as home, \
            private_stack(Path(home), extra_env={"GATEWAY_RATE_LIMITS": UNLIMITED_RATE_LIMITS}) as config:
        raw = {"kafka_produce_records_per_s": kafka_produce_per_s(config),
               "cql_rows_per_s": cql_rows_per_s(config), "matcher_core_commands_per_s": matcher_core_per_s()}
        print(f"raw pieces: {', '.join(f'{key} {value:,.0f}' for key, value in raw.items())}", flush=True)
        ack = phase(config, "ack1000", RunOptions(users=args.users, rate_per_s=ACK_RATE_PER_S / order_share(),
                                                  duration_s=args.duration / 3, entry="stream"))
        top = phase(config, "max", RunOptions(users=args.users, rate_per_s=0, duration_s=2 * args.duration / 3,
                                              entry="batch", batch_orders=500))
        top["events_drain_s"] = wait_events_persisted(config)  # after the orders' drain, from the end of it
        print(f"balance.events persisted {top['events_drain_s']} s after the orders were", flush=True)
        sustain = None
        if not args.no_sustain:
            sustain_orders_per_s = SUSTAIN_SHARE * float(top["persisted_per_s"])
            sustain = phase(config, "sustain", RunOptions(
                users=args.users, rate_per_s=sustain_orders_per_s / order_share(), duration_s=args.duration / 3,
                entry="stream"))
    report = ratios(raw, ack, top, sustain)
    report |= {"raw": raw, "ack1000": ack, "max": top, "sustain": sustain, "load_average_start": load_average_start,
               "load_average": os.getloadavg()}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "pipeline.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS_DIR / 'pipeline.json'}")
    return 0


def ratios(raw: dict[str, float], ack: dict[str, Any], top: dict[str, Any],
           sustain: dict[str, Any] | None) -> dict[str, Any]:
    """Print and return each stage's rate beside its ceiling and the targets."""
    rows_per_order = max(1e-9, float(top["rows_per_order"]))
    cql_orders_per_s = raw["cql_rows_per_s"] / rows_per_order
    lines = [
        ("accepted (max)", top["accepted_per_s"], "Kafka produce", raw["kafka_produce_records_per_s"]),
        ("matched (max)", top["matched_per_s"], "matcher core", raw["matcher_core_commands_per_s"]),
        ("persisted (max)", top["persisted_per_s"], f"CQL rows/s / {rows_per_order:.1f} rows per order",
         cql_orders_per_s),
    ]
    print(f"\n{'stage':<18}{'orders/s':>10}   {'ceiling (same run)':<38}{'per s':>10}{'ratio':>8}")
    for stage, rate, ceiling, ceiling_rate in lines:
        print(f"{stage:<18}{rate:>10,.0f}   {ceiling:<38}{ceiling_rate:>10,.0f}{rate / ceiling_rate:>8.3f}")
    ack_p99_us = ack["ack_latency_us"]["p99"]
    targets = {
        "accepted_and_matched_20k_per_s": {"measured": min(top["accepted_per_s"], top["matched_per_s"]),
                                           "target": TARGET_ORDERS_PER_S},
        "ack_p99_us_at_1000_per_s": {"measured": ack_p99_us, "target": TARGET_ACK_US_P99},
        "persistence_bounded_lag": {"persisted_per_s": top["persisted_per_s"], "drain_s": top["drain_s"],
                                    "db_lag_max": top["lag_max"], "cql_orders_per_s_ceiling": cql_orders_per_s},
    }
    targets["persistence_bounded_lag"]["events_drain_s"] = top.get("events_drain_s")
    if sustain is not None:
        targets["persistence_bounded_lag"]["sustain"] = {
            "accepted_per_s": sustain["accepted_per_s"], "persisted_per_s": sustain["persisted_per_s"],
            "drain_s": sustain["drain_s"], "lag_max": sustain["lag_max"]}
        print(f"sustain: {sustain['accepted_per_s']:,.0f} orders/s accepted, {sustain['persisted_per_s']:,.0f} "
              f"persisted, drained {sustain['drain_s']:.1f} s after; largest lags {sustain['lag_max']}")
    matched_rate = targets["accepted_and_matched_20k_per_s"]["measured"]
    print(f"targets (reported, not asserted): accepted+matched {matched_rate:,.0f} / {TARGET_ORDERS_PER_S:,} "
          f"orders/s; ack p99 at 1,000/s {ack_p99_us / 1e3:.1f} ms / 5 ms; persistence "
          f"{top['persisted_per_s']:,.0f} orders/s, drained {top['drain_s']:.1f} s after the load")
    return {"ceilings": [{"stage": s, "orders_per_s": r, "ceiling": c, "ceiling_per_s": cr, "ratio": r / cr}
                         for s, r, c, cr in lines], "targets": targets}


if __name__ == "__main__":
    raise SystemExit(main())
