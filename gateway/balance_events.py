"""Follows UBSCore's `balance.events` topic live, for the private user streams and transfer outcomes; the same
follower reads `balance.operations` (BalanceRequests, `message_type`) for the transfers every gateway accepted.

Starts at the end of every partition (the high watermark read at start: a stream shows changes from when it
opens; history is the ledger query's job), hands each BalanceEvent to the observers, and keeps going through
broker outages (librdkafka reconnects by itself). Nothing is committed: the gateway keeps no state.

With `history_ms`, it starts that far back in time instead and hands what lies before the start's end only to
the `history_observers` (the recent balances that complete a private stream's snapshot: a change made shortly
before this gateway started and not yet stored by Settlement is known too); the live observers see only what
comes after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import TopicPartition
from google.protobuf.message import DecodeError, Message

from common.kafka import make_consumer, record_time_ns
from exchange.v1 import balance_pb2

POLL_TIMEOUT_S = 0.2
METADATA_TIMEOUT_S = 10.0
RETRY_INTERVAL_S = 1.0

log = logging.getLogger(__name__)


class BalanceEventFollower:
    """A daemon thread reading `topic` from its end at start (or `history_ms` before); `ready` once assigned. Each
    record is parsed as `message_type` (BalanceEvent unless told) and handed to every observer, and with its
    Kafka timestamp (ns, common.kafka.record_time_ns) to every timed observer (a record from before the start's
    end: to every history observer instead)."""

    def __init__(
        self, bootstrap: str, topic: str, observers: Iterable[Callable[[Any], None]], *,
        message_type: type[Message] = balance_pb2.BalanceEvent, name: str = "balance-events",
        history_observers: Iterable[Callable[[Any], None]] = (), history_ms: int = 0,
        timed_observers: Iterable[Callable[[Any, int], None]] = (),
    ) -> None:
        assert history_ms >= 0, history_ms
        self.bootstrap = bootstrap
        self.topic = topic
        self.observers = tuple(observers)
        self.timed_observers = tuple(timed_observers)
        self.history_observers = tuple(history_observers)
        self.history_ms = history_ms
        self._history_end: dict[int, int] = {}  # partition -> its end when assigned (records below: history)
        self.message_type = message_type
        self.name = name
        self.ready = threading.Event()
        self.malformed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start following."""
        self._thread.start()

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        consumer = make_consumer(self.bootstrap, client_id=f"gateway-{self.name}")
        try:
            while not self._stop.is_set() and not self._assign(consumer):
                self._stop.wait(RETRY_INTERVAL_S)
            self.ready.set()
            while not self._stop.is_set():
                message = consumer.poll(POLL_TIMEOUT_S)
                if message is None or message.error() is not None:
                    continue
                event = self.message_type()
                try:
                    event.ParseFromString(message.value())
                except DecodeError:
                    self.malformed += 1
                    log.warning("%s %d@%d: not a %s", self.topic, message.partition(), message.offset(),
                                self.message_type.__name__)  # fmt: skip
                    continue
                if message.offset() < self._history_end.get(message.partition(), 0):
                    for observe in self.history_observers:
                        observe(event)
                    continue
                for observe in self.observers:
                    observe(event)
                if self.timed_observers:
                    record_ns = record_time_ns(message)
                    for observe_timed in self.timed_observers:
                        observe_timed(event, record_ns)
        finally:
            consumer.close()

    def _assign(self, consumer: Any) -> bool:  # consumer: confluent_kafka.Consumer
        try:
            metadata = consumer.list_topics(self.topic, timeout=METADATA_TIMEOUT_S)
            partitions = sorted(metadata.topics[self.topic].partitions)
            ends = [consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=METADATA_TIMEOUT_S)[1]
                    for p in partitions]  # fmt: skip
            starts = list(ends)
            if self.history_ms and partitions:
                since_ms = int(time.time() * 1000) - self.history_ms
                found = consumer.offsets_for_times([TopicPartition(self.topic, p, since_ms) for p in partitions],
                                                   timeout=METADATA_TIMEOUT_S)  # fmt: skip
                since = {at.partition: at.offset for at in found}  # -1: nothing written since then: start at the end
                starts = [end if since.get(p, -1) < 0 else min(since[p], end)
                          for p, end in zip(partitions, ends, strict=True)]  # fmt: skip
        except Exception as error:  # KafkaException, a missing topic: retry until the broker answers
            log.warning("%s: cannot assign yet: %s", self.topic, error)
            return False
        if not partitions:
            return False
        self._history_end = dict(zip(partitions, ends, strict=True))
        consumer.assign([TopicPartition(self.topic, p, start) for p, start in zip(partitions, starts, strict=True)])
        return True
