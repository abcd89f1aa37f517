"""One load run against a running stack: users, watchers, the driver, the drain, the numbers.

    run = LoadRun(config, RunOptions(users=20, rate_per_s=1000, duration_s=30))
    run.prepare()                    # keys, funding, feed and chain_state watchers at the current heads
    record = run.drive()             # or: driver = run.driver(); driver.start(); ...; driver.stop(); driver.join()
    summary = run.finish(record)     # waits until every accepted order is matched and persisted (bounded)
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

import grpc

from common.engine_feed import parse_feeds
from common.markets import load_catalog
from common.money import parse_units
from tools.loadgen.accounts import User, create_users, fund, wait_until_known
from tools.loadgen.driver import LoadDriver, LoadRecord, LoadSettings
from tools.loadgen.mix import OrderMix
from tools.loadgen.report import Stages, stages, summarize, timeline
from tools.loadgen.watch import FeedWatcher, LagSampler, PersistWatcher
from tools.stack_config import HOST, StackConfig

DRAIN_DEADLINE_S = 120.0
DRAIN_POLL_S = 0.1
FIRST_USER_ID_MIN = 1_000_000  # above the ids people and tests pick by hand
FIRST_USER_ID_MAX = 2**40
QUOTE_FUNDING = "100000000"  # each user's deposit of the market's quote asset (a decimal string)
BASE_FUNDING = "10000"  # ... and of its base asset


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What to run: users, market, pace, entry, and the mix's seed."""

    users: int = 20
    symbol: str = "BTC_USDT"
    mid_price: str = "30000.00"
    rate_per_s: float = 0.0
    duration_s: float = 10.0
    entry: str = "stream"
    window: int = 64
    batch_orders: int = 100
    transfers_per_s: float = 0.0
    seed: int = 1


def lag_gauges(config: StackConfig) -> dict[str, tuple[str, str]]:
    """Label -> (metrics url, gauge) of every lag the stack's services publish."""
    ports = config.ports
    gauges = {}
    for shard, port in enumerate(ports.matcher_metrics):
        gauges[f"kafka_lag matcher-{shard}"] = (f"http://{HOST}:{port}/metrics", "matcher_consumer_lag_records")
    ubscore = f"http://{HOST}:{ports.ubscore_metrics}/metrics"
    gauges["kafka_lag ubscore"] = (ubscore, "ubscore_operations_lag_records")
    gauges["feed_lag ubscore"] = (ubscore, "ubscore_feed_lag_outputs")
    for instance, port in enumerate(ports.settlement_metrics):
        url = f"http://{HOST}:{port}/metrics"
        gauges[f"kafka_lag settlement-{instance}"] = (url, "settlement_kafka_lag_records")
        gauges[f"db_lag settlement-{instance}"] = (url, "settlement_shard_lag_outputs")
    return gauges


