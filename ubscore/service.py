"""The UBSCore service loop (imperative shell around ubscore.core.UbsCore).

One thread owns everything (the Aeron client included, so its single-threaded rules hold), and loops:

    take a bounded batch of inputs: verified matcher outputs of every shard (EngineFeed), transfers from Kafka
      `balance.operations` (owned partitions, assigned at the offsets of our own state), Aeron requests
    -> Aeron requests past their deadline (DEADLINE_EXCEEDED) or arriving while shedding load (BUSY, orders only),
       and undecodable inputs of any channel, are refused or set aside here: counted, logged with their origin
    -> apply each input to the core, in that order, and keep its WAL record
    -> append the batch to the WAL with ONE fsync (group commit)                ◄── durable before visible
    -> then: Aeron replies, OrderCommands on `orders` (key symbol), BalanceEvents on `balance.events` (key user)
    snapshot every `snapshot_inputs` inputs (and at a clean stop), once Kafka has acknowledged all produced;
    a forked child encodes and writes it (common/snapshot_writer.py), so the loop pauses only for the fork.

Nothing leaves before it is durable, so a crash loses nothing anyone saw. On restart (state.recover) the WAL tail
is re-applied and every event or command above the durable delivery watermarks is produced again; consumers drop
repeats (`event_id`, `command_seq`). A lost Aeron reply is recovered by the gateway's retry with the same client
order id (the first outcome comes back, `duplicate = true`).

Back-pressure: orders are refused with UBSCORE_BUSY while Kafka has more than `kafka_unconfirmed_max` records
unacknowledged, more than `in_flight_max` commands await a matcher output (the feed lags), or for one second after
a group commit took over `wal_fsync_ms_max`. Cancels are still taken (they only reduce risk); transfers wait in Kafka.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from common import tracing
from common.aeron.errors import ConductorTimeout, DriverError, Undeliverable
from common.aeron.request_response import Request, ResponseServer
from common.engine_feed import EngineFeed
from common.enums import RejectReason
from common.errors import Timeout
from common.kafka import assign_from
from common.snapshot import oldest_kept_snapshot_lsn, write_snapshot
from common.snapshot_writer import ForkedSnapshotWriter
from ubscore import codec
from ubscore.commands import PlaceRequest
from ubscore.config import REPLY_TIMEOUT_MS, UbscoreConfig
from ubscore.core import UbsCore
from ubscore.errors import InputRejected
from ubscore.events import (
    BalanceEvent,
    CancelCommand,
    Effects,
    OrderAccepted,
    PlaceCommand,
    Refused,
    with_traceparent,
)
from ubscore.metrics import UbscoreMetrics
from ubscore.outbox import FLUSH_TIMEOUT_S, Outbox
from ubscore.state import (
    OUTPUT_RECORD,
    REQUEST_RECORD,
    Recovered,
    delivered_record,
    encode_state,
    set_aside_record,
    transfer_record,
)

# Idle: spin this long after the last input (a burst's next request is read at once), then park IDLE_PARK_S per
# empty turn while inputs were recent (a lone request waits ~0.1-0.2 ms to be read, at ~15% of a core: a spinning
# loop held a whole core and, on a loaded machine, was descheduled for milliseconds), then wait IDLE_WAIT_MS per turn.
IDLE_SPIN_NS = 50_000
IDLE_PARK_S = 0.000_1
IDLE_RECENT_NS = 100_000_000
IDLE_WAIT_MS = 1
# Kafka transfers and matcher feeds are looked at this often while quiet (and at every turn while they yield
# inputs), and Kafka's delivery acknowledgements are served this often: none is latency-critical, and each look
# costs microseconds (a producer poll ~14 us) of the turn that polls Aeron.
QUIET_SOURCES_INTERVAL_NS = 1_000_000
ACKNOWLEDGEMENTS_INTERVAL_NS = 1_000_000
GAUGES_INTERVAL_NS = 250_000_000  # gauges (lags, open orders) are refreshed at most this often
# One INFO `batch sent` line covers every batch sent in this interval (with their id ranges): at one request in
# flight every batch is one order, and a JSON log line per batch cost ~8% of the loop's time.
SENT_LOG_INTERVAL_NS = 1_000_000_000
SLOW_COMMIT_BUSY_NS = 1_000_000_000  # a slow group commit sheds orders for this long (then they are tried again)
# A due snapshot waits up to FLUSH_TIMEOUT_S for Kafka's acknowledgements; while the broker is away that would stall
# every loop turn, so after a postponement the next try comes this much later.
SNAPSHOT_RETRY_NS = 10_000_000_000

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Batch:
    """One group commit: WAL payloads and what to send once they are durable."""

    records: list[bytes] = field(default_factory=list)
    replies: list[tuple[Request, bytes]] = field(default_factory=list)
    early_replies: list[tuple[Request, bytes]] = field(default_factory=list)  # refusals that changed nothing
    events: list[BalanceEvent] = field(default_factory=list)
    commands: list[PlaceCommand | CancelCommand] = field(default_factory=list)
    inputs: int = 0

    def clear(self) -> None:
        """Empty, for the next turn (one Batch serves every turn: the loop turns ~100k times a second when idle)."""
        self.records.clear()
        self.replies.clear()
        self.early_replies.clear()
        self.events.clear()
        self.commands.clear()
        self.inputs = 0


@dataclass(slots=True)
class SentLog:
    """What was sent since the last `batch sent` log line (ids are dense, so first and last tell every one)."""

    batches: int = 0
    inputs: int = 0
    replies: int = 0
    event_id_first: int = 0
    event_id_last: int = 0
    command_seq_first: int = 0
    command_seq_last: int = 0


class UbscoreService:
    """Owns the core, the WAL, the consumer, the producer, the Aeron responder and the feeds; `run()` until stop."""

    def __init__(
        self, *, config: UbscoreConfig, core: UbsCore, recovered: Recovered, consumer: Consumer, producer: Producer,
        server: ResponseServer | None, feeds: list[EngineFeed], metrics: UbscoreMetrics,
    ) -> None:  # fmt: skip
        self.config = config
        self.core = core
        self.wal = recovered.wal
        self.positions = recovered.positions
        self.consumer = consumer
        self.producer = producer
        self.server = server
        self.feeds = feeds
        self.metrics = metrics
        self.outbox = Outbox(producer, events_topic=config.events_topic, orders_topic=config.orders_topic,
                             delivered=recovered.delivered)  # fmt: skip
        self.resend = (recovered.resend_events, recovered.resend_commands)
        self.inbox: list[Request] = []
        self.stop_requested = False
        self.inputs_since_snapshot = recovered.replayed_records
        self.last_fsync_ms = 0.0
        self.slow_commit_until_ns = 0  # orders are refused BUSY until then, after a group commit over the bound
        self.snapshot_retry_ns = 0  # a snapshot postponed for Kafka is not tried (nor waited for) before then
        self.input_ns = 0  # monotonic: when the last turn took inputs (how long to spin, park or wait when idle)
        self.quiet_sources_ns = 0
        self.acknowledgements_ns = 0
        self.more_inputs = True  # the feeds or Kafka gave inputs at their last look: look again at once
        self.gauges_ns = 0
        self.snapshots = ForkedSnapshotWriter(config.snapshot_dir)
        self.batch = Batch()
        self.sent_log = SentLog()
        self.sent_log_ns = 0
        self.last_output_ns = {feed.shard_id: time.monotonic_ns() for feed in feeds}

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Assign the owned partitions at our own offsets, and produce again what Kafka never acknowledged."""
        assign_from(self.consumer, self.config.operations_topic, self.positions.next_offsets)
        events, commands = self.resend
        self.outbox.produce(events, commands)
        self.resend = ([], [])
        log.info("consuming %s from %s; re-sent %d events, %d commands", self.config.operations_topic,
                 self.positions.next_offsets, len(events), len(commands))  # fmt: skip

    def stop(self) -> None:
        """Ask the loop to finish the current batch and return (safe from a signal handler)."""
        self.stop_requested = True

    def run(self) -> None:
        """Loop until stop(), then snapshot."""
        self.start()
        while not self.stop_requested and not self.outbox.failures:
            self.run_once()
        self._flush_sent_log(time.monotonic_ns(), force=True)
        if self.outbox.failures:
            raise KafkaException(f"Kafka delivery failed: {self.outbox.failures[:3]}")
        self.take_snapshot()

    def close(self) -> None:
        """Release the feeds, the responder, the consumer and the WAL (after run() returned)."""
        for feed in self.feeds:
            feed.close()
        if self.server is not None:
            self.server.close()
        self.consumer.close()
        self.wal.close()

    # --- one batch -------------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Gather, apply, make durable and send one batch; the number of inputs taken."""
        batch = self.batch
        batch.clear()
        now_ns = time.monotonic_ns()
        if self.more_inputs or now_ns - self.quiet_sources_ns >= QUIET_SOURCES_INTERVAL_NS:
            self.quiet_sources_ns = now_ns
            self._take_outputs(batch)
            self._take_transfers(batch)
            self.more_inputs = bool(batch.records)
        self._take_requests(batch)
        if batch.records:
            if self.outbox.changed():
                durable = (self.outbox.events.confirmed, self.outbox.commands.confirmed)
                batch.records.append(delivered_record(*durable))
                self.outbox.durable = durable
            started_ns = time.monotonic_ns()
            self.wal.append(batch.records)
            ended_ns = time.monotonic_ns()
            self.last_fsync_ms = (ended_ns - started_ns) / 1e6
            if self.last_fsync_ms > self.config.wal_fsync_ms_max:
                self.slow_commit_until_ns = ended_ns + SLOW_COMMIT_BUSY_NS
            self.metrics.wal_fsync_seconds.observe(self.last_fsync_ms / 1e3)
            self.metrics.batch_records.observe(len(batch.records))
        if batch.records or batch.early_replies:
            self._send(batch)
        self._after_batch(batch)
        return batch.inputs + len(batch.early_replies)

    def busy_reason(self) -> str:
        """Why orders are being refused now ("" when they are not)."""
        unconfirmed = self.outbox.events.unconfirmed + self.outbox.commands.unconfirmed
        if unconfirmed > self.config.kafka_unconfirmed_max:
            return f"{unconfirmed} records await Kafka acknowledgement"
        if self.core.commands_in_flight > self.config.in_flight_max:
            return f"{self.core.commands_in_flight} orders await the matcher"
        if self.slow_commit_until_ns and time.monotonic_ns() < self.slow_commit_until_ns:
            return f"a WAL commit took {self.last_fsync_ms:.0f} ms"
        return ""

    def _apply(self, batch: Batch, record: bytes, effects: Effects) -> None:
        batch.records.append(record)
        batch.events.extend(effects.events)
        batch.commands.extend(effects.commands)
        batch.inputs += 1

    def _take_outputs(self, batch: Batch) -> None:
        for feed in self.feeds:
            room = self.config.batch_records_max - batch.inputs
            if room <= 0:
                return
            try:
                outputs = feed.poll(timeout_ms=0, outputs_max=room)
            except Timeout as error:  # the replay endpoint is down: nothing was lost, the rest goes on
                log.warning("feed shard %d: %s", feed.shard_id, error)
                continue
            for output in outputs:
                traceparent = tracing.output_traceparent(output)
                with tracing.child_span("ubscore.output", traceparent, shard=output.shard_id, seq=output.seq):
                    effects = self.core.apply_output(codec.decode_output(output))
                    self._apply(batch, OUTPUT_RECORD + output.SerializeToString(deterministic=True),
                                with_traceparent(effects, traceparent))  # fmt: skip
                self.metrics.count(self.metrics.feed_outputs, str(feed.shard_id))
            if outputs:
                self.last_output_ns[feed.shard_id] = time.monotonic_ns()
                self.metrics.feed_last_seq.labels(str(feed.shard_id)).set(outputs[-1].seq)

    def _take_transfers(self, batch: Batch) -> None:
        room = self.config.batch_records_max - batch.inputs
        if room <= 0:
            return
        for message in self.consumer.consume(num_messages=room, timeout=0):
            error = message.error()
            if error is not None:
                self._consumer_error(error)
                continue
            self._take_transfer(batch, message)

    def _take_transfer(self, batch: Batch, message: Message) -> None:
        partition, offset, raw = message.partition(), message.offset(), message.value() or b""
        try:
            request = codec.decode_transfer(raw)
        except InputRejected as rejection:
            log.warning("MALFORMED INPUT %s[%d]@%d: %s", message.topic(), partition, offset, rejection)
            self.metrics.malformed.labels("kafka", rejection.reason).inc()
            self.positions.consumed(partition, offset)
            batch.records.append(set_aside_record(partition, offset, rejection.reason))
            return
        self.positions.consumed(partition, offset)
        with tracing.child_span("ubscore.transfer", request.traceparent, request_id=request.request_id):
            effects = self.core.transfer(request)
        effects = with_traceparent(effects, request.traceparent)
        self._apply(batch, transfer_record(partition, offset, raw), effects)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("transfer applied", extra={"request_id": request.request_id, "user_id": request.user_id,
                "kafka_partition": partition, "kafka_offset": offset,
                "event_ids": [event.event_id for event in effects.events],
                "trace_id": tracing.trace_id_of(request.traceparent)})  # fmt: skip
        self._count_transfer(request.request_id, effects)

    def _count_transfer(self, request_id: str, effects: Effects) -> None:
        if effects.reply is not None:  # a key reused for a different transfer
            log.warning("transfer %r refused: %s", request_id, effects.reply.message)
            self.metrics.count(self.metrics.refusals, "transfer", RejectReason(effects.reply.reason).name)
        elif not effects.events:
            self.metrics.count(self.metrics.duplicates, "transfer")
        else:
            reason = effects.events[0].reject_reason
            self.metrics.count(self.metrics.requests, "transfer", "refused" if reason else "applied")
            if reason:
                self.metrics.count(self.metrics.refusals, "transfer", RejectReason(reason).name)

    def _poll_requests(self) -> int:
        """Read arrived Aeron requests into the inbox; the number of fragments read."""
        assert self.server is not None
        try:
            return self.server.poll(self.inbox.append)
        except (struct.error, UnicodeDecodeError) as error:  # the image moved past the bad fragment already
            log.warning("MALFORMED INPUT aeron %s:%d: unreadable request framing: %s", self.config.aeron_channel,
                        self.config.aeron_stream_id, error)  # fmt: skip
            self.metrics.malformed.labels("aeron", "BAD_FRAMING").inc()
            return 1

    def _take_requests(self, batch: Batch) -> None:
        if self.server is None:
            return
        while len(self.inbox) + batch.inputs < self.config.batch_records_max:
            if self._poll_requests() == 0:
                break
        if not self.inbox:
            return
        busy = self.busy_reason()  # only when there are requests: most turns of an idle loop have none
        now_ns = time.time_ns()
        for request in self.inbox:
            self._take_request(batch, request, busy, now_ns)
        self.inbox.clear()

    def _take_request(self, batch: Batch, request: Request, busy: str, now_ns: int) -> None:
        try:
            deadline_ns, body = codec.decode_request(request.payload)
        except InputRejected as rejection:
            log.warning("MALFORMED INPUT aeron %s:%d correlation %d: %s", request.response_channel,
                        request.response_stream_id, request.correlation_id, rejection)  # fmt: skip
            self.metrics.malformed.labels("aeron", rejection.reason).inc()
            self._refuse_early(batch, request, "request", RejectReason.UBSCORE_INVALID_ORDER, f"malformed: {rejection}")
            return
        kind = "place" if type(body) is PlaceRequest else "cancel"
        if deadline_ns and now_ns > deadline_ns:
            self._refuse_early(batch, request, kind, RejectReason.UBSCORE_DEADLINE_EXCEEDED, "deadline passed")
            return
        if busy and kind == "place":
            self._refuse_early(batch, request, kind, RejectReason.UBSCORE_BUSY, busy)
            return
        apply = self.core.place if kind == "place" else self.core.cancel
        if tracing.enabled():
            with tracing.child_span(f"ubscore.{kind}", body.traceparent, client_order_id=body.client_order_id):
                effects = apply(body)  # type: ignore[arg-type]
        else:  # no span name, attributes or context manager built per request
            effects = apply(body)  # type: ignore[arg-type]
        effects = with_traceparent(effects, body.traceparent)
        self._apply(batch, REQUEST_RECORD + request.payload, effects)
        if log.isEnabledFor(logging.DEBUG):  # per request: DEBUG only, and the extra dict built only then
            log.debug(f"{kind} applied", extra={
                "client_order_id": body.client_order_id, "user_id": body.user_id,
                "order_id": getattr(effects.reply, "order_id", 0), "correlation_id": request.correlation_id,
                "command_seqs": [command.command_seq for command in effects.commands],
                "event_ids": [event.event_id for event in effects.events],
                "trace_id": tracing.trace_id_of(body.traceparent)})  # fmt: skip
        batch.replies.append((request, codec.encode_reply(effects.reply)))
        self._count_reply(kind, effects)

    def _refuse_early(self, batch: Batch, request: Request, kind: str, reason: RejectReason, message: str) -> None:
        batch.early_replies.append((request, codec.refusal_reply(reason, message)))
        self.metrics.count(self.metrics.requests, kind, "refused")
        self.metrics.count(self.metrics.refusals, kind, reason.name)

    def _count_reply(self, kind: str, effects: Effects) -> None:
        reply = effects.reply
        if type(reply) is Refused:
            self.metrics.count(self.metrics.requests, kind, "refused")
            self.metrics.count(self.metrics.refusals, kind, RejectReason(reply.reason).name)
        elif type(reply) is OrderAccepted and reply.duplicate:
            self.metrics.count(self.metrics.duplicates, kind)
        else:
            self.metrics.count(self.metrics.requests, kind, "accepted")

    def _consumer_error(self, error: KafkaError) -> None:
        # An offset reset means inputs we never applied are gone from the topic: stop, an operator must decide.
        if error.fatal() or error.code() == KafkaError._AUTO_OFFSET_RESET:
            raise KafkaException(error)
        log.warning("kafka consumer: %s", error)

    # --- sending ---------------------------------------------------------------------------------------------

    def _send(self, batch: Batch) -> None:
        for request, payload in batch.early_replies:
            self._reply(request, payload)
        for request, payload in batch.replies:
            self._reply(request, payload)
        if batch.events or batch.commands:
            self.outbox.produce(batch.events, batch.commands)
            self._log_sent(batch)
            self.metrics.commands_out.inc(len(batch.commands))
            self.metrics.events_out.inc(len(batch.events))

    def _log_sent(self, batch: Batch) -> None:
        """Add the batch to the next `batch sent` line; write the line if the last one is old enough."""
        sent = self.sent_log
        if batch.events:
            sent.event_id_first = sent.event_id_first or batch.events[0].event_id
            sent.event_id_last = batch.events[-1].event_id
        if batch.commands:
            sent.command_seq_first = sent.command_seq_first or batch.commands[0].command_seq
            sent.command_seq_last = batch.commands[-1].command_seq
        sent.batches += 1
        sent.inputs += batch.inputs
        sent.replies += len(batch.replies)
        self._flush_sent_log(time.monotonic_ns())

    def _flush_sent_log(self, now_ns: int, *, force: bool = False) -> None:
        """One INFO line for the batches sent since the last one, at most every SENT_LOG_INTERVAL_NS."""
        sent = self.sent_log
        if not sent.batches or (not force and now_ns - self.sent_log_ns < SENT_LOG_INTERVAL_NS):
            return
        self.sent_log_ns = now_ns
        log.info("batch sent", extra={  # the id ranges to grep a single event or command by
            "batches": sent.batches, "inputs": sent.inputs, "replies": sent.replies,
            "event_id_first": sent.event_id_first, "event_id_last": sent.event_id_last,
            "command_seq_first": sent.command_seq_first, "command_seq_last": sent.command_seq_last})  # fmt: skip
        self.sent_log = SentLog()

    def _reply(self, request: Request, payload: bytes) -> None:
        assert self.server is not None
        try:
            self.server.respond(request, payload, timeout_ms=REPLY_TIMEOUT_MS)
        except (Undeliverable, ConductorTimeout) as error:  # gateway gone or slow: it retries with the same key
            log.warning("reply to %s:%d undeliverable: %s", request.response_channel, request.response_stream_id,
                        error)  # fmt: skip
        except DriverError as error:  # a response channel the driver refuses: the request named a bad one
            log.warning("MALFORMED INPUT aeron correlation %d: response channel %r stream %d: %s",
                        request.correlation_id, request.response_channel, request.response_stream_id,
                        error)  # fmt: skip
            self.metrics.malformed.labels("aeron", "BAD_RESPONSE_CHANNEL").inc()

    # --- housekeeping ----------------------------------------------------------------------------------------

    def _after_batch(self, batch: Batch) -> None:
        self.inputs_since_snapshot += batch.inputs
        now_ns = time.monotonic_ns()
        if batch.inputs or batch.early_replies:
            self.metrics.flush_counts()
            self.input_ns = now_ns
        else:
            quiet_ns = now_ns - self.input_ns
            if quiet_ns > IDLE_SPIN_NS:
                if quiet_ns < IDLE_RECENT_NS and self.server is not None:
                    self._park(now_ns + QUIET_SOURCES_INTERVAL_NS)
                else:
                    self.producer.poll(IDLE_WAIT_MS / 1e3)
                now_ns = time.monotonic_ns()
        if now_ns - self.acknowledgements_ns >= ACKNOWLEDGEMENTS_INTERVAL_NS:
            self.acknowledgements_ns = now_ns
            self.producer.poll(0)  # delivery callbacks: the watermarks move, failures are seen
        if now_ns - self.gauges_ns >= GAUGES_INTERVAL_NS:
            self.gauges_ns = now_ns
            self._update_gauges(now_ns)
            self._flush_sent_log(now_ns)
        self._snapshot_turn()

    def _park(self, until_ns: int) -> None:
        """Sleep IDLE_PARK_S at a time, looking at Aeron alone after each (~30 us for a whole idle turn on a loaded
        machine, most of it not Aeron), until a request is in or `until_ns` (the other sources' turn) has come."""
        while True:
            time.sleep(IDLE_PARK_S)
            if self._poll_requests() or time.monotonic_ns() >= until_ns:
                return

    def _update_gauges(self, now_ns: int) -> None:
        self.metrics.commands_in_flight.set(self.core.commands_in_flight)
        self.metrics.kafka_unconfirmed.labels(self.config.events_topic).set(self.outbox.events.unconfirmed)
        self.metrics.kafka_unconfirmed.labels(self.config.orders_topic).set(self.outbox.commands.unconfirmed)
        self.metrics.open_orders.set(len(self.core.orders))
        for feed in self.feeds:
            shard = str(feed.shard_id)
            applied_seq, _ = self.core.feed_positions.get(feed.shard_id, (0, b""))
            known_seq = max(feed.goal_seq, feed.last_seq)  # the matcher's head as last learned, or what arrived
            self.metrics.feed_lag_outputs.labels(shard).set(max(known_seq - applied_seq, 0))
            self.metrics.feed_idle_seconds.labels(shard).set((now_ns - self.last_output_ns[feed.shard_id]) / 1e9)
        for partition, next_offset in self.positions.next_offsets.items():
            tp = TopicPartition(self.config.operations_topic, partition)
            low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                start = next_offset if next_offset >= 0 else low
                self.metrics.operations_lag_records.labels(str(partition)).set(max(high - start, 0))

    def _snapshot_turn(self) -> None:
        """Learn whether the snapshot child finished; start one (a fork: the loop's only pause) when due."""
        self._snapshot_finished(self.snapshots.poll())
        if self.inputs_since_snapshot < self.config.snapshot_inputs or self.snapshots.running is not None:
            return
        now_ns = time.monotonic_ns()
        if now_ns < self.snapshot_retry_ns:  # postponed a moment ago (Kafka behind or away): do not wait on it again
            return
        payload = self._snapshot_payload()
        if payload is None:
            self.snapshot_retry_ns = now_ns + SNAPSHOT_RETRY_NS
        elif self.snapshots.start(self.wal.last_lsn, payload):
            self.inputs_since_snapshot = 0

    def _snapshot_payload(self) -> Callable[[], bytes] | None:
        """The encoder of the state as it stands, once Kafka acknowledged everything produced (else None: later)."""
        self.producer.flush(FLUSH_TIMEOUT_S)
        if self.outbox.events.unconfirmed or self.outbox.commands.unconfirmed or self.outbox.failures:
            log.warning("snapshot postponed: Kafka has not acknowledged everything yet")
            return None
        problems = self.core.invariant_problems()
        assert not problems, problems[:10]  # checked here and in every test: money is conserved
        lsn, delivered = self.wal.last_lsn, (self.outbox.events.confirmed, self.outbox.commands.confirmed)
        return lambda: encode_state(lsn=lsn, core=self.core, positions=self.positions, delivered=delivered)

    def _snapshot_finished(self, lsn: int | None) -> None:
        """After the snapshot at `lsn` is durable: delete the WAL segments below the oldest kept snapshot."""
        if lsn is None:
            return
        self.wal.truncate_before((oldest_kept_snapshot_lsn(self.config.snapshot_dir) or 0) + 1)
        log.info("snapshot at lsn %d durable; WAL kept from lsn %d", lsn, self.wal.first_lsn)

    def take_snapshot(self) -> bool:
        """At a clean stop: wait for a running child, then write the state in this thread; False if postponed."""
        self._snapshot_finished(self.snapshots.wait())
        payload = self._snapshot_payload()
        if payload is None:
            return False
        lsn = self.wal.last_lsn
        write_snapshot(self.config.snapshot_dir, lsn, payload())
        self.inputs_since_snapshot = 0
        self._snapshot_finished(lsn)
        return True
