"""Transfers to Kafka `balance.operations`: an idempotent producer, an answer only once Kafka acknowledged.

A transfer is answered PENDING only after the broker acknowledged the record (`acks=all`, idempotent producer),
so a gateway crash after the answer cannot lose it. If no acknowledgement comes within `delivery_timeout_ms`
the call fails with TIMEOUT: the outcome is unknown (the record may still have been written), and the client
looks it up, or repeats it, by its request id (UBSCore applies a request id once).

One producer serves every gRPC worker thread (confluent-kafka's Producer is thread-safe); a daemon thread polls
it so delivery callbacks run. Each record carries this gateway instance's `producer_id` and a dense
`producer_seq` from 1 (DESIGN.md: every message carries its producer's sequence).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, Message

from common.errors import Timeout, Unavailable
from common.kafka import make_producer
from common.tracing import trace_id_of
from exchange.v1 import balance_pb2
from gateway.tracing import current_traceparent
from gateway.validation import ValidTransfer

DELIVERY_TIMEOUT_MS_DEFAULT = 5_000
POLL_INTERVAL_S = 0.05

log = logging.getLogger("gateway.transfers")


class TransferPublisher:
    """Produces BalanceRequests keyed by user and waits for each one's acknowledgement."""

    def __init__(
        self, bootstrap: str, topic: str, *, delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS_DEFAULT,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.topic = topic
        self.delivery_timeout_ms = delivery_timeout_ms
        self.wall_clock_ns = wall_clock_ns
        self.producer_id = f"gateway-{socket.gethostname()}-{os.getpid()}-{wall_clock_ns()}"
        self.producer = make_producer(
            bootstrap, client_id="gateway-transfers",
            extra={"delivery.timeout.ms": delivery_timeout_ms, "request.timeout.ms": min(delivery_timeout_ms, 5_000)},
        )
        self._seq = itertools.count(1)
        self._seq_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="transfer-producer", daemon=True)

    def start(self) -> None:
        """Start serving delivery callbacks."""
        self._thread.start()

    def stop(self) -> None:
        """Deliver what is queued (bounded), then stop."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.producer.flush(self.delivery_timeout_ms / 1000)

    def publish(self, transfer: ValidTransfer, operation: int) -> int:
        """Produce the request and wait for the broker's acknowledgement; the ts_event_ns it carries.

        Raises Unavailable if Kafka refused it (nothing written) and Timeout if the acknowledgement did not come
        in time (outcome unknown).
        """
        ts_event_ns = self.wall_clock_ns()
        with self._seq_lock:  # dense per producer: numbers and records in the same order
            seq = next(self._seq)
            record = balance_pb2.BalanceRequest(
                request_id=transfer.request_id, user_id=transfer.user_id, asset_id=transfer.asset_id,
                amount_units=transfer.amount_units, operation=operation, ts_event_ns=ts_event_ns,
                producer_id=self.producer_id, producer_seq=seq, traceparent=current_traceparent(),
            )
            done = threading.Event()
            outcome: list[KafkaError | None] = []

            def delivered(error: KafkaError | None, _message: Message) -> None:
                outcome.append(error)
                done.set()

            try:
                self.producer.produce(
                    self.topic, key=str(transfer.user_id).encode(), value=record.SerializeToString(),
                    on_delivery=delivered,
                )
            except BufferError as error:  # the local queue is full: Kafka is far behind
                raise Unavailable(f"Kafka producer queue full: {error}") from error
        if not done.wait(self.delivery_timeout_ms / 1000 + 1):
            raise Timeout(f"no acknowledgement from Kafka for transfer {transfer.request_id!r}")
        if outcome[0] is not None:
            error = outcome[0]
            # The client reads a plain message; the broker's detail (it may name hosts) goes to the log only.
            log.warning("transfer not acknowledged", extra={
                "request_id": transfer.request_id, "user_id": transfer.user_id, "kafka_error": str(error)})  # fmt: skip
            if error.code() == KafkaError._MSG_TIMED_OUT:
                raise Timeout(f"Kafka did not acknowledge transfer {transfer.request_id!r} in time")
            raise Unavailable(f"Kafka refused transfer {transfer.request_id!r}; retry")
        log.info("transfer published", extra={
            "request_id": transfer.request_id, "user_id": transfer.user_id, "producer_seq": seq,
            "trace_id": trace_id_of(record.traceparent)})  # fmt: skip
        return ts_event_ns

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(POLL_INTERVAL_S)
