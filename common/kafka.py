"""Kafka clients built the one way this project uses them (confluent-kafka), every relied-on option spelled out.

Producer: idempotent, `acks=all`, bounded in-flight requests, explicit linger and timeouts, so a retry can neither
duplicate nor reorder a record within a partition (DESIGN.md "Never lose, never double").

Consumer: no consumer group offsets. A service records the Kafka position of every input it applied in its own
WAL/snapshot and, on start, *assigns* its partitions itself and seeks each one to the offset after the last one
it applied (`enable.auto.commit=false`, no subscribe/rebalance). `group.id` is still required by librdkafka; it
is only a label here.

Logs: librdkafka's own lines (connection failures, PID acquisition, session timeouts) go to the Python logger
`kafka.client` (CLIENT_LOG), never raw to stderr, so they come out as JSON through common/logs.py with the rest:
`message` is "FAIL [ubscore#producer-2] ...", `level` is librdkafka's severity mapped (3 ERROR, 4 WARNING,
5-6 INFO, 7 DEBUG), and `kafka_facility` / `kafka_client` hold the facility and the client's name. librdkafka
queues these lines until the client is polled: producers and consumers are polled by their service loops; an
AdminClient is not, so `make_admin` returns one that polls after each call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from common.errors import Timeout, Unavailable

BOOTSTRAP_DEFAULT = "127.0.0.1:9092"
PRODUCER_LINGER_MS = 2
PRODUCER_DELIVERY_TIMEOUT_MS = 30_000
PRODUCER_REQUEST_TIMEOUT_MS = 10_000
PRODUCER_IN_FLIGHT_MAX = 5  # the idempotent producer keeps order with up to 5 in flight
PRODUCER_QUEUE_MESSAGES_MAX = 100_000
CONSUMER_FETCH_WAIT_MS_MAX = 50
CONSUMER_SESSION_TIMEOUT_MS = 10_000
CONSUMER_QUEUED_KBYTES_MAX = 64 * 1024
ADMIN_TIMEOUT_S = 30.0
CLIENT_LOGGER_NAME = "kafka.client"


class _ClientFields(logging.Filter):
    """Copies librdkafka's facility and client name (confluent-kafka logs "%s [%s] %s" with args (facility,
    client name, text)) into fields of their own, so jq can select on them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `kafka_facility` and `kafka_client` when the record has librdkafka's three arguments; keep it."""
        if isinstance(record.args, tuple) and len(record.args) == 3:
            record.kafka_facility, record.kafka_client = record.args[0], record.args[1]
        return True


CLIENT_LOG = logging.getLogger(CLIENT_LOGGER_NAME)
# Compared by name: a second import of this module (pytest's importlib mode) has another _ClientFields class.
if not any(type(existing).__name__ == _ClientFields.__name__ for existing in CLIENT_LOG.filters):
    CLIENT_LOG.addFilter(_ClientFields())


class PolledAdminClient(AdminClient):
    """An AdminClient that delivers its queued librdkafka log lines after every call made through it.

    With a `logger`, confluent-kafka puts librdkafka's log lines on the client's main queue, which only poll()
    serves; callers of an AdminClient never poll, so the lines would pile up unseen (a health check's client lives
    as long as the gateway). For any other admin call, call poll(0) after it.
    """

    def list_topics(self, *args: Any, **kwargs: Any) -> Any:
        """AdminClient.list_topics, then deliver the pending log lines."""
        try:
            return super().list_topics(*args, **kwargs)
        finally:
            self.poll(0)

    def create_topics(self, *args: Any, **kwargs: Any) -> Any:
        """AdminClient.create_topics, then deliver the pending log lines."""
        try:
            return super().create_topics(*args, **kwargs)
        finally:
            self.poll(0)

    def delete_topics(self, *args: Any, **kwargs: Any) -> Any:
        """AdminClient.delete_topics, then deliver the pending log lines."""
        try:
            return super().delete_topics(*args, **kwargs)
        finally:
            self.poll(0)


