"""Benchmark of what trace context costs on the two hot paths, per command, in this process (no I/O).

The matcher path is what `MatcherService._apply_one` does per Kafka record: parse, decode, (span), execute, seal.
The UBSCore path is what `UbscoreService._take_request` does per Aeron request: decode, (span), place in the core,
stamp the events, encode the command and the events. Each runs in four modes:

    off           tracing off, messages without a traceparent (before this change)
    off+context   tracing off, messages carrying a traceparent (copied through, no span)
    on            tracing on, sampled parent: one span per command, BatchSpanProcessor to an exporter that drops
    on, unsampled tracing on, parent not sampled (what a sample ratio below 1 gives most orders)

    .venv/bin/python -m tools.bench.tracing_overhead [--ops 50000] [--repeats 3]

Prints a table; writes bench-results/tracing_overhead.json.
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from common import tracing
from common.engine_chain import Chain
from common.enums import BalanceOperation, OrderType, SelfTradeMode, Side, TimeInForce
from common.markets import load_catalog
from exchange.v1 import order_pb2, ubscore_pb2
from matcher.codec import decode_command, parse_order_command
from matcher.engine import Engine
from matcher.execution import execute
from tools.bench.results import save_json
from ubscore import codec
from ubscore.commands import PlaceRequest, TransferRequest
from ubscore.core import UbsCore

RESULTS_PATH = Path(__file__).resolve().parents[2] / "bench-results" / "tracing_overhead.json"
SAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
UNSAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
PRICE_UNITS = 45_000_000_000
QTY_UNITS = 10_000
USERS = 100
MODES = (("off", "", False), ("off+context", SAMPLED, False), ("on", SAMPLED, True), ("on, unsampled", UNSAMPLED, True))


class DroppingExporter(SpanExporter):
    """Accepts and forgets every span: the cost measured is the SDK's, not a network's."""

    def export(self, spans: Sequence[object]) -> SpanExportResult:
        """Drop the batch."""
        return SpanExportResult.SUCCESS


def matcher_records(ops: int, traceparent: str) -> list[bytes]:
    """Alternating buys and sells at one price: every second command trades."""
    records = []
    for index in range(ops):
        place = order_pb2.InternalOrder(
            order_id=index + 1, user_id=1000 + index % USERS, client_order_id=f"c{index}", symbol="BTC_USDT",
            side=Side.BUY if index % 2 == 0 else Side.SELL, order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.GTC, price_units=PRICE_UNITS, qty_units=QTY_UNITS,
            locked_units=PRICE_UNITS, ts_event_ns=index + 1, traceparent=traceparent,
        )  # fmt: skip
        records.append(order_pb2.OrderCommand(command_seq=index + 1, place=place).SerializeToString())
    return records


def run_matcher(records: list[bytes]) -> float:
    """ns per record through the matcher's per-record path."""
    engine = Engine(load_catalog().markets.values())
    chain = Chain(shard_id=0)
    started_ns = time.perf_counter_ns()
    for offset, raw in enumerate(records):
        message = parse_order_command(raw)
        command = decode_command(message)
        traceparent = tracing.command_traceparent(message) if tracing.enabled() else ""
        with tracing.child_span("matcher.command", traceparent, command_seq=message.command_seq,
                                kafka_partition=0, kafka_offset=offset):  # fmt: skip
            executed = execute(engine, command, message, partition=0, offset=offset)
        chain.seal_body(executed.body)
    return (time.perf_counter_ns() - started_ns) / len(records)


def ubscore_payloads(ops: int, traceparent: str) -> list[bytes]:
    """Place requests of USERS funded users, buys and sells alternating."""
    payloads = []
    for index in range(ops):
        request = PlaceRequest(1000 + index % USERS, f"c{index}", "BTC_USDT", Side.BUY if index % 2 == 0 else Side.SELL,
                               OrderType.LIMIT, TimeInForce.GTC, False, PRICE_UNITS, QTY_UNITS, 0,
                               SelfTradeMode.UNSPECIFIED, index + 1, traceparent)  # fmt: skip
        payloads.append(ubscore_pb2.UbscoreRequest(place_order=codec.place_to_proto(request)).SerializeToString())
    return payloads


def run_ubscore(payloads: list[bytes]) -> float:
    """ns per request through UBSCore's per-request path."""
    catalog = load_catalog()
    core = UbsCore(catalog.markets.values(), [a.asset_id for a in catalog.assets.values()], fee_account_user_id=1)
    for user in range(1000, 1000 + USERS):
        for asset in catalog.assets.values():
            core.transfer(TransferRequest(f"d{user}-{asset.asset_id}", user, asset.asset_id, 10**17,
                                          BalanceOperation.TRANSFER_IN, 1))  # fmt: skip
    started_ns = time.perf_counter_ns()
    for payload in payloads:
        _, body = codec.decode_request(payload)
        with tracing.child_span("ubscore.place", body.traceparent, client_order_id=body.client_order_id):
            effects = core.place(body)
        events = effects.events
        if body.traceparent:
            events = [event._replace(traceparent=body.traceparent) for event in events]
        for event in events:
            codec.encode_event(event)
        for command in effects.commands:
            codec.encode_command(command)
    return (time.perf_counter_ns() - started_ns) / len(payloads)


def best_of(repeats: int, run: Callable[[], float]) -> float:
    """The lowest ns/op of `repeats` runs (the least disturbed on a shared machine)."""
    results = []
    for _ in range(repeats):
        gc.collect()
        results.append(run())
    return min(results)


def main() -> None:
    """Run both paths in every mode and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter(), max_queue_size=65_536))
    rows = []
    for name, traceparent, on in MODES:
        if on:
            tracing.enable(provider)
        else:
            tracing.disable()
        records, payloads = matcher_records(args.ops, traceparent), ubscore_payloads(args.ops, traceparent)
        matcher_ns = best_of(args.repeats, lambda records=records: run_matcher(records))
        ubscore_ns = best_of(args.repeats, lambda payloads=payloads: run_ubscore(payloads))
        rows.append({"mode": name, "matcher_ns_per_command": round(matcher_ns),
                     "ubscore_ns_per_request": round(ubscore_ns)})  # fmt: skip
    tracing.disable()
    provider.shutdown()
    base = rows[0]
    print(f"{'mode':<15}{'matcher ns/cmd':>16}{'vs off':>9}{'ubscore ns/req':>16}{'vs off':>9}")
    for row in rows:
        matcher_ratio = row["matcher_ns_per_command"] / base["matcher_ns_per_command"]
        ubscore_ratio = row["ubscore_ns_per_request"] / base["ubscore_ns_per_request"]
        print(f"{row['mode']:<15}{row['matcher_ns_per_command']:>16,}{matcher_ratio:>8.2f}x"
              f"{row['ubscore_ns_per_request']:>16,}{ubscore_ratio:>8.2f}x")  # fmt: skip
    result = {"benchmark": "tracing_overhead", "python": platform.python_version(), "machine": platform.machine(),
              "ops": args.ops, "repeats": args.repeats, "rows": rows}  # fmt: skip
    save_json(result, RESULTS_PATH)


if __name__ == "__main__":
    main()
