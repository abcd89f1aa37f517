"""Benchmark of Settlement's persistence: matcher outputs and balance events written per second, beside the raw
rates the same driver reaches on the same CQL server in the same run.

Five measurements, interleaved over `--rounds` rounds, in private keyspaces (dropped afterwards):
- `raw_plain`: one prepared INSERT per row, `--in-flight` concurrent (execute_concurrent): CEILINGS.md's first row.
- `raw_batched`: UNLOGGED batches of 10 rows of one partition, concurrent: CEILINGS.md's second row.
- `raw_batched_wide`: the same with 16 value columns, about as wide as Settlement's rows (server cost grows
  with cells).
- `settlement`: Settlement's own path in-process: real EngineOutputs (the matcher's pure core, sealed in a chain)
  and BalanceEvents, projected (settlement/projection.py) and written by settlement/writer.py in turns of
  `--turn-inputs`, exactly as the service loop does after its feed and Kafka reads.
- `settlement_per_partition`: the same with `coalesce_replicas` off (a batch never spans partitions).
The ratios compare rows per second with `raw_batched` (the target: at least 70 %); rows per order is every row
projected from the outputs per place command (the writer then drops repeated `time_buckets` rows of a turn).
Transport (ZeroMQ feed, Kafka) is not in the timed path: those have their own benchmarks, and the service
reads them in bounded batches before it writes.

    .venv/bin/python -m tools.bench.settlement_service [--orders 4000] [--events 4000]

Prints a table; writes bench-results/settlement_service.json. Needs the CQL server (`bin/stack infra up`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType

from common.engine_chain import Chain
from common.markets import load_catalog
from exchange.v1 import balance_pb2, engine_pb2, order_pb2
from matcher.codec import build_output, decode_command
from matcher.engine import Engine
from settlement.cql import connect, drop_keyspace, migrate
from settlement.projection import project_balance_event, project_output
from settlement.rows import Row
from settlement.writer import CqlWriter
from tools.bench.matcher_service import commands
from tools.infra.layout import CQL_PORT, HOST

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO_ROOT / "bench-results" / "settlement_service.json"
RAW_BATCH_ROWS = 10
RAW_COLUMNS = 4  # CEILINGS.md's rows: a key and a few values
RAW_WIDE_COLUMNS = 16  # about the mean width of Settlement's rows


def make_outputs(count: int, seed: int) -> list[engine_pb2.EngineOutput]:
    """`count` sealed outputs of the matcher's pure core on the matcher benchmark's order mix (client ids added)."""
    engine = Engine(load_catalog().markets.values())
    chain = Chain(shard_id=0)
    outputs = []
    for offset, (_, data) in enumerate(commands(count, seed)):
        command = order_pb2.OrderCommand.FromString(data)
        if command.WhichOneof("command") == "place":
            command.place.client_order_id = f"c{command.place.order_id}"
        result = engine.apply(decode_command(command))
        outputs.append(chain.seal(build_output(command, partition=0, offset=offset, result=result)))
    return outputs


def make_events(count: int, seed: int) -> list[balance_pb2.BalanceEvent]:
    """`count` consistent balance events: deposits, locks and unlocks of 1,000 users, dense versions."""
    rng = random.Random(seed)
    balances: dict[tuple[int, int], list[int]] = {}
    events = []
    for event_id in range(1, count + 1):
        key = (rng.randint(1_001, 2_000), rng.randint(1, 3))
        balance = balances.setdefault(key, [0, 0, 0])
        amount = rng.randint(1, 1_000)
        if balance[0] < amount:
            kind, available, frozen = balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED, amount, 0
        elif rng.random() < 0.5:
            kind, available, frozen = balance_pb2.BALANCE_EVENT_TYPE_FUNDS_LOCKED, -amount, amount
        else:
            kind, available, frozen = balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED, amount, 0
        balance[0] += available
        balance[1] += frozen
        balance[2] += 1
        events.append(balance_pb2.BalanceEvent(
            event_id=event_id, user_id=key[0], asset_id=key[1], type=kind, delta_available_units=available,
            delta_frozen_units=frozen, available_units=balance[0], frozen_units=balance[1], version=balance[2],
            request_id=f"r{event_id}", ts_event_ns=1_763_000_000_000_000_000 + event_id * 1_000_000,
        ))
    return events


def timed(work: Callable[[], int]) -> dict[str, float]:
    """Run `work` (returns rows written); wall and client CPU time, rows per second, CPU per row."""
    started_ns, cpu_started = time.monotonic_ns(), time.process_time()
    rows = work()
    wall_s, cpu_s = (time.monotonic_ns() - started_ns) / 1e9, time.process_time() - cpu_started
    return {"rows": rows, "wall_s": round(wall_s, 3), "rows_per_s": round(rows / wall_s, 1),
            "client_cpu_us_per_row": round(1e6 * cpu_s / rows, 1)}


def raw_rows(session: Session, keyspace: str, rows: int, in_flight: int, *, columns: int,
             batch_rows: int) -> dict[str, float]:
    """Prepared INSERTs of rows with `columns` value columns: one per statement (batch_rows 1) or UNLOGGED batches
    of `batch_rows` rows of one partition; `in_flight` concurrent."""
    table = f"{keyspace}.bench_raw_{columns}"
    names = ", ".join(f"v{index}" for index in range(columns))
    insert = session.prepare(f"INSERT INTO {table} (pk, ck, {names}) VALUES (?, ?, {', '.join('?' * columns)})")

    def work() -> int:
        statements = []
        for start in range(0, rows, batch_rows):
            if batch_rows == 1:
                statements.append((insert, (start, start, *range(columns))))
                continue
            batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=ConsistencyLevel.LOCAL_QUORUM)
            for index in range(start, min(start + batch_rows, rows)):
                batch.add(insert, (start, index, *range(columns)))
            statements.append((batch, None))
        for result in execute_concurrent(session, statements, concurrency=in_flight, raise_on_first_error=True):
            assert result.success
        return rows

    return timed(work)


def settlement_path(
    session: Session, outputs: list[engine_pb2.EngineOutput], events: list[balance_pb2.BalanceEvent], *,
    turn_inputs: int, coalesce: bool,
) -> dict[str, Any]:
    """Project and write every output and event in turns of `turn_inputs`, as the service loop does."""
    markets = load_catalog().markets
    writer = CqlWriter(session, coalesce_replicas=coalesce)
    half = turn_inputs // 2
    counts: dict[str, int] = {}
    projected_rows = {"outputs": 0, "events": 0}  # before writer.py drops repeated time_buckets rows

    def work() -> int:
        created: dict[int, int] = {}
        written = 0
        for start in range(0, max(len(outputs), len(events)), half):
            rows: list[Row] = []
            for event in events[start:start + half]:
                rows.extend(project_balance_event(event))
            projected_rows["events"] += len(rows)
            for output in outputs[start:start + half]:
                projected = project_output(output, markets=markets, created_ns=created)
                created.update(projected.created)
                for order_id in projected.finished:
                    created.pop(order_id, None)
                rows.extend(projected.rows)
                projected_rows["outputs"] += len(projected.rows)
            stats = writer.write(rows)
            written += stats.rows
            for row in rows:
                counts[row.table] = counts.get(row.table, 0) + 1
        return written

    result: dict[str, Any] = timed(work)
    result["outputs_per_s"] = round(len(outputs) / result["wall_s"], 1)
    result["events_per_s"] = round(len(events) / result["wall_s"], 1)
    result["inputs_per_s"] = round((len(outputs) + len(events)) / result["wall_s"], 1)
    result["rows_by_table"] = dict(sorted(counts.items()))
    result["projected_rows"] = projected_rows
    return result


MEASUREMENTS = ("raw_plain", "raw_batched", "raw_batched_wide", "settlement", "settlement_per_partition")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """`--rounds` rounds of every measurement, interleaved (the machine is shared: load moves between rounds);
    ratios are taken within a round, then the median round is reported."""
    outputs = make_outputs(args.orders, args.seed)
    events = make_events(args.events, args.seed)
    places = sum(1 for output in outputs if output.input.command.WhichOneof("command") == "place")
    trades = sum(len(output.trades) for output in outputs)
    admin = connect([HOST], CQL_PORT)
    keyspaces = [f"bench_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    rounds: list[dict[str, Any]] = []
    try:
        for keyspace in keyspaces:
            migrate(admin, keyspace, out=lambda line: None)
            for columns in (RAW_COLUMNS, RAW_WIDE_COLUMNS):
                names = ", ".join(f"v{index} bigint" for index in range(columns))
                admin.execute(f"CREATE TABLE IF NOT EXISTS {keyspace}.bench_raw_{columns} "
                              f"(pk bigint, ck bigint, {names}, PRIMARY KEY ((pk), ck))")
        sessions = [connect([HOST], CQL_PORT, keyspace) for keyspace in keyspaces]
        try:
            for _ in range(args.rounds):
                rounds.append(_round(sessions, keyspaces[0], outputs, events, args))
        finally:
            for session in sessions:
                session.cluster.shutdown()
    finally:
        for keyspace in keyspaces:
            drop_keyspace(admin, keyspace)
        admin.cluster.shutdown()
    for entry in rounds:
        batched = entry["raw_batched"]["rows_per_s"]
        entry["ratio_settlement_to_raw_batched"] = round(entry["settlement"]["rows_per_s"] / batched, 3)
        entry["ratio_settlement_to_raw_batched_wide"] = round(
            entry["settlement"]["rows_per_s"] / entry["raw_batched_wide"]["rows_per_s"], 3)
        entry["ratio_settlement_per_partition_to_raw_batched"] = round(
            entry["settlement_per_partition"]["rows_per_s"] / batched, 3)
        entry["ratio_raw_plain_to_raw_batched"] = round(entry["raw_plain"]["rows_per_s"] / batched, 3)
    ratios = sorted(entry["ratio_settlement_to_raw_batched"] for entry in rounds)
    median = sorted(rounds, key=lambda entry: entry["ratio_settlement_to_raw_batched"])[len(rounds) // 2]
    ours = median["settlement"]
    return {
        "benchmark": "settlement_service",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "orders": args.orders,
        "places": places,
        "trades": trades,
        "events": args.events,
        "turn_inputs": args.turn_inputs,
        "in_flight": args.in_flight,
        "rounds": len(rounds),
        "ratio_settlement_to_raw_batched_all_rounds": ratios,
        "median_round": median,
        "rows_per_order": round(ours["projected_rows"]["outputs"] / places, 2),
        "rows_per_balance_event": round(ours["projected_rows"]["events"] / args.events, 2),
        "rows_written_per_projected": round(ours["rows"] / sum(ours["projected_rows"].values()), 3),
    }


def _round(sessions: list[Session], raw_keyspace: str, outputs: list[engine_pb2.EngineOutput],
           events: list[balance_pb2.BalanceEvent], args: argparse.Namespace) -> dict[str, Any]:
    """One measurement of each kind, back to back."""
    return {
        "raw_plain": raw_rows(sessions[0], raw_keyspace, args.raw_rows // 4, args.in_flight, columns=RAW_COLUMNS,
                              batch_rows=1),
        "raw_batched": raw_rows(sessions[0], raw_keyspace, args.raw_rows, args.in_flight, columns=RAW_COLUMNS,
                                batch_rows=RAW_BATCH_ROWS),
        "raw_batched_wide": raw_rows(sessions[0], raw_keyspace, args.raw_rows, args.in_flight,
                                     columns=RAW_WIDE_COLUMNS, batch_rows=RAW_BATCH_ROWS),
        "settlement": settlement_path(sessions[0], outputs, events, turn_inputs=args.turn_inputs, coalesce=True),
        "settlement_per_partition": settlement_path(sessions[1], outputs, events, turn_inputs=args.turn_inputs,
                                                    coalesce=False),
    }


def main() -> None:
    """Parse flags, run once, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=4_000)
    parser.add_argument("--events", type=int, default=4_000)
    parser.add_argument("--raw-rows", type=int, default=40_000)
    parser.add_argument("--turn-inputs", type=int, default=2_000)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = run(args)
    median = result["median_round"]
    print(f"{'measurement (median round)':<26} {'rows':>8} {'rows/s':>10} {'cpu us/row':>11}  inputs/s")
    for name in MEASUREMENTS:
        entry = median[name]
        inputs = f"{entry['inputs_per_s']:.0f} (outputs {entry['outputs_per_s']:.0f}/s, events " \
                 f"{entry['events_per_s']:.0f}/s)" if "inputs_per_s" in entry else "-"
        print(f"{name:<26} {entry['rows']:>8} {entry['rows_per_s']:>10.0f} {entry['client_cpu_us_per_row']:>11.1f}"
              f"  {inputs}")
    for key in ("ratio_settlement_to_raw_batched", "ratio_settlement_to_raw_batched_wide",
                "ratio_settlement_per_partition_to_raw_batched", "ratio_raw_plain_to_raw_batched"):
        print(f"{key:<46} {median[key]}")
    for key in ("ratio_settlement_to_raw_batched_all_rounds", "rows_per_order", "rows_per_balance_event",
                "rows_written_per_projected", "load_average_1m"):
        print(f"{key:<46} {result[key]}")
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS_PATH}")


if __name__ == "__main__":
    main()
