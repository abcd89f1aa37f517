"""Prometheus metrics of one matcher process, in their own registry (no module-level globals), served over HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from common.metrics import BATCH_BUCKETS, FSYNC_BUCKETS_S, ServiceMetrics


@dataclass(slots=True)
class MatcherMetrics(ServiceMetrics):
    """Counters and histograms the service loop updates; `serve(port)` exposes them."""

    orders_in: Counter = field(init=False)
    inputs_rejected: Counter = field(init=False)
    inputs_duplicate: Counter = field(init=False)
    commands_failed: Counter = field(init=False)
    outputs_out: Counter = field(init=False)
    trades_out: Counter = field(init=False)
    batch_records: Histogram = field(init=False)
    wal_fsync_seconds: Histogram = field(init=False)
    replay_requests: Counter = field(init=False)
    replay_busy_seconds: Counter = field(init=False)
    last_seq: Gauge = field(init=False)
    snapshot_pause_seconds: Histogram = field(init=False)
    snapshots_written: Counter = field(init=False)
    ready: Gauge = field(init=False)
    recovery_records: Gauge = field(init=False)
    consumer_lag_records: Gauge = field(init=False)

    def __post_init__(self) -> None:
        registry = self.registry
        self.orders_in = Counter("matcher_commands_in", "Kafka records read", ["kind"], registry=registry)
        self.inputs_rejected = Counter(
            "matcher_inputs_rejected", "Undecodable or unusable input records skipped", ["reason"], registry=registry
        )
        self.inputs_duplicate = Counter(
            "matcher_inputs_duplicate", "Commands skipped because their command_seq was applied", registry=registry
        )
        self.commands_failed = Counter(
            "matcher_commands_failed",
            "Commands the core raised on (a bug), refused with MATCHER_INTERNAL_ERROR",
            registry=registry,
        )
        self.outputs_out = Counter("matcher_outputs", "EngineOutputs published", registry=registry)
        self.trades_out = Counter("matcher_trades", "Trades executed", registry=registry)
        self.batch_records = Histogram(
            "matcher_batch_records", "Kafka records per batch", buckets=BATCH_BUCKETS, registry=registry
        )
        self.wal_fsync_seconds = Histogram(
            "matcher_wal_append_seconds", "WAL batch append + fsync time", buckets=FSYNC_BUCKETS_S, registry=registry
        )
        self.replay_requests = Counter("matcher_replay_requests", "Replay requests served", registry=registry)
        self.replay_busy_seconds = Counter(
            "matcher_replay_busy_seconds", "CPU time the replay thread spent answering requests", registry=registry
        )
        self.last_seq = Gauge("matcher_last_seq", "Last published output seq", registry=registry)
        self.snapshot_pause_seconds = Histogram(
            "matcher_snapshot_pause_seconds",
            "Time the loop stopped to take a snapshot (the fork; the whole write at a clean stop)",
            buckets=FSYNC_BUCKETS_S,
            registry=registry,
        )
        self.snapshots_written = Counter("matcher_snapshots_written", "Snapshots made durable", registry=registry)
        self.ready = Gauge("matcher_ready", "1 once recovery is done and the loop runs, else 0", registry=registry)
        self.recovery_records = Gauge(
            "matcher_recovery_records", "WAL records after the snapshot", ["state"], registry=registry
        )
        self.consumer_lag_records = Gauge(
            "matcher_consumer_lag_records",
            "Records in the owned partition not yet applied (queue depth), after the last batch",
            ["partition"],
            registry=registry,
        )