class LoadRun:
    """A load run against the stack described by `config` (see the module docstring)."""

    def __init__(self, config: StackConfig, options: RunOptions) -> None:
        self.config = config
        self.options = options
        self.run_tag = f"lg{uuid.uuid4().hex[:8]}"
        self.address = f"{HOST}:{config.ports.gateway_grpc}"
        market = load_catalog().markets[options.symbol]
        self.market = market
        self.mix = OrderMix(market=market, users=options.users, mid_units=parse_units(options.mid_price,
                            market.quote_scale), seed=options.seed, run_tag=self.run_tag)  # fmt: skip
        self.users: list[User] = []
        self.feed = FeedWatcher(parse_feeds(config.matcher_feeds(), setting="matcher feeds"))
        self.persist: PersistWatcher | None = None
        self.lags: LagSampler | None = None
        self.stopped = False
        self._pending_record: LoadRecord | None = None
        self._accepted_seen = 0  # orders of _pending_record.accepted already looked at by pending()
        self._unsettled: list[int] = []  # of those, the ones not yet persisted (in acceptance order)

    def prepare(self) -> None:
        """Create and fund the users; start watching the feed, chain_state and the lags."""
        first_user_id = random.randrange(FIRST_USER_ID_MIN, FIRST_USER_ID_MAX)
        self.users = create_users(hosts=self.config.cql_contact_points, port=self.config.cql_port,
                                  keyspace=self.config.cql_keyspace, first_user_id=first_user_id,
                                  count=self.options.users, label=f"loadgen {self.run_tag}")  # fmt: skip
        with grpc.insecure_channel(self.address) as channel:
            wait_until_known(channel, self.users)
            funding = {self.market.quote_asset: QUOTE_FUNDING, self.market.base_asset: BASE_FUNDING}
            fund(channel, self.users, funding, run_tag=self.run_tag)  # the assets of --symbol's market
        self.feed.start()
        self.persist = PersistWatcher(hosts=self.config.cql_contact_points, port=self.config.cql_port,
                                      keyspace=self.config.cql_keyspace,
                                      shard_ids=range(self.config.matcher_shards))  # fmt: skip
        self.persist.start()
        self.lags = LagSampler(lag_gauges(self.config), time.monotonic_ns())
        self.lags.start()

    def driver(self, on_tick: Callable[[LoadRecord], None] | None = None) -> LoadDriver:
        """A driver for this run's users and mix (not started)."""
        options = self.options
        settings = LoadSettings(address=self.address, rate_per_s=options.rate_per_s, duration_s=options.duration_s,
                                entry=options.entry, window=options.window, batch_orders=options.batch_orders,
                                transfers_per_s=options.transfers_per_s)  # fmt: skip
        return LoadDriver(settings, self.users, self.mix, on_tick=on_tick)

    def drive(self, on_tick: Callable[[LoadRecord], None] | None = None) -> LoadRecord:
        """Run the driver for the whole duration."""
        return self.driver(on_tick).run()

    def pending(self, record: LoadRecord) -> tuple[int, int]:
        """(accepted orders not yet matched, matched orders not yet persisted).

        Incremental: only the orders accepted since the last call and those not persisted then are looked at. The
        progress bar calls this twice a second on the driver's event loop, with the feed watcher's lock held; a
        scan of every accepted order stalled both for tens of ms late in a run, which showed as ack and match
        latency that was the client's own."""
        assert self.persist is not None
        if record is not self._pending_record:
            self._pending_record, self._accepted_seen, self._unsettled = record, 0, []
        fresh = list(itertools.islice(record.accepted, self._accepted_seen, None))  # dicts keep insertion order
        self._accepted_seen += len(fresh)
        self._unsettled.extend(fresh)
        with self.feed.lock:
            firsts = [self.feed.first.get(order_id) for order_id in self._unsettled]
        unsettled: list[int] = []
        unmatched = 0
        for order_id, output in zip(self._unsettled, firsts, strict=True):
            if output is None:
                unmatched += 1
                unsettled.append(order_id)
            elif output.seq > self.persist.last_seq(output.shard_id):
                unsettled.append(order_id)
        self._unsettled = unsettled
        return unmatched, len(unsettled) - unmatched

    def unknown_orders(self, record: LoadRecord) -> list[str]:
        """Client order ids of this run the matcher processed but the driver never saw accepted (lost answers)."""
        prefix = f"{self.run_tag}-"
        with self.feed.lock:
            return sorted(first.client_order_id for order_id, first in self.feed.first.items()
                          if first.client_order_id.startswith(prefix) and order_id not in record.accepted)

    def wait_drained(self, record: LoadRecord, *, deadline_s: float = DRAIN_DEADLINE_S) -> tuple[int, int]:
        """Wait until every accepted order is matched and persisted, or the deadline; return what is still pending."""
        deadline_ns = time.monotonic_ns() + int(deadline_s * 1e9)
        left = self.pending(record)
        while left != (0, 0) and time.monotonic_ns() < deadline_ns:
            time.sleep(DRAIN_POLL_S)
            left = self.pending(record)
        return left

    def stop_watching(self) -> None:
        """Stop the watchers (a second call does nothing)."""
        if self.stopped:
            return
        self.stopped = True
        if self.lags is not None:
            self.lags.stop()
        if self.persist is not None:
            self.persist.stop()
        self.feed.stop()

    def finish(self, record: LoadRecord, *, deadline_s: float = DRAIN_DEADLINE_S) -> tuple[dict[str, object],
                                                                                          dict[str, list[float]]]:
        """Drain, stop watching, and return (summary, per-second timeline)."""
        unmatched, unpersisted = self.wait_drained(record, deadline_s=deadline_s)
        self.stop_watching()
        assert self.persist is not None
        assert self.lags is not None
        with self.feed.lock:
            staged: Stages = stages(record, self.feed.first, self.persist.progress)
        summary = summarize(record, staged, self.lags.samples)
        summary["not_matched"], summary["not_persisted"] = unmatched, unpersisted
        summary["settings"] = asdict(self.options)
        return summary, timeline(record, staged)
