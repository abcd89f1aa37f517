"""The matcher service loop (imperative shell around matcher.engine.Engine).

One thread, one loop, at its own pace:

    poll a bounded batch from Kafka `orders` (owned partitions, manually assigned at the offsets in our state)
      -> decode each record (garbage: log, count, WAL-record it, skip; never crash on input)
      -> skip redeliveries (command_seq at or below the last one applied from that partition)
      -> apply to the core, seal the output into the hash chain
      -> append the batch's records to the WAL with ONE fsync (group commit)
      -> only then publish the outputs on ZeroMQ PUB
    take a snapshot every `snapshot_outputs` outputs (a forked child writes it: common/snapshot_writer.py; the
    WAL is trimmed once it is durable), and one in this thread at a clean stop.

Replay requests are answered by the replay thread (matcher/replay.py), never by this loop, within a duty cycle.

Nothing becomes visible before it is durable, so a crash at any point loses nothing that was published: on
restart the snapshot + WAL give the same books, the same chain head and the Kafka offsets to resume from;
outputs that were durable but not yet published are fetched by subscribers from the replay endpoint.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import zmq
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from common import tracing
from common.engine_chain import Chain
from common.engine_feed import FEED_OUTPUTS_PER_MESSAGE_MAX, encode_feed_message, feed_topic
from common.kafka import assign_from
from common.snapshot import oldest_kept_snapshot_lsn, write_snapshot
from common.snapshot_writer import ForkedSnapshotWriter
from matcher.codec import decode_command, parse_order_command
from matcher.config import MatcherConfig
from matcher.engine import Engine
from matcher.errors import InputRejected
from matcher.execution import execute
from matcher.metrics import MatcherMetrics
from matcher.replay import ReplayServer, output_record, rejected_record
from matcher.state import InputPositions, Recovered, encode_state

PUB_SNDHWM = 200  # messages of up to FEED_OUTPUTS_PER_MESSAGE_MAX outputs: ~100k outputs per slow subscriber
PUB_LINGER_MS = 1_000

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BatchOutcome:
    """What one batch produced: WAL payloads (in order) and, among them, the outputs to publish."""

    records: list[bytes] = field(default_factory=list)
    outputs: list[tuple[int, int, bytes]] = field(default_factory=list)  # (seq, index in records, bytes)
    trades: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # commands read per kind (metrics once per batch)


class MatcherService:
    """Owns the consumer, the engine, the WAL, the chain and the sockets; `run()` until `stop()`."""

    def __init__(
        self,
        *,
        config: MatcherConfig,
        engine: Engine,
        recovered: Recovered,
        consumer: Consumer,
        context: zmq.Context,
        metrics: MatcherMetrics,
    ) -> None:
        self.config = config
        self.engine = engine
        self.wal = recovered.wal
        self.chain: Chain = recovered.chain
        self.positions: InputPositions = recovered.positions
        self.store = recovered.store
        self.consumer = consumer
        self.metrics = metrics
        self.stop_requested = False
        self.outputs_since_snapshot = recovered.replayed_outputs
        self.publisher = context.socket(zmq.PUB)
        self.publisher.setsockopt(zmq.SNDHWM, PUB_SNDHWM)
        self.publisher.setsockopt(zmq.LINGER, PUB_LINGER_MS)
        self.publisher.bind(config.pub_endpoint)
        self.snapshots = ForkedSnapshotWriter(config.snapshot_dir)
        self.replay = ReplayServer(
            context,
            config.replay_endpoint,
            shard_id=config.shard_id,
            store=self.store,
            duty_percent=config.replay_duty_percent,
            on_turn=self._replay_turn,
        )
        self.topic = feed_topic(config.shard_id)
        metrics.last_seq.set(self.chain.last_seq)

    def start_consuming(self) -> None:
        """Assign the owned partitions at the offsets our own state recorded."""
        owned = {p: self.positions.next_offsets.get(p, -1) for p in self.config.partitions}
        assign_from(self.consumer, self.config.topic, owned)
        log.info("consuming %s from %s", self.config.topic, owned)

    def stop(self) -> None:
        """Ask the loop to finish the current batch and return (safe from a signal handler)."""
        self.stop_requested = True

    def run(self) -> None:
        """Loop until stop(): batch, make durable, publish, serve replays, snapshot when due."""
        self.start_consuming()
        self.replay.start()
        timeout_s = self.config.poll_timeout_ms / 1_000
        while not self.stop_requested:
            self.replay.check()
            messages = self.consumer.consume(num_messages=self.config.batch_records_max, timeout=timeout_s)
            if messages:
                self.replay.loop_busy()
                self.process_batch(messages)
            else:
                self._record_lag()  # keep the queue-depth gauge fresh while idle (cached watermarks: no broker call)
            self._snapshot_turn()
        self._snapshot_finished(self.snapshots.wait())
        self.take_snapshot()

    def process_batch(self, messages: list[Message]) -> None:
        """Apply one batch, append it to the WAL (one fsync), then publish its outputs."""
        self.metrics.batch_records.observe(len(messages))
        outcome = BatchOutcome()
        for message in messages:
            error = message.error()
            if error is not None:
                self._consumer_error(error)
                continue
            self._apply_one(message, outcome)
        for kind, count in outcome.kinds.items():
            self.metrics.orders_in.labels(kind).inc(count)
        if not outcome.records:
            return
        started_ns = time.monotonic_ns()
        last_lsn = self.wal.append(outcome.records)
        self.metrics.wal_fsync_seconds.observe((time.monotonic_ns() - started_ns) / 1e9)
        first_lsn = last_lsn - len(outcome.records) + 1
        # Replay knows the batch before anyone can see it live, so a subscriber that lost one frame of this batch
        # and got the next can fetch the lost one at once.
        self.store.remember_batch([(seq, first_lsn + index, data) for seq, index, data in outcome.outputs])
        outputs = [data for _, _, data in outcome.outputs]
        for start in range(0, len(outputs), FEED_OUTPUTS_PER_MESSAGE_MAX):
            chunk = outputs[start : start + FEED_OUTPUTS_PER_MESSAGE_MAX]
            self.publisher.send(encode_feed_message(self.topic, chunk), copy=True)  # one frame, copied: cheapest
        self.outputs_since_snapshot += len(outcome.outputs)
        self.metrics.outputs_out.inc(len(outcome.outputs))
        self.metrics.trades_out.inc(outcome.trades)
        self.metrics.last_seq.set(self.chain.last_seq)
        self._record_lag()
        log.info("batch published", extra={  # one line per batch: the seq range to find one output by
            "shard": self.config.shard_id, "seq_first": outcome.outputs[0][0] if outcome.outputs else 0,
            "seq_last": self.chain.last_seq, "outputs": len(outcome.outputs), "trades": outcome.trades,
            "inputs": len(messages), "lsn_last": last_lsn})  # fmt: skip

    def _replay_turn(self, answered: int, busy_ns: int) -> None:
        """Metrics of one replay turn (called from the replay thread; prometheus_client is thread-safe)."""
        self.metrics.replay_requests.inc(answered)
        self.metrics.replay_busy_seconds.inc(busy_ns / 1e9)

    def _record_lag(self) -> None:
        """Records still queued in Kafka per owned partition (high watermark from the last fetch, no broker call)."""
        for partition in self.config.partitions:
            low, high = self.consumer.get_watermark_offsets(TopicPartition(self.config.topic, partition), cached=True)
            if high < 0:
                continue  # no fetch answered for this partition yet
            next_offset = self.positions.next_offsets.get(partition, -1)
            start = next_offset if next_offset >= 0 else low  # nothing consumed yet: everything retained is queued
            self.metrics.consumer_lag_records.labels(str(partition)).set(max(high - start, 0))

    def _apply_one(self, message: Message, outcome: BatchOutcome) -> None:
        partition, offset, raw = message.partition(), message.offset(), message.value() or b""
        self.positions.consumed(partition, offset)
        try:
            command_message = parse_order_command(raw)
            command = decode_command(command_message)
        except InputRejected as rejection:
            log.warning(
                "REJECTED INPUT %s[%d]@%d: %s (%s)", message.topic(), partition, offset, rejection, rejection.reason
            )
            self.metrics.inputs_rejected.labels(rejection.reason).inc()
            outcome.records.append(rejected_record(partition, offset, rejection.reason, raw))
            return
        outcome.kinds[command_message.WhichOneof("command")] += 1
        if not self.positions.is_new(partition, command_message.command_seq):
            self.metrics.inputs_duplicate.inc()
            return
        # Trace context is read only when spans are recorded: the no-op path costs one call and one branch.
        traceparent = tracing.command_traceparent(command_message) if tracing.enabled() else ""
        with tracing.child_span("matcher.command", traceparent, command_seq=command_message.command_seq,
                                kafka_partition=partition, kafka_offset=offset):  # fmt: skip
            executed = execute(self.engine, command, command_message, partition=partition, offset=offset)
        if executed.failed:
            self.metrics.commands_failed.inc()
        seq, _, data = self.chain.seal_serialized(executed.output)  # serialized once, hashed from those bytes
        outcome.outputs.append((seq, len(outcome.records), data))
        outcome.records.append(output_record(seq, data))
        outcome.trades += executed.trades
        if log.isEnabledFor(logging.DEBUG):  # per command: DEBUG only, the ids built only then
            output = executed.output
            log.debug("command applied", extra={
                "shard": self.config.shard_id, "seq": seq, "command_seq": command_message.command_seq,
                "order_id": getattr(command_message, command_message.WhichOneof("command")).order_id,
                "trade_ids": [trade.trade_id for trade in output.trades], "kafka_partition": partition,
                "kafka_offset": offset,
                "trace_id": tracing.trace_id_of(tracing.command_traceparent(command_message))})  # fmt: skip

    def _consumer_error(self, error: KafkaError) -> None:
        # An offset reset means inputs we never applied are gone from the topic: stop, an operator must decide.
        if error.fatal() or error.code() == KafkaError._AUTO_OFFSET_RESET:
            raise KafkaException(error)
        log.warning("kafka consumer: %s", error)

    def _snapshot_turn(self) -> None:
        """Learn whether the snapshot child finished; start one (a fork: the loop's only pause) when due."""
        self._snapshot_finished(self.snapshots.poll())
        if self.outputs_since_snapshot < self.config.snapshot_outputs:
            return
        lsn = self.wal.last_lsn
        started_ns = time.monotonic_ns()
        if self.snapshots.start(lsn, lambda: self._state_payload(lsn)):
            self.metrics.snapshot_pause_seconds.observe((time.monotonic_ns() - started_ns) / 1e9)
            self.outputs_since_snapshot = 0

    def _state_payload(self, lsn: int) -> bytes:
        return encode_state(
            lsn=lsn, chain=self.chain, positions=self.positions, engine=self.engine, replay_index=list(self.store.index)
        )

    def _snapshot_finished(self, lsn: int | None) -> None:
        if lsn is not None:
            self.metrics.snapshots_written.inc()
            self._trim_wal(lsn)

    def take_snapshot(self) -> None:
        """Write the state as of the last durable WAL record in this thread (at a clean stop), then trim the WAL."""
        lsn = self.wal.last_lsn
        started_ns = time.monotonic_ns()
        write_snapshot(self.config.snapshot_dir, lsn, self._state_payload(lsn))
        self.metrics.snapshot_pause_seconds.observe((time.monotonic_ns() - started_ns) / 1e9)
        self.outputs_since_snapshot = 0
        self._snapshot_finished(lsn)

    def _trim_wal(self, lsn: int) -> None:
        """After the snapshot at `lsn` is durable: delete WAL segments nobody needs any more."""
        oldest = oldest_kept_snapshot_lsn(self.config.snapshot_dir) or 0
        keep_from_lsn = min(oldest + 1, max(1, lsn - self.config.wal_retain_records))
        if self.wal.truncate_before(keep_from_lsn):
            self.store.forget_before_lsn(self.wal.first_lsn)
        log.info("snapshot at lsn %d (seq %d)", lsn, self.chain.last_seq)

    def close(self) -> None:
        """Release sockets, the consumer and the WAL (after run() returned)."""
        self.consumer.close()
        self.replay.close()
        self.publisher.close()
        self.wal.close()
