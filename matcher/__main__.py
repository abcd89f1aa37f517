"""`python -m matcher`: build the matcher from MATCHER_* settings, recover, and run until SIGTERM/SIGINT."""

if not __debug__:  # first lines of every service: assertions guard the invariants
    raise SystemExit("assertions are disabled (python -O); refusing to start")

import logging
import os
import signal
from types import FrameType

import zmq

from common import logs, tracing
from common.gc_tuning import tune_gc
from common.kafka import make_consumer
from common.markets import load_catalog
from common.metrics import Readiness
from matcher.config import MatcherConfig
from matcher.engine import Engine
from matcher.metrics import MatcherMetrics
from matcher.service import MatcherService
from matcher.state import recover

log = logging.getLogger("matcher")


def main() -> int:
    """Build every object from config, recover state, run the loop; exit 0 on a clean stop."""
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))  # JSON lines on stderr; LOG_FORMAT=text for a terminal
    tracing.configure("matcher")  # export only with OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER=console
    config = MatcherConfig.from_env(os.environ)
    catalog = load_catalog(config.markets_path)
    engine = Engine(catalog.markets.values())
    metrics = MatcherMetrics()
    readiness = Readiness("recovering")  # /healthz: 503 until recovered and consuming, like matcher_ready
    if config.metrics_port:
        metrics.serve(config.metrics_port, ready=readiness)  # from the first second: recovery progress is visible
    log.info("matcher shard %d recovering from %s", config.shard_id, config.state_dir)

    def recovery_progress(replayed: int, total: int) -> None:
        metrics.recovery_records.labels("replayed").set(replayed)
        metrics.recovery_records.labels("total").set(total)

    recovered = recover(
        engine=engine,
        wal_dir=config.wal_dir,
        snapshot_dir=config.snapshot_dir,
        shard_id=config.shard_id,
        partitions=config.partitions,
        segment_bytes_max=config.wal_segment_bytes_max,
        on_progress=recovery_progress,
    )
    tune_gc()  # the recovered books are long-lived and acyclic: keep the collector off them (common/gc_tuning.py)
    consumer = make_consumer(config.kafka_bootstrap, client_id=f"matcher-{config.shard_id}")
    context = zmq.Context()
    service = MatcherService(
        config=config, engine=engine, recovered=recovered, consumer=consumer, context=context, metrics=metrics
    )

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current batch", signum)
        readiness.not_serving("stopping")  # at once: the last batch and the snapshot may take a while
        service.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # Ready here: recovered, and run() assigns the partitions (no broker round trip) before its first poll.
    metrics.ready.set(1)
    readiness.serving()
    log.info(
        "matcher shard %d ready: topic %s partitions %s, pub %s, replay %s, seq %d",
        config.shard_id,
        config.topic,
        list(config.partitions),
        config.pub_endpoint,
        config.replay_endpoint,
        recovered.chain.last_seq,
    )
    try:
        service.run()
    finally:
        metrics.ready.set(0)
        readiness.not_serving("stopped")
        service.close()
        context.term()
    log.info("matcher shard %d stopped at seq %d", config.shard_id, service.chain.last_seq)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
