"""Follows UBSCore's `balance.events` topic live, for the private user streams and transfer outcomes; the same
follower reads `balance.operations` (BalanceRequests, `message_type`) for the transfers every gateway accepted.

Starts at the end of every partition (the high watermark read at start: a stream shows changes from when it
opens; history is the ledger query's job), hands each BalanceEvent to the observer, and keeps going through
broker outages (librdkafka reconnects by itself). Nothing is committed: the gateway keeps no state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import TopicPartition
from google.protobuf.message import DecodeError, Message

from common.kafka import make_consumer
from exchange.v1 import balance_pb2

POLL_TIMEOUT_S = 0.2
METADATA_TIMEOUT_S = 10.0
RETRY_INTERVAL_S = 1.0

log = logging.getLogger(__name__)


class BalanceEventFollower:
    """A daemon thread reading `topic` from its end at start; `ready` once assigned. Each record is parsed as
    `message_type` (BalanceEvent unless told) and handed to every observer."""

    def __init__(
        self, bootstrap: str, topic: str, observers: Iterable[Callable[[Any], None]], *,
        message_type: type[Message] = balance_pb2.BalanceEvent, name: str = "balance-events",
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.observers = tuple(observers)
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
            while not self._stop.is_set() and not self._assign_at_end(consumer):
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
                for observe in self.observers:
                    observe(event)
        finally:
            consumer.close()

    def _assign_at_end(self, consumer: object) -> bool:
        try:
            metadata = consumer.list_topics(self.topic, timeout=METADATA_TIMEOUT_S)  # type: ignore[attr-defined]
            partitions = sorted(metadata.topics[self.topic].partitions)
            ends = [
                consumer.get_watermark_offsets(  # type: ignore[attr-defined]
                    TopicPartition(self.topic, p), timeout=METADATA_TIMEOUT_S
                )[1]
                for p in partitions
            ]
        except Exception as error:  # KafkaException, a missing topic: retry until the broker answers
            log.warning("%s: cannot assign yet: %s", self.topic, error)
            return False
        if not partitions:
            return False
        consumer.assign([TopicPartition(self.topic, p, end) for p, end in zip(partitions, ends, strict=True)])  # type: ignore[attr-defined]
        return True
