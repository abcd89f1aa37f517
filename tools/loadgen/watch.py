"""What the load generator watches while it runs: the matcher feed, Settlement's chain_state, the services' lags.

- `FeedWatcher`: one verified `EngineFeed` per matcher shard, started at the shard's head (learned from its
  replay endpoint), recording for every order id the monotonic time and (shard, seq) of its first output (an
  order update or a rejection): that is when the order was *matched*.
- `PersistWatcher`: polls `chain_state` (Settlement's last persisted (seq, hash) per shard) and records when each
  seq became durable: an order is *persisted* once the seq of its first output is.
- `LagSampler`: scrapes the services' Prometheus metrics once a second (Kafka lag of the matcher, feed lag of
  UBSCore, database lag of Settlement).
Each runs on its own daemon thread until `stop()`.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import zmq

from common.engine_chain import GENESIS_HASH
from common.engine_feed import EngineFeed, FeedEndpoints, ReplayClient
from common.errors import Timeout
from gateway.cql import connect
from settlement.projection import engine_source
from tools.services.probes import metric_sums

FEED_POLL_MS = 50
PERSIST_POLL_S = 0.05
LAG_SAMPLE_S = 1.0
THREAD_JOIN_S = 10.0

log = logging.getLogger(__name__)


def shard_head(context: zmq.Context, feed: FeedEndpoints) -> tuple[int, bytes]:
    """(last seq, its hash) the shard's replay endpoint serves now ((0, genesis) for a new shard)."""
    client = ReplayClient(context, feed.replay_endpoint, shard_id=feed.shard_id)
    try:
        last_seq = client.fetch(from_seq=1, limit=1).last_seq
        if last_seq == 0:
            return 0, GENESIS_HASH
        [output] = client.fetch(from_seq=last_seq, limit=1).outputs
        return last_seq, output.hash
    finally:
        client.close()


@dataclass(slots=True)
class FirstOutput:
    """Where and when an order's first matcher output was seen."""

    shard_id: int
    seq: int
    seen_ns: int
    client_order_id: str = ""


class FeedWatcher:
    """Records the first output of every order id on every shard, from the shards' heads at `start()` on."""

    def __init__(self, feeds: Sequence[FeedEndpoints]) -> None:
        self.feeds = feeds
        self.context = zmq.Context()
        self.first: dict[int, FirstOutput] = {}
        self.outputs_seen = 0
        self.trades_seen = 0
        self.start_seq: dict[int, int] = {}
        self.last_seq: dict[int, int] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        """Learn each shard's head, then follow every shard on its own thread."""
        for feed in self.feeds:
            seq, hash_ = shard_head(self.context, feed)
            self.start_seq[feed.shard_id] = self.last_seq[feed.shard_id] = seq
            subscriber = EngineFeed(self.context, sub_endpoint=feed.pub_endpoint,
                                    replay_endpoint=feed.replay_endpoint, shard_id=feed.shard_id,
                                    last_seq=seq, last_hash=hash_)  # fmt: skip
            thread = threading.Thread(target=self._follow, args=(subscriber,), name=f"loadgen-feed-{feed.shard_id}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _follow(self, subscriber: EngineFeed) -> None:
        try:
            while not self._stop.is_set():
                try:
                    outputs = subscriber.poll(FEED_POLL_MS)
                except Timeout:  # the matcher is down (a drill): nothing is lost, its replay fills the gap later
                    continue
                now_ns = time.monotonic_ns()
                with self.lock:
                    for output in outputs:
                        self._record(output, now_ns)
        finally:
            subscriber.close()

    def _record(self, output: object, now_ns: int) -> None:
        shard, seq = output.shard_id, output.seq  # type: ignore[attr-defined]
        self.outputs_seen += 1
        self.trades_seen += len(output.trades)  # type: ignore[attr-defined]
        self.last_seq[shard] = seq
        for update in output.order_updates:  # type: ignore[attr-defined]
            if update.order_id not in self.first:
                self.first[update.order_id] = FirstOutput(shard, seq, now_ns, update.client_order_id)
        for rejection in output.rejections:  # type: ignore[attr-defined]
            if rejection.order_id and rejection.order_id not in self.first:
                self.first[rejection.order_id] = FirstOutput(shard, seq, now_ns, rejection.client_order_id)

    def stop(self) -> None:
        """Stop following; close the sockets."""
        self._stop.set()
        for thread in self._threads:
            thread.join(THREAD_JOIN_S)
        self.context.term()


@dataclass(slots=True)
class ShardProgress:
    """Persisted seqs of one shard over time: parallel ascending lists."""

    seqs: list[int] = field(default_factory=list)
    times_ns: list[int] = field(default_factory=list)

    def persisted_ns(self, seq: int) -> int | None:
        """When `seq` was first seen persisted, or None if not yet."""
        index = bisect.bisect_left(self.seqs, seq)
        return self.times_ns[index] if index < len(self.seqs) else None


class PersistWatcher:
    """Polls chain_state for every shard and keeps when each persisted seq was first seen."""

    def __init__(self, *, hosts: Sequence[str], port: int, keyspace: str, shard_ids: Sequence[int]) -> None:
        self.session = connect(hosts, port, keyspace)
        self.statement = self.session.prepare("SELECT last_seq FROM chain_state WHERE source = ?")
        self.progress = {shard: ShardProgress() for shard in shard_ids}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadgen-persist", daemon=True)

    def last_seq(self, shard: int) -> int:
        """The last persisted seq seen for `shard` (0 before the first)."""
        seqs = self.progress[shard].seqs
        return seqs[-1] if seqs else 0

    def start(self) -> None:
        """Poll on a thread."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(PERSIST_POLL_S):
            for shard, progress in self.progress.items():
                try:
                    row = self.session.execute(self.statement, (engine_source(shard),)).one()
                except Exception as error:  # the CQL server is down (a drill): keep polling, count it
                    self.errors += 1
                    log.debug("chain_state poll failed: %s", error)
                    continue
                seq = row.last_seq if row is not None and row.last_seq is not None else 0
                if not progress.seqs or seq > progress.seqs[-1]:
                    progress.seqs.append(seq)
                    progress.times_ns.append(time.monotonic_ns())

    def stop(self) -> None:
        """Stop polling; close the session."""
        self._stop.set()
        self._thread.join(THREAD_JOIN_S)
        self.session.cluster.shutdown()


@dataclass(frozen=True, slots=True)
class LagSample:
    """One scrape: seconds since the run started, and each lag gauge (None when unreadable)."""

    elapsed_s: float
    values: dict[str, int | None]


class LagSampler:
    """Scrapes `gauges` (name -> (metrics url, metric name)) every LAG_SAMPLE_S."""

    def __init__(self, gauges: Mapping[str, tuple[str, str]], started_ns: int) -> None:
        self.gauges = gauges
        self.started_ns = started_ns
        self.samples: list[LagSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadgen-lag", daemon=True)

    def start(self) -> None:
        """Scrape on a thread."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(LAG_SAMPLE_S):
            scraped = {url: metric_sums(url, [metric for url_of, metric in self.gauges.values() if url_of == url])
                       for url in {url for url, _ in self.gauges.values()}}  # one scrape per service
            values = {name: scraped[url][metric] for name, (url, metric) in self.gauges.items()}
            self.samples.append(LagSample((time.monotonic_ns() - self.started_ns) / 1e9, values))

    def stop(self) -> None:
        """Stop scraping."""
        self._stop.set()
        self._thread.join(THREAD_JOIN_S)
