"""Prometheus metrics of one UBSCore process, in their own registry (no module-level globals), served over HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from common.metrics import BATCH_BUCKETS, FSYNC_BUCKETS_S, ServiceMetrics


@dataclass(slots=True)
class UbscoreMetrics(ServiceMetrics):
    """Counters, gauges and histograms the service loop updates; `serve(port)` exposes them."""

    requests: Counter = field(init=False)
    refusals: Counter = field(init=False)
    malformed: Counter = field(init=False)
    duplicates: Counter = field(init=False)
    events_out: Counter = field(init=False)
    commands_out: Counter = field(init=False)
    feed_outputs: Counter = field(init=False)
    batch_records: Histogram = field(init=False)
    wal_fsync_seconds: Histogram = field(init=False)
    feed_last_seq: Gauge = field(init=False)
    feed_idle_seconds: Gauge = field(init=False)
    feed_lag_outputs: Gauge = field(init=False)
    commands_in_flight: Gauge = field(init=False)
    kafka_unconfirmed: Gauge = field(init=False)
    operations_lag_records: Gauge = field(init=False)
    open_orders: Gauge = field(init=False)
    pending_counts: dict[tuple[Counter, tuple[str, ...]], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        registry = self.registry
        self.requests = Counter(
            "ubscore_requests", "Requests handled by kind and outcome", ["kind", "outcome"], registry=registry
        )
        self.refusals = Counter(
            "ubscore_refusals", "Requests refused, by reason", ["kind", "reason"], registry=registry
        )
        self.malformed = Counter(
            "ubscore_inputs_malformed", "Inputs that could not be decoded", ["channel", "reason"], registry=registry
        )
        self.duplicates = Counter(
            "ubscore_inputs_duplicate", "Repeats answered from the idempotency window", ["kind"], registry=registry
        )
        self.events_out = Counter("ubscore_balance_events", "BalanceEvents produced", registry=registry)
        self.commands_out = Counter("ubscore_order_commands", "OrderCommands produced", registry=registry)
        self.feed_outputs = Counter("ubscore_feed_outputs", "Matcher outputs applied", ["shard"], registry=registry)
        self.batch_records = Histogram(
            "ubscore_batch_records", "Inputs per WAL group commit", buckets=BATCH_BUCKETS, registry=registry
        )
        self.wal_fsync_seconds = Histogram(
            "ubscore_wal_append_seconds", "WAL batch append + fsync time", buckets=FSYNC_BUCKETS_S, registry=registry
        )
        self.feed_last_seq = Gauge("ubscore_feed_last_seq", "Last matcher output applied", ["shard"], registry=registry)
        self.feed_idle_seconds = Gauge(
            "ubscore_feed_idle_seconds", "Time since the last output of the shard", ["shard"], registry=registry
        )
        self.feed_lag_outputs = Gauge(
            "ubscore_feed_lag_outputs", "Outputs of the shard known to exist and not applied yet", ["shard"],
            registry=registry,
        )  # fmt: skip
        self.commands_in_flight = Gauge(
            "ubscore_commands_in_flight", "Order commands sent that no matcher output answered yet (feed lag)",
            registry=registry,
        )  # fmt: skip
        self.kafka_unconfirmed = Gauge(
            "ubscore_kafka_unconfirmed_records", "Records produced, not yet acknowledged by Kafka (delivery lag)",
            ["topic"], registry=registry,
        )  # fmt: skip
        self.operations_lag_records = Gauge(
            "ubscore_operations_lag_records", "balance.operations records not yet applied", ["partition"],
            registry=registry,
        )  # fmt: skip
        self.open_orders = Gauge("ubscore_open_orders", "Orders holding funds", registry=registry)

    def count(self, counter: Counter, *labels: str) -> None:
        """Add one to `counter{labels}` at the next `flush_counts()` (per input this is a dict update; a
        prometheus_client `labels().inc()` costs ~1-4 us, a fifth of an order's whole validation)."""
        key = (counter, labels)
        self.pending_counts[key] = self.pending_counts.get(key, 0) + 1

    def flush_counts(self) -> None:
        """Apply the counts gathered by `count()` (the loop calls this once per turn)."""
        for (counter, labels), amount in self.pending_counts.items():
            counter.labels(*labels).inc(amount)
        self.pending_counts.clear()
