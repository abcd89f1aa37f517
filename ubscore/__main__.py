"""`python -m ubscore`: build UBSCore from UBSCORE_* settings, recover, and run until SIGTERM/SIGINT.

`python -m ubscore dump [--state-dir DIR] [--json]` prints every balance from the state directory instead
(read-only; works on a running or a stopped UBSCore; see ubscore/dump.py).
"""

if not __debug__:  # first lines of every service: assertions guard the invariants
    raise SystemExit("assertions are disabled (python -O); refusing to start")

import logging
import os
import signal
import sys
from types import FrameType

import zmq

from common import logs, tracing
from common.aeron.client import AeronClient, ClientConfig
from common.aeron.request_response import ResponseServer
from common.engine_chain import GENESIS_HASH
from common.engine_feed import EngineFeed
from common.gc_tuning import tune_gc
from common.kafka import make_consumer, make_producer
from common.markets import MarketCatalog, load_catalog
from common.metrics import Readiness
from ubscore import dump
from ubscore.config import UbscoreConfig
from ubscore.core import UbsCore
from ubscore.metrics import UbscoreMetrics
from ubscore.service import UbscoreService
from ubscore.state import recover

FEED_IDLE_CHECK_MS = 5_000  # ask the replay endpoint for news after this much silence
FEED_REPLAY_TIMEOUT_MS = 250  # short: a matcher that is down must not stall the loop for long
# The producer never gives a record up (librdkafka: 0 = no timeout): through a broker outage it keeps retrying, in
# order, while orders are refused BUSY past `kafka_unconfirmed_max`; with a timeout, an outage longer than it ended
# the process (a delivery failure stops the loop) and order entry stayed down until an operator restarted it.
PRODUCER_SETTINGS = {"delivery.timeout.ms": 0}

log = logging.getLogger("ubscore")


def build_core(config: UbscoreConfig, catalog: MarketCatalog) -> UbsCore:
    """The core for these markets, assets and fee account."""
    return UbsCore(catalog.markets.values(), [asset.asset_id for asset in catalog.assets.values()],
                   fee_account_user_id=catalog.fee_account_user_id, keys_max=config.dedupe_keys_max)  # fmt: skip


def main(argv: list[str]) -> int:
    """Build every object from config, recover state, run the loop; exit 0 on a clean stop."""
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))  # JSON lines on stderr; LOG_FORMAT=text for a terminal
    tracing.configure("ubscore")  # export only with OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER=console
    config = UbscoreConfig.from_env(os.environ)
    catalog = load_catalog(config.markets_path)
    core = build_core(config, catalog)
    if argv[:1] == ["dump"]:
        return dump.main(argv[1:], core, config.state_dir)
    metrics = UbscoreMetrics()
    readiness = Readiness("recovering")  # /healthz: 503 until recovered and the loop runs
    if config.metrics_port:
        metrics.serve(config.metrics_port, ready=readiness)  # before recovery: a probe sees 503, not a refusal
    recovered = recover(
        core=core, wal_dir=config.wal_dir, snapshot_dir=config.snapshot_dir,
        partitions=config.operations_partitions, segment_bytes_max=config.wal_segment_bytes_max,
    )  # fmt: skip
    tune_gc()
    context = zmq.Context()
    feeds = []
    for endpoints in config.feeds:
        last_seq, last_hash = core.feed_positions.get(endpoints.shard_id, (0, GENESIS_HASH))
        feeds.append(EngineFeed(
            context, sub_endpoint=endpoints.pub_endpoint, replay_endpoint=endpoints.replay_endpoint,
            shard_id=endpoints.shard_id, last_seq=last_seq, last_hash=last_hash, idle_check_ms=FEED_IDLE_CHECK_MS,
            replay_timeout_ms=FEED_REPLAY_TIMEOUT_MS,
        ))  # fmt: skip
    aeron = AeronClient(ClientConfig(aeron_dir=config.aeron_dir))
    server = ResponseServer(aeron, request_channel=config.aeron_channel, request_stream_id=config.aeron_stream_id)
    service = UbscoreService(
        config=config, core=core, recovered=recovered, server=server, feeds=feeds, metrics=metrics,
        consumer=make_consumer(config.kafka_bootstrap, client_id="ubscore"),
        producer=make_producer(config.kafka_bootstrap, client_id="ubscore", extra=PRODUCER_SETTINGS),
    )  # fmt: skip

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current batch", signum)
        readiness.not_serving("stopping")  # at once: the last batch and the snapshot may take a while
        service.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("ubscore ready: aeron %s stream %d, operations %s, feeds %s, last order id %d, last event id %d",
             config.aeron_channel, config.aeron_stream_id, config.operations_topic,
             [f.shard_id for f in config.feeds], core.counters.last_order_id, core.ledger.last_event_id)  # fmt: skip
    # Ready here: recovered, and run() assigns the partitions (no broker round trip) before its first turn.
    readiness.serving()
    try:
        service.run()
    finally:
        readiness.not_serving("stopped")
        service.close()
        aeron.close()
        context.term()
    log.info("ubscore stopped: last event id %d, last command seq %d", core.ledger.last_event_id,
             core.counters.last_command_seq)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