def make_producer(
    bootstrap: str = BOOTSTRAP_DEFAULT, *, client_id: str, extra: Mapping[str, Any] | None = None
) -> Producer:
    """An idempotent producer (acks=all) with explicit batching and timeouts."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": PRODUCER_IN_FLIGHT_MAX,
        "linger.ms": PRODUCER_LINGER_MS,
        "delivery.timeout.ms": PRODUCER_DELIVERY_TIMEOUT_MS,
        "request.timeout.ms": PRODUCER_REQUEST_TIMEOUT_MS,
        "queue.buffering.max.messages": PRODUCER_QUEUE_MESSAGES_MAX,
        "compression.type": "none",
        "logger": CLIENT_LOG,  # librdkafka's lines as JSON records, served by the service's poll()
    }
    config.update(extra or {})
    return Producer(config)


def make_consumer(
    bootstrap: str = BOOTSTRAP_DEFAULT, *, client_id: str, extra: Mapping[str, Any] | None = None
) -> Consumer:
    """A consumer for manual assignment: no auto commit, no group offsets used; seek positions come from the caller."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "group.id": f"{client_id}.manual",  # required by librdkafka; never committed to
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # A recorded offset that is gone (retention) must stop the service, not silently jump: "error".
        "auto.offset.reset": "error",
        "isolation.level": "read_committed",
        "fetch.wait.max.ms": CONSUMER_FETCH_WAIT_MS_MAX,
        "session.timeout.ms": CONSUMER_SESSION_TIMEOUT_MS,
        "queued.max.messages.kbytes": CONSUMER_QUEUED_KBYTES_MAX,
        "enable.partition.eof": False,
        "logger": CLIENT_LOG,  # librdkafka's lines as JSON records, served by poll()/consume()
    }
    config.update(extra or {})
    return Consumer(config)


def make_admin(bootstrap: str = BOOTSTRAP_DEFAULT, *, extra: Mapping[str, Any] | None = None) -> PolledAdminClient:
    """An admin client whose librdkafka log lines go to `kafka.client` (delivered after each call, see above)."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": CLIENT_LOG}
    config.update(extra or {})
    return PolledAdminClient(config)


def record_time_ns(message: Message) -> int:
    """When the record's producer made it (its CreateTime: the producing service's clock), in ns; 0 if none."""
    timestamp_type, timestamp_ms = message.timestamp()
    return timestamp_ms * 1_000_000 if timestamp_type != TIMESTAMP_NOT_AVAILABLE else 0


def assign_from(consumer: Consumer, topic: str, next_offsets: Mapping[int, int]) -> None:
    """Assign `topic`'s partitions to `consumer`, each starting at next_offsets[partition] (-1: the beginning)."""
    assignments = [
        TopicPartition(topic, partition, offset if offset >= 0 else OFFSET_BEGINNING)
        for partition, offset in sorted(next_offsets.items())
    ]
    consumer.assign(assignments)


def flush_or_raise(producer: Producer, *, timeout_s: float) -> None:
    """Wait until every queued record is acknowledged; raise Timeout if some are still pending."""
    pending = producer.flush(timeout_s)
    if pending:
        raise Timeout(f"{pending} Kafka records not acknowledged within {timeout_s} s")


def create_topic(
    bootstrap: str,
    topic: str,
    *,
    partitions: int,
    replication: int = 1,
    config: Mapping[str, str] | None = None,
) -> None:
    """Create `topic` with topic-level `config` (no error if it exists already); raise Unavailable on failure."""
    admin = make_admin(bootstrap)
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication, config=dict(config or {}))],
        request_timeout=ADMIN_TIMEOUT_S,
        operation_timeout=ADMIN_TIMEOUT_S,
    )
    try:
        futures[topic].result(timeout=ADMIN_TIMEOUT_S)
    except KafkaException as error:
        if error.args and error.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        raise Unavailable(f"cannot create topic {topic}: {error}") from error
    finally:
        admin.poll(0)  # the lines logged while waiting for the result


def delete_topic(bootstrap: str, topic: str) -> None:
    """Delete `topic` (used by tests to clean up their private topics)."""
    admin = make_admin(bootstrap)
    futures = admin.delete_topics([topic], request_timeout=ADMIN_TIMEOUT_S, operation_timeout=ADMIN_TIMEOUT_S)
    try:
        futures[topic].result(timeout=ADMIN_TIMEOUT_S)
    finally:
        admin.poll(0)  # the lines logged while waiting for the result
