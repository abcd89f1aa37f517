"""Producing UBSCore's outputs to Kafka, and what Kafka has acknowledged of them, as two watermarks.

`Outbox.produce` sends `OrderCommand`s on `orders` (key: symbol, so one symbol stays in one partition, in order)
and `BalanceEvent`s on `balance.events` (key: user), through the idempotent producer (acks=all) of common/kafka.py.

Events (`event_id`) and commands (`command_seq`) are numbered densely, so "everything up to N is acknowledged" is
one integer per kind. Acknowledgements arrive per partition, so out of order across partitions: each kind keeps
the ids it sent in order and the ids acknowledged since, and moves its watermark over the acknowledged prefix.
The watermarks go into the WAL (a `D` record with the next batch) and the snapshot; after a crash, everything
above them is produced again (consumers drop what they already have by `event_id` / `command_seq`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, Producer

from ubscore import codec
from ubscore.events import BalanceEvent, CancelCommand, PlaceCommand

# The longest the loop blocks on the producer (snapshot flush, full queue): well inside the Aeron client's liveness
# timeout (10 s), since the loop thread is the one that keeps the Aeron client alive.
FLUSH_TIMEOUT_S = 2.0
PRODUCE_WAIT_S = 0.05
# confluent-kafka's default partition (RD_KAFKA_PARTITION_UA: its partitioner picks one by key). `produce` is called
# positionally, (topic, value, key, partition, on_delivery): keyword arguments cost ~0.5 us more per record there.
BY_KEY = -1

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Watermark:
    """Ids sent in order, and the highest id below which every id is acknowledged."""

    confirmed: int = 0
    sent: deque[int] = field(default_factory=deque)
    acknowledged: set[int] = field(default_factory=set)

    def sending(self, item_id: int) -> None:
        """Record that `item_id` was handed to the producer (ids arrive in increasing order)."""
        assert not self.sent or item_id > self.sent[-1], (item_id, self.sent[-1])
        self.sent.append(item_id)

    def acknowledge(self, item_id: int) -> None:
        """Kafka acknowledged `item_id`; move the watermark over the acknowledged prefix."""
        self.acknowledged.add(item_id)
        sent, acknowledged = self.sent, self.acknowledged
        while sent and sent[0] in acknowledged:
            acknowledged.discard(sent[0])
            self.confirmed = sent.popleft()

    @property
    def unconfirmed(self) -> int:
        """Ids sent and not yet under the watermark."""
        return len(self.sent)


class Outbox:
    """Produces events and commands, keeps the two watermarks, and records delivery failures (fatal: the service
    stops, and the restart produces again everything above the durable watermarks)."""

    def __init__(self, producer: Producer, *, events_topic: str, orders_topic: str, delivered: tuple[int, int]):
        self.producer = producer
        self.events_topic = events_topic
        self.orders_topic = orders_topic
        self.events = Watermark(confirmed=delivered[0])
        self.commands = Watermark(confirmed=delivered[1])
        self.failures: list[str] = []
        self.durable = delivered  # the watermarks last written to the WAL
        self.symbol_keys: dict[str, bytes] = {}  # the `orders` key of each symbol, encoded once (markets are few)

    def changed(self) -> bool:
        """True when the watermarks moved since they were last made durable."""
        return (self.events.confirmed, self.commands.confirmed) != self.durable

    def produce(self, events: list[BalanceEvent], commands: list[PlaceCommand | CancelCommand]) -> None:
        """Hand the outputs of a durable batch to the producer (commands first: they are the time-critical ones).
        Acknowledgements arrive when the owner polls the producer (the service loop does, every millisecond)."""
        symbol_keys, acknowledger = self.symbol_keys, self._acknowledger
        watermark, topic = self.commands, self.orders_topic
        for command in commands:
            command_seq, symbol = command.command_seq, command.symbol
            watermark.sending(command_seq)
            key = symbol_keys.get(symbol)
            if key is None:
                key = symbol_keys[symbol] = symbol.encode()
            self._produce_one(topic, key, codec.encode_command(command), acknowledger(watermark, command_seq))
        watermark, topic = self.events, self.events_topic
        for event in events:
            event_id = event.event_id
            watermark.sending(event_id)
            self._produce_one(topic, str(event.user_id).encode(), codec.encode_event(event),
                              acknowledger(watermark, event_id))  # fmt: skip

    def _produce_one(self, topic: str, key: bytes, value: bytes, on_delivery: Callable[..., None]) -> None:
        try:
            self.producer.produce(topic, value, key, BY_KEY, on_delivery)
        except BufferError:  # the producer's queue is full: wait for acknowledgements (bounded)
            self._produce_when_room(topic, key, value, on_delivery)

    def _produce_when_room(self, topic: str, key: bytes, value: bytes, on_delivery: Callable[..., None]) -> None:
        deadline_ns = time.monotonic_ns() + int(FLUSH_TIMEOUT_S * 1e9)
        while True:
            self.producer.poll(PRODUCE_WAIT_S)
            try:
                self.producer.produce(topic, value, key, BY_KEY, on_delivery)
                return
            except BufferError:
                if time.monotonic_ns() > deadline_ns:
                    raise

    def _acknowledger(self, watermark: Watermark, item_id: int) -> Callable[[KafkaError | None, Message], None]:
        """A delivery callback: acknowledge `item_id`, or record the failure (the loop stops on it)."""

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                log.critical("KAFKA DELIVERY FAILED for id %d: %s", item_id, error)
                self.failures.append(f"{item_id}: {error}")
                return
            watermark.acknowledge(item_id)

        return on_delivery
