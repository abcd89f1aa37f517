"""The settlement service loop (imperative shell around settlement.projection).

One thread, one loop, at its own pace:

    poll every configured matcher shard's EngineFeed (verified, dense, gap-filled from replay; ChainBroken halts)
    consume a bounded batch of Kafka `balance.events` (consumer group shared by every instance)
      -> decode each event (malformed: recorded in `malformed_inputs`, counted, logged, skipped; never a crash)
      -> project outputs and events to rows (pure), resolving makers' creation times first
      -> write every row (UNLOGGED batches, bounded in flight, retried with backoff; never dropped)
      -> only then write chain_state (per shard (seq, hash), per partition the next offset)
      -> only then commit the Kafka offsets
    update the lag gauges.

Nothing is marked done before its rows are acknowledged, so a crash at any point loses nothing: on restart each
shard's feed resumes after the `(seq, hash)` in chain_state (earlier outputs come from the replay endpoint, every
link verified against the hash held), and each `balance.events` partition resumes at the offset chain_state records
for it (the group's commit only where there is none). Rows written twice are the same cells with the same
timestamps (idempotent), so nothing is doubled either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import zmq
from cassandra.cluster import Session
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from common import tracing
from common.engine_feed import EngineFeed
from common.errors import Timeout
from common.kafka import record_time_ns
from common.markets import Market
from exchange.v1 import engine_pb2
from settlement import keys
from settlement.codec import decode_balance_event
from settlement.config import SettlementConfig
from settlement.errors import InputMalformed
from settlement.metrics import SettlementMetrics
from settlement.projection import makers_to_resolve, project_balance_event, project_output
from settlement.rows import Row
from settlement.state import CreatedMemory, chain_row, load_chain_head, load_offsets, offset_row, read_created
from settlement.writer import CqlWriter, call_with_retries

LAG_CHECK_INTERVAL_NS = 1_000_000_000
FEED_IDLE_CHECK_MS = 200

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Turn:
    """The inputs of one loop turn."""

    outputs: dict[int, list[engine_pb2.EngineOutput]] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(outputs) for outputs in self.outputs.values()) + len(self.messages)


class SettlementService:
    """Owns the feeds, the consumer, the writer and the memory of open orders; `run()` until `stop()`."""

    def __init__(
        self, *, config: SettlementConfig, session: Session, writer: CqlWriter, consumer: Consumer | None,
        context: zmq.Context, markets: Mapping[str, Market], metrics: SettlementMetrics,
    ) -> None:
        self.config = config
        self.session = session
        self.writer = writer
        self.consumer = consumer
        self.markets = markets
        self.metrics = metrics
        self.created = CreatedMemory()
        self.stop_requested = False
        self.last_lag_check_ns = 0
        self.feeds: dict[int, EngineFeed] = {}
        self.start_offsets: dict[int, int] = {}  # partition -> where its assignment started (chain_state)
        self.persisted_seq: dict[int, int] = {}
        for shard in config.shards:
            last_seq, last_hash = call_with_retries(
                lambda shard_id=shard.shard_id: load_chain_head(session, shard_id), what="chain_state read",
                deadline_s=config.retry_deadline_s)  # type: ignore[misc]
            self.feeds[shard.shard_id] = EngineFeed(
                context, sub_endpoint=shard.pub_endpoint, replay_endpoint=shard.replay_endpoint,
                shard_id=shard.shard_id, last_seq=last_seq, last_hash=last_hash, idle_check_ms=FEED_IDLE_CHECK_MS,
            )
            metrics.shard_persisted_seq.labels(str(shard.shard_id)).set(last_seq)
            self.persisted_seq[shard.shard_id] = last_seq
            log.info("shard %d: resuming after seq %d (hash %s..)", shard.shard_id, last_seq, last_hash.hex()[:16])

    def stop(self) -> None:
        """Ask the loop to finish the current turn and return (safe from a signal handler)."""
        self.stop_requested = True

    def run(self) -> None:
        """Loop until stop(): collect a bounded turn of inputs, persist it, then record the positions."""
        if self.consumer is not None:
            self.consumer.subscribe([self.config.balance_topic], on_assign=self._start_assigned,
                                    on_revoke=self._forget_revoked)
        while not self.stop_requested:
            turn = self.collect()
            if len(turn):
                self.persist(turn)
            self._record_lag()

    def collect(self) -> Turn:
        """Outputs of every shard and a batch of balance events, bounded by batch_inputs_max overall."""
        turn = Turn()
        budget = self.config.batch_inputs_max
        shard_wait_ms = self.config.poll_timeout_ms if self.consumer is None else 0
        for shard_id, feed in self.feeds.items():
            if budget <= 0:
                break
            try:
                outputs = feed.poll(shard_wait_ms // max(len(self.feeds), 1), outputs_max=budget)
            except Timeout as error:  # the shard's replay endpoint is silent: nothing is lost, keep going
                log.warning("shard %d: %s", shard_id, error)
                continue
            if outputs:
                turn.outputs[shard_id] = outputs
                budget -= len(outputs)
        if self.consumer is not None and budget > 0:
            timeout_s = 0 if len(turn) else self.config.poll_timeout_ms / 1_000
            turn.messages = self.consumer.consume(num_messages=budget, timeout=timeout_s)
        return turn

    def persist(self, turn: Turn) -> None:
        """Write the rows of every input of the turn, then chain_state, then commit the Kafka offsets."""
        started_ns = time.monotonic_ns()
        rows: list[Row] = []
        positions: dict[int, int] = {}  # partition -> next offset
        for message in turn.messages:
            error = message.error()
            if error is not None:
                self._consumer_error(error)
                continue
            positions[message.partition()] = message.offset() + 1
            rows.extend(self._event_rows(message))
        for outputs in turn.outputs.values():
            rows.extend(self._output_rows(outputs))
        stats = self.writer.write(rows)
        state_rows = [chain_row(shard_id, outputs[-1].seq, outputs[-1].hash, outputs[-1].ts_event_ns)
                      for shard_id, outputs in turn.outputs.items()]
        state_rows += [offset_row(self.config.balance_topic, partition, offset)
                       for partition, offset in positions.items()]
        state_stats = self.writer.write(state_rows)
        if positions:
            self._commit(positions)
        self.metrics.write_seconds.observe((time.monotonic_ns() - started_ns) / 1e9)
        self.metrics.write_retries.inc(stats.retries + state_stats.retries)
        for shard_id, outputs in turn.outputs.items():
            self.metrics.outputs_persisted.labels(str(shard_id)).inc(len(outputs))
            self.metrics.shard_persisted_seq.labels(str(shard_id)).set(outputs[-1].seq)
            self.persisted_seq[shard_id] = outputs[-1].seq
        self.metrics.events_persisted.inc(sum(1 for message in turn.messages if message.error() is None))
        if rows:  # one line per turn: the seq range per shard and the Kafka positions, to find one input by
            log.info("turn persisted", extra={
                "shards": {shard_id: [outputs[0].seq, outputs[-1].seq] for shard_id, outputs in turn.outputs.items()},
                "kafka_next_offsets": positions, "events": len(turn.messages), "rows": len(rows),
                "write_ms": (time.monotonic_ns() - started_ns) // 1_000_000})  # fmt: skip

    def _event_rows(self, message: Message) -> list[Row]:
        raw = message.value() or b""
        try:
            event = decode_balance_event(raw)
        except InputMalformed as malformed:
            return [self._malformed(message, malformed, raw)]
        with tracing.child_span("settlement.event", event.traceparent, event_id=event.event_id):
            rows = project_balance_event(event, emitted_ns=record_time_ns(message))
        if log.isEnabledFor(logging.DEBUG):  # per event: DEBUG only
            log.debug("event projected", extra={
                "event_id": event.event_id, "user_id": event.user_id, "order_id": event.order_id,
                "trade_id": event.trade_id, "request_id": event.request_id, "kafka_partition": message.partition(),
                "kafka_offset": message.offset(), "trace_id": tracing.trace_id_of(event.traceparent)})  # fmt: skip
        return rows

    def _malformed(self, message: Message, malformed: InputMalformed, raw: bytes) -> Row:
        source = f"kafka:{message.topic()}:{message.partition()}"
        log.warning("MALFORMED INPUT %s@%d: %s (%s)", source, message.offset(), malformed, malformed.reason)
        self.metrics.malformed_inputs.labels(source, malformed.reason).inc()
        _, timestamp_ms = message.timestamp()
        return Row("malformed_inputs", {
            "source": source, "position_block": keys.id_block(message.offset()), "position": message.offset(),
            "reason": malformed.reason, "detail": str(malformed), "payload": raw, "kafka_timestamp_ms": timestamp_ms,
        }, message.offset() + 1)

    def _output_rows(self, outputs: list[engine_pb2.EngineOutput]) -> list[Row]:
        """Rows of a shard's outputs in seq order, with the makers' creation times resolved first."""
        placed_here = {output.input.command.place.order_id for output in outputs
                       if output.input.command.WhichOneof("command") == "place"}
        unknown = {order_id for output in outputs for order_id in makers_to_resolve(output)
                   if order_id not in placed_here and self.created.get(order_id) is None}
        looked_up: dict[int, int] = {}
        if unknown:
            looked_up = call_with_retries(lambda: read_created(self.session, unknown), what="orders read",
                                          deadline_s=self.config.retry_deadline_s)  # type: ignore[assignment]
        rows: list[Row] = []
        for output in outputs:
            created = {order_id: looked_up.get(order_id) or self.created.get(order_id)
                       for order_id in makers_to_resolve(output)}
            traceparent = tracing.output_traceparent(output) if tracing.enabled() else ""
            with tracing.child_span("settlement.output", traceparent, shard=output.shard_id, seq=output.seq):
                projected = project_output(output, markets=self.markets,
                                           created_ns={k: v for k, v in created.items() if v is not None})
            if log.isEnabledFor(logging.DEBUG):  # per output: DEBUG only
                log.debug("output projected", extra={
                    "shard": output.shard_id, "seq": output.seq, "command_seq": output.input.command.command_seq,
                    "trade_ids": [trade.trade_id for trade in output.trades],
                    "order_ids": [update.order_id for update in output.order_updates],
                    "trace_id": tracing.trace_id_of(tracing.output_traceparent(output))})  # fmt: skip
            if projected.created_unknown:
                log.warning("shard %d seq %d: creation time of orders %s unknown; their update time is used",
                            output.shard_id, output.seq, projected.created_unknown)
            for order_id, created_ns in projected.created.items():
                self.created.remember(order_id, created_ns)
            self.created.forget(projected.finished)
            rows.extend(projected.rows)
        return rows

    def _start_assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each partition the group assigns after the last event whose rows this keyspace holds (chain_state),
        so a lost, expired or reset group commit can neither skip events nor replay the whole topic."""
        topic = self.config.balance_topic
        recorded: dict[int, int] = call_with_retries(
            lambda: load_offsets(self.session, topic, [tp.partition for tp in partitions]),
            what="chain_state read", deadline_s=self.config.retry_deadline_s)  # type: ignore[assignment]
        for tp in partitions:
            if tp.partition in recorded:
                tp.offset = recorded[tp.partition]
        self.start_offsets = recorded  # the lag gauge's "ours" until a partition's position is known
        log.info("assigned %s: resuming at %s (chain_state; else the group's commit)", topic,
                 {tp.partition: recorded.get(tp.partition, "commit") for tp in partitions})
        consumer.assign(partitions)

    def _forget_revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Drop the lag gauge of each partition the group takes away (revoked, or lost: on_lost is unset, so
        confluent_kafka calls this for both), or the last value would be exported for ever, by every instance that
        once owned the partition. The library unassigns them after this returns (we call no unassign)."""
        for tp in partitions:
            self.metrics.kafka_lag_records.remove(str(tp.partition))
        if partitions:
            log.info("revoked %s partitions %s", self.config.balance_topic, sorted(tp.partition for tp in partitions))

    def _commit(self, positions: dict[int, int]) -> None:
        """Commit the group's offsets, asynchronously and only as a courtesy (lag tools, and the start of a partition
        chain_state has no record of): Settlement resumes from chain_state, so a commit lost to a rebalance or to a
        broker outage changes nothing, and waiting for one would stall the loop while the broker is away."""
        assert self.consumer is not None
        offsets = [TopicPartition(self.config.balance_topic, partition, offset)
                   for partition, offset in sorted(positions.items())]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as error:  # refused at once (no group member now, ...): harmless, see above
            if error.args and error.args[0].fatal():
                raise
            log.warning("kafka commit skipped: %s", error)

    def _consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        log.warning("kafka consumer: %s", error)

    def _record_lag(self) -> None:
        """Lag gauges, at most once a second: the matcher's last seq minus ours; Kafka high watermark minus ours."""
        now_ns = time.monotonic_ns()
        if now_ns - self.last_lag_check_ns < LAG_CHECK_INTERVAL_NS:
            return
        self.last_lag_check_ns = now_ns
        for shard_id, feed in self.feeds.items():
            # The head the feed knows of: the server's last seq from its last check, or the newest live message.
            published = max(feed.goal_seq, feed.live[-1].seq if feed.live else 0, feed.last_seq)
            persisted = self.persisted_seq.get(shard_id, 0)
            self.metrics.shard_lag_outputs.labels(str(shard_id)).set(max(published - persisted, 0))
        if self.consumer is None:
            return
        for assigned in self.consumer.assignment():
            low, high = self.consumer.get_watermark_offsets(assigned, cached=True)
            if high < 0:
                continue
            [position] = self.consumer.position([assigned])  # unknown until a message of it was read
            start = position.offset if position.offset >= 0 else self.start_offsets.get(assigned.partition, low)
            self.metrics.kafka_lag_records.labels(str(assigned.partition)).set(max(high - start, 0))

    def close(self) -> None:
        """Release the feeds and the consumer (after run() returned)."""
        for feed in self.feeds.values():
            feed.close()
        if self.consumer is not None:
            self.consumer.close()
