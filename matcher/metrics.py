"""Prometheus metrics of one matcher process, in their own registry (no module-level globals), served over HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

FSYNC_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass(slots=True)
class MatcherMetrics:
    """Counters and histograms the service loop updates; `serve(port)` exposes them."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
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

    def serve(self, port: int) -> None:
        """Start the HTTP exposition server on 127.0.0.1:`port` (a daemon thread of prometheus_client)."""
        start_http_server(port, addr="127.0.0.1", registry=self.registry)
