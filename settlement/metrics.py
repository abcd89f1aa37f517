"""Prometheus metrics of one settlement process, in their own registry (no module-level globals), served over HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from common.metrics import ServiceMetrics

WRITE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class SettlementMetrics(ServiceMetrics):
    """Counters, gauges and histograms the service loop updates; `serve(port)` exposes them."""

    rows_written: Counter = field(init=False)
    write_seconds: Histogram = field(init=False)
    write_retries: Counter = field(init=False)
    outputs_persisted: Counter = field(init=False)
    events_persisted: Counter = field(init=False)
    malformed_inputs: Counter = field(init=False)
    shard_persisted_seq: Gauge = field(init=False)
    shard_lag_outputs: Gauge = field(init=False)
    kafka_lag_records: Gauge = field(init=False)

    def __post_init__(self) -> None:
        registry = self.registry
        self.rows_written = Counter("settlement_rows_written", "Rows written, per table", ["table"], registry=registry)
        self.write_seconds = Histogram(
            "settlement_write_seconds", "Time to write one loop turn's rows (all batches acknowledged)",
            buckets=WRITE_BUCKETS_S, registry=registry,
        )
        self.write_retries = Counter("settlement_write_retries", "CQL batches sent again after an error",
                                     registry=registry)
        self.outputs_persisted = Counter("settlement_outputs_persisted", "Matcher outputs persisted", ["shard"],
                                         registry=registry)
        self.events_persisted = Counter("settlement_balance_events_persisted", "Balance events persisted",
                                        registry=registry)
        self.malformed_inputs = Counter("settlement_malformed_inputs", "Inputs recorded and skipped",
                                        ["source", "reason"], registry=registry)
        self.shard_persisted_seq = Gauge("settlement_shard_persisted_seq", "Last persisted seq per shard", ["shard"],
                                         registry=registry)
        self.shard_lag_outputs = Gauge("settlement_shard_lag_outputs",
                                       "Outputs the matcher shard has published that are not persisted yet",
                                       ["shard"], registry=registry)
        self.kafka_lag_records = Gauge("settlement_kafka_lag_records",
                                       "balance.events records not persisted yet, per assigned partition",
                                       ["partition"], registry=registry)
