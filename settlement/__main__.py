"""`python -m settlement [run|migrate|reconcile]`: persist the matcher feeds and balance.events (default: run),
apply the schema migrations, or check the ledger against the balances (and UBSCore's dump)."""

if not __debug__:  # first lines of every service: assertions guard the invariants
    raise SystemExit("assertions are disabled (python -O); refusing to start")

import argparse
import logging
import os
import signal
from pathlib import Path
from types import FrameType

import zmq

from common import logs, tracing
from common.errors import ChainBroken, ConfigInvalid, Unavailable
from common.gc_tuning import tune_gc
from common.kafka import make_consumer
from common.markets import load_catalog
from common.metrics import Readiness
from settlement.config import SettlementConfig
from settlement.cql import connect, migrate
from settlement.metrics import SettlementMetrics
from settlement.reconcile import reconcile, report
from settlement.service import SettlementService
from settlement.writer import CqlWriter

EXIT_CHAIN_BROKEN = 2
EXIT_CQL_UNAVAILABLE = 3
EXIT_MISMATCH = 1

log = logging.getLogger("settlement")


def run(config: SettlementConfig) -> int:
    """Build every object from config, resume from chain_state and the committed offsets, loop until a signal."""
    catalog = load_catalog(Path(config.markets_path))
    session = connect(config.cql_hosts, config.cql_port, config.keyspace, compression=config.cql_compression)
    metrics = SettlementMetrics()
    readiness = Readiness("recovering")  # /healthz: 503 until chain_state is read and the loop consumes
    if config.metrics_port:
        metrics.serve(config.metrics_port, ready=readiness)
    writer = CqlWriter(
        session, in_flight_max=config.in_flight_max, batch_rows_max=config.batch_rows_max,
        coalesce_replicas=config.coalesce_replicas, retry_deadline_s=config.retry_deadline_s,
        on_rows=lambda table, count: metrics.rows_written.labels(table).inc(count),
    )
    consumer = None
    if config.balance_topic:
        consumer = make_consumer(config.kafka_bootstrap, client_id="settlement", extra={
            "group.id": config.group_id,
            "auto.offset.reset": "earliest",  # a new group reads every event ever retained
        })
    context = zmq.Context()
    service = SettlementService(config=config, session=session, writer=writer, consumer=consumer, context=context,
                                markets=catalog.markets, metrics=metrics)
    # A turn's rows are many small acyclic dicts and lists that live until their batches are acknowledged: with
    # young collections every 700 allocations the collector scanned them again and again (~20 % of the CPU).
    tune_gc()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current turn", signum)
        readiness.not_serving("stopping")  # at once: the turn in flight may take a while to be acknowledged
        service.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("settlement ready: keyspace %s, shards %s, topic %r (group %s)", config.keyspace,
             [shard.shard_id for shard in config.shards], config.balance_topic, config.group_id)
    # Ready here: every shard's chain head is read (SettlementService()), and run() subscribes before its first turn.
    readiness.serving()
    try:
        service.run()
    except (ChainBroken, ConfigInvalid) as error:
        log.critical("FEED HALTED (chain broken or misconfigured), halting: %s", error)
        return EXIT_CHAIN_BROKEN
    except Unavailable as error:
        log.critical("CQL UNAVAILABLE, halting (a restart resumes from chain_state): %s", error)
        return EXIT_CQL_UNAVAILABLE
    finally:
        readiness.not_serving("stopped")
        service.close()
        context.destroy(linger=0)
        session.cluster.shutdown()
    log.info("settlement stopped")
    return 0


def main() -> int:
    """Parse the command line and run the chosen command."""
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))  # JSON lines on stderr; LOG_FORMAT=text for a terminal
    tracing.configure("settlement")  # export only with OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER=console
    # The server warns about every batch spanning partitions or above 5 KiB; both are by design (writer.py).
    logging.getLogger("cassandra.protocol").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(prog="python -m settlement", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=("run", "migrate", "reconcile"))
    parser.add_argument("--keyspace", help="override SETTLEMENT_KEYSPACE")
    parser.add_argument("--ubscore-dump", type=Path, help="reconcile: UBSCore's balances (JSON) to compare too")
    args = parser.parse_args()
    environ = dict(os.environ)
    if args.keyspace:
        environ["SETTLEMENT_KEYSPACE"] = args.keyspace
    config = SettlementConfig.from_env(environ)
    if args.command == "run":
        return run(config)
    if args.command == "migrate":
        session = connect(config.cql_hosts, config.cql_port)
        try:
            applied = migrate(session, config.keyspace)  # logged (JSON lines: it runs as the stack's schema step)
        finally:
            session.cluster.shutdown()
        log.info("%s: %d migration(s) applied, schema up to date", config.keyspace, len(applied),
                 extra={"keyspace": config.keyspace, "applied": len(applied)})  # fmt: skip
        return 0
    session = connect(config.cql_hosts, config.cql_port, config.keyspace)
    try:
        result = reconcile(session, ubscore_dump=args.ubscore_dump)
    finally:
        session.cluster.shutdown()
    print(report(result))
    return 0 if result.ok else EXIT_MISMATCH


if __name__ == "__main__":
    raise SystemExit(main())
