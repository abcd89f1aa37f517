"""The matcher as a real process between a real Kafka topic and real ZeroMQ sockets.

Each test owns a fresh 4-partition topic, a temp state dir and free ports; the matcher is `python -m matcher`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq

from common.engine_feed import EngineFeed
from common.errors import ChainBroken, ConfigInvalid, Timeout
from common.wal import list_segments
from exchange.v1 import common_pb2, engine_pb2, order_pb2

from .conftest import (
    MatcherProcess,
    OrdersProducer,
    assert_fresh_engine_reproduces,
    collect,
    eventually,
    open_feed,
)
from .orderflow import OrderFlow

pytestmark = pytest.mark.integration


def assert_each_input_exactly_once(outputs: list[engine_pb2.EngineOutput], producer: OrdersProducer) -> None:
    """Every produced record became exactly one output (none lost, none doubled), seqs dense from 1."""
    assert [output.seq for output in outputs] == list(range(1, len(outputs) + 1))
    positions = [(o.input.kafka_partition, o.input.kafka_offset) for o in outputs]
    assert len(set(positions)) == len(positions), "an input was applied twice"
    assert set(positions) == set(producer.positions), "an input was lost"
    for output in outputs:
        position = (output.input.kafka_partition, output.input.kafka_offset)
        assert output.input.command.command_seq == producer.positions[position]


def test_orders_in_produce_verified_outputs_matching_a_fresh_engine(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """300 orders on 4 partitions give 300 chained outputs, with trades, equal to a fresh engine's replay."""
    flow = OrderFlow(seed=11)
    matcher.start()
    feed = open_feed(zmq_context, matcher)

    orders_producer.send(flow.batch(300))
    outputs = collect(feed, until_seq=300)
    feed.close()

    assert_each_input_exactly_once(outputs, orders_producer)
    assert sum(len(output.trades) for output in outputs) > 0
    assert_fresh_engine_reproduces(outputs, shard_id=3)
    eventually(lambda: matcher.metric("matcher_outputs_total") == 300)

    def every_partition_reports_a_drained_queue() -> bool:
        lags = [matcher.metric(f'matcher_consumer_lag_records{{partition="{p}"}}') for p in range(4)]
        return lags == [0.0, 0.0, 0.0, 0.0]

    eventually(every_partition_reports_a_drained_queue)
    assert matcher.signal(signal.SIGTERM) == 0


def tear_last_wal_record(wal_dir: Path) -> None:
    """Cut 5 bytes off the newest WAL segment, as a crash in the middle of the last write would."""
    _, last_segment = list_segments(wal_dir)[-1]
    with open(last_segment, "r+b") as file:
        file.truncate(last_segment.stat().st_size - 5)


def test_sigkill_mid_stream_then_restart_continues_the_chain(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """kill -9 while a backlog is being matched, and tear the last WAL record as a crash mid-write would.

    On restart the torn record is dropped, its input is read from Kafka again and re-matched to the very same
    output (determinism), and the chain goes on: no gap, no duplicate, no loss.
    """
    flow = OrderFlow(seed=22)
    total = 2_000
    orders_producer.send(flow.batch(total))
    matcher.start()
    feed = open_feed(zmq_context, matcher)
    before_kill = collect(feed, until_seq=400)

    assert matcher.signal(signal.SIGKILL) == -signal.SIGKILL
    tear_last_wal_record(Path(matcher.env["MATCHER_STATE_DIR"]) / "wal")
    matcher.start()
    after_restart = collect(feed, until_seq=total)
    feed.close()

    outputs = before_kill + after_restart
    assert_each_input_exactly_once(outputs, orders_producer)
    assert_fresh_engine_reproduces(outputs, shard_id=3)
    assert "recovered shard 3" in matcher.log_text()
    assert "WAL TORN TAIL" in matcher.log_text()
    assert matcher.signal(signal.SIGTERM) == 0


def test_restart_after_clean_stop_resumes_offsets_without_reapplying(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """SIGTERM, more orders, restart: only the new orders produce outputs and the chain links across the stop."""
    flow = OrderFlow(seed=33)
    matcher.start()
    orders_producer.send(flow.batch(120))
    feed = open_feed(zmq_context, matcher)
    first = collect(feed, until_seq=120)
    assert matcher.signal(signal.SIGTERM) == 0

    orders_producer.send(flow.batch(80))
    matcher.start()
    second = collect(feed, until_seq=200)
    feed.close()

    assert_each_input_exactly_once(first + second, orders_producer)
    assert_fresh_engine_reproduces(first + second, shard_id=3)


def test_restart_after_clean_stop_replays_nothing_and_reads_no_sealed_segment(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """With 32 KB WAL segments and a snapshot every 300 outputs (written by a forked child, loop paused only for the
    fork), a restart after SIGTERM replays 0 WAL records and scans no sealed segment (their index files suffice);
    the chain goes on, and a fresh subscriber still replays all of history, served from those sealed segments."""
    matcher.env["MATCHER_WAL_SEGMENT_BYTES"] = str(32 * 1024)
    flow = OrderFlow(seed=99)
    matcher.start()
    orders_producer.send(flow.batch(1_500))
    feed = open_feed(zmq_context, matcher)
    first = collect(feed, until_seq=1_500)
    eventually(lambda: (matcher.metric("matcher_snapshots_written_total") or 0) >= 3)
    assert (matcher.metric("matcher_snapshot_pause_seconds_count") or 0) >= 3
    assert matcher.signal(signal.SIGTERM) == 0
    sealed = len(list_segments(Path(matcher.env["MATCHER_STATE_DIR"]) / "wal")) - 1

    matcher.start()
    second_start_log = matcher.log_text().split(" recovering from ")[-1]
    orders_producer.send(flow.batch(100))
    second = collect(feed, until_seq=1_600)
    feed.close()
    fresh = open_feed(zmq_context, matcher)
    everything = collect(fresh, until_seq=1_600)
    fresh.close()

    assert sealed >= 3
    assert "replaying 0 WAL records" in second_start_log
    assert " scanned: " not in second_start_log
    assert matcher.metric("matcher_ready") == 1
    assert_each_input_exactly_once(first + second, orders_producer)
    assert [o.hash for o in everything] == [o.hash for o in first + second]
    assert matcher.signal(signal.SIGTERM) == 0


def test_late_subscriber_recovers_missed_outputs_from_replay(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """A subscriber that was not listening gets every output from the replay endpoint, then live ones."""
    flow = OrderFlow(seed=44)
    matcher.start()
    orders_producer.send(flow.batch(1_500))  # more than one replay batch (1000) and several snapshots
    probe = open_feed(zmq_context, matcher)
    collect(probe, until_seq=1_500)
    probe.close()

    late = open_feed(zmq_context, matcher)
    missed = collect(late, until_seq=1_500)
    orders_producer.send(flow.batch(10))
    live = collect(late, until_seq=1_510)
    late.close()

    assert late.replayed_outputs >= 1_500
    assert_each_input_exactly_once(missed + live, orders_producer)


def test_subscriber_resuming_mid_chain_with_a_wrong_hash_halts(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """A subscriber whose held hash does not match the matcher's history raises ChainBroken instead of skipping."""
    flow = OrderFlow(seed=55)
    matcher.start()
    orders_producer.send(flow.batch(50))
    probe = open_feed(zmq_context, matcher)
    outputs = collect(probe, until_seq=50)
    probe.close()
    resumed = open_feed(zmq_context, matcher, last_seq=20, last_hash=outputs[19].hash)
    assert [o.seq for o in collect(resumed, until_seq=50)] == list(range(21, 51))
    resumed.close()

    forged = open_feed(zmq_context, matcher, last_seq=20, last_hash=outputs[18].hash)
    with pytest.raises(ChainBroken, match="prev_hash"):
        collect(forged, until_seq=50)
    forged.close()


def test_subscriber_with_a_wrong_shard_id_halts_saying_so(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """A feed configured for shard 4 against shard 3's endpoints halts with ConfigInvalid naming the shard served,
    on that poll and every later one, instead of a misleading "history not available"."""
    matcher.start()
    orders_producer.send(OrderFlow(seed=88).batch(5))
    eventually(lambda: matcher.metric("matcher_outputs_total") == 5)
    feed = EngineFeed(
        zmq_context, sub_endpoint=matcher.pub_endpoint, replay_endpoint=matcher.replay_endpoint, shard_id=4,
    )
    for _ in range(2):
        with pytest.raises(ConfigInvalid, match="serves shard 3, not shard 4"):
            feed.poll(timeout_ms=10)
    feed.close()
    assert matcher.signal(signal.SIGTERM) == 0


def test_malformed_and_duplicate_inputs_are_skipped_and_the_next_is_processed(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """Garbage bytes and a redelivered command_seq on a partition produce no output; the next command does."""
    flow = OrderFlow(seed=66)
    first_symbol, first = flow.next()
    _, second = flow.next()
    matcher.start()
    feed = open_feed(zmq_context, matcher)

    orders_producer.send([(first_symbol, first)])
    orders_producer.send_raw(first_symbol, b"\x08\x96\x01\xff\xff not protobuf")
    orders_producer.send_raw(first_symbol, first.SerializeToString(), first.command_seq)  # redelivery
    orders_producer.send([(second.place.symbol or second.cancel.symbol, second)])
    outputs = collect(feed, until_seq=2)

    assert sorted(o.input.command.command_seq for o in outputs) == [1, 2]  # partitions interleave freely
    eventually(lambda: matcher.metric('matcher_inputs_rejected_total{reason="UNDECODABLE"}') == 1)
    eventually(lambda: matcher.metric("matcher_inputs_duplicate_total") == 1)
    assert "REJECTED INPUT" in matcher.log_text()
    assert matcher.process is not None
    assert matcher.process.poll() is None


def test_sigkill_during_a_subscribers_catch_up_loses_and_doubles_nothing(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """A late subscriber replays 3000 outputs in small fetches; the matcher is SIGKILLed in the middle of one
    poll, so a fetch times out after others in the same poll succeeded. The caller polls on through the Timeouts,
    the matcher restarts, and the caller has seen every seq exactly once (issue 12, defect 1)."""
    total = 3_000
    orders_producer.send(OrderFlow(seed=77).batch(total))
    matcher.start()
    eventually(lambda: matcher.metric("matcher_outputs_total") == total)
    feed = open_feed(zmq_context, matcher, replay_timeout_ms=200, replay_batch_max=5, work_budget_ms=60_000)
    seen = feed.poll(timeout_ms=0, outputs_max=20)  # the catch-up has started

    def kill_mid_poll() -> None:
        eventually(lambda: feed.replayed_outputs >= 500, poll_ms=1)
        matcher.signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_mid_poll)
    killer.start()
    interrupted = feed.poll(timeout_ms=0, outputs_max=total)  # the fetch in flight when the kill lands times out
    killer.join()
    seen.extend(interrupted)
    with pytest.raises(Timeout):
        feed.poll(timeout_ms=0)  # nothing verified is waiting now, so the error comes through
    matcher.start()
    deadline_ns = time.monotonic_ns() + 60_000_000_000
    while len(seen) < total and time.monotonic_ns() < deadline_ns:
        try:
            seen.extend(feed.poll(timeout_ms=50, outputs_max=200))
        except Timeout:
            continue  # the matcher is still restarting: poll again, nothing is lost
    feed.close()

    assert 480 <= len(interrupted) < total - 20, "the interrupted poll hands over what it had verified"
    assert [o.seq for o in seen] == list(range(1, total + 1))
    assert_each_input_exactly_once(seen, orders_producer)
    assert matcher.signal(signal.SIGTERM) == 0


def test_feed_uses_dedicated_subscriber_api(zmq_context: zmq.Context) -> None:
    """EngineFeed against an endpoint nobody serves raises a clear Timeout instead of hanging."""
    feed = EngineFeed(
        zmq_context, sub_endpoint="tcp://127.0.0.1:1", replay_endpoint="tcp://127.0.0.1:1", shard_id=0,
        replay_timeout_ms=100,
    )
    with pytest.raises(Timeout):
        feed.poll(timeout_ms=10)
    feed.close()


def test_two_shards_split_the_partitions_and_together_apply_each_input_once(
    matcher_factory: Callable[..., MatcherProcess], orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """Shard 1 owns partitions 0-1 and shard 2 owns 2-3: each applies only its partitions' inputs, each symbol lives
    in one shard, every input is applied exactly once overall, and each shard's chain replays hash for hash."""
    shards = {1: matcher_factory(shard_id=1, partitions="0,1"), 2: matcher_factory(shard_id=2, partitions="2,3")}
    owned = {1: {0, 1}, 2: {2, 3}}
    for shard in shards.values():
        shard.start()
    feeds = {shard_id: open_feed(zmq_context, shard) for shard_id, shard in shards.items()}

    orders_producer.send(OrderFlow(seed=23).batch(400))
    expected = {
        shard_id: sum(1 for partition, _ in orders_producer.positions if partition in partitions)
        for shard_id, partitions in owned.items()
    }
    outputs = {shard_id: collect(feeds[shard_id], until_seq=expected[shard_id]) for shard_id in shards}
    for feed in feeds.values():
        feed.close()

    assert sum(expected.values()) == 400
    assert all(count > 0 for count in expected.values()), f"the symbols' keys must reach both shards: {expected}"
    for shard_id, shard_outputs in outputs.items():
        assert [output.seq for output in shard_outputs] == list(range(1, expected[shard_id] + 1))
        assert {output.input.kafka_partition for output in shard_outputs} <= owned[shard_id]
        assert_fresh_engine_reproduces(shard_outputs, shard_id=shard_id)
    symbols = {shard_id: {o.input.command.place.symbol for o in shard_outputs if o.input.command.HasField("place")}
               for shard_id, shard_outputs in outputs.items()}
    assert not symbols[1] & symbols[2], "a symbol's book must live in exactly one shard"
    positions = [(o.input.kafka_partition, o.input.kafka_offset) for shard in outputs.values() for o in shard]
    assert sorted(positions) == sorted(orders_producer.positions), "each input exactly once across the shards"
    for shard in shards.values():
        assert shard.signal(signal.SIGTERM) == 0


def _btc_order(seq: int, side: int, price_units: int, qty_units: int, **fields: object) -> order_pb2.OrderCommand:
    values: dict[str, object] = {
        "order_id": seq, "user_id": 1_000 + seq, "symbol": "BTC_USDT", "side": side,
        "order_type": common_pb2.ORDER_TYPE_LIMIT, "time_in_force": common_pb2.TIME_IN_FORCE_GTC,
        "price_units": price_units, "qty_units": qty_units, "ts_event_ns": seq,
    }  # fmt: skip
    values.update(fields)
    return order_pb2.OrderCommand(command_seq=seq, place=order_pb2.InternalOrder(**values))  # type: ignore[arg-type]


def test_poison_orders_get_rejections_the_service_keeps_running_and_restarts_cleanly(
    matcher: MatcherProcess, orders_producer: OrdersProducer, zmq_context: zmq.Context
) -> None:
    """Issue 7 items 9 and 10 against real Kafka and the real process: the overflow sequence (two buys of 1 BTC at
    9223372036854770000, then a sell of 2 BTC at 0.01) and orders with an unknown enum value or no symbol each get
    a REJECTED update, a good order after them trades, the process stays up; after a SIGKILL the restart replays
    the WAL (re-executing the poison records) without crashing, a redelivered poison order gets no second REJECTED,
    and the next order is served."""
    btc, huge_price = 10**8, 9_223_372_036_854_770_000
    buy, sell = common_pb2.SIDE_BUY, common_pb2.SIDE_SELL
    poison = [
        _btc_order(1, buy, huge_price, btc),
        _btc_order(2, buy, huge_price, btc),
        _btc_order(3, sell, 10_000, 2 * btc),  # 0.01 USDT: before the maxima, this sell overflowed int64
        _btc_order(4, 9, 45_000_000_000, btc),  # side 9: a value this matcher does not know
        _btc_order(5, buy, 45_000_000_000, btc, symbol=""),
        _btc_order(6, buy, 1_000_000, btc),  # good: takes 1 BTC of the resting sell at 0.01
    ]
    matcher.start()
    feed = open_feed(zmq_context, matcher)

    orders_producer.send([("BTC_USDT", command) for command in poison])
    outputs = collect(feed, until_seq=6)

    outcomes = [(o.order_updates[0].order_id, o.order_updates[0].status, o.order_updates[0].reason) for o in outputs]
    rejected = common_pb2.ORDER_STATUS_REJECTED
    assert outcomes == [
        (1, rejected, common_pb2.REJECT_REASON_MATCHER_OUT_OF_RANGE),
        (2, rejected, common_pb2.REJECT_REASON_MATCHER_OUT_OF_RANGE),
        (3, common_pb2.ORDER_STATUS_NEW, common_pb2.REJECT_REASON_UNSPECIFIED),
        (4, rejected, common_pb2.REJECT_REASON_MATCHER_INVALID_FIELD),
        (5, rejected, common_pb2.REJECT_REASON_MATCHER_INVALID_FIELD),
        (6, common_pb2.ORDER_STATUS_FILLED, common_pb2.REJECT_REASON_UNSPECIFIED),
    ]
    assert [(t.qty_units, t.quote_qty_units) for t in outputs[5].trades] == [(btc, 10_000)]
    assert matcher.process is not None
    assert matcher.process.poll() is None
    assert matcher.signal(signal.SIGKILL) != 0

    matcher.start()  # recovery re-executes all six records from the WAL (no snapshot after a SIGKILL)
    redelivered = order_pb2.OrderCommand(command_seq=7, place=poison[3].place)  # the side-9 order, new command_seq
    orders_producer.send([("BTC_USDT", redelivered), ("BTC_USDT", _btc_order(8, sell, 10_000, btc))])
    after = collect(feed, until_seq=8)
    feed.close()

    assert "recovered shard 3: snapshot lsn 0, 6 outputs replayed" in matcher.log_text()
    assert list(after[-2].order_updates) == []
    assert [(r.order_id, r.reason) for r in after[-2].rejections] == [(4, common_pb2.REJECT_REASON_DUPLICATE_ORDER_ID)]
    assert after[-1].order_updates[0].status == common_pb2.ORDER_STATUS_NEW
    assert_fresh_engine_reproduces(outputs + after[-2:], shard_id=3)
    assert matcher.process.poll() is None
    assert matcher.signal(signal.SIGTERM) == 0
