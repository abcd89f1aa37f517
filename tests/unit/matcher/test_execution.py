"""The last-resort guard (matcher/execution.py): a command the core raises on becomes a refusal, deterministically.

The core is made to fail with a book that raises on one client order id (a stand-in for a bug: the real core has
no input that raises, which the property tests check); everything else is the real engine, codec, chain and WAL.
"""

from __future__ import annotations

from pathlib import Path

from common.engine_chain import Chain
from common.markets import Market, load_catalog
from common.wal import Wal
from exchange.v1 import common_pb2, engine_pb2, order_pb2
from matcher.book import Book
from matcher.codec import decode_command
from matcher.commands import CancelOrder, PlaceOrder
from matcher.engine import Engine
from matcher.events import EngineResult
from matcher.execution import Executed, execute
from matcher.replay import SEQ, output_record
from matcher.state import recover

POISON = "boom"


class BuggyBook(Book):
    """A fast book with a planted bug: it raises on the client order id POISON, after it has changed itself."""

    def place(self, cmd: PlaceOrder) -> EngineResult:
        result = super().place(cmd)
        if cmd.client_order_id == POISON:
            raise OverflowError("planted bug")
        return result

    def cancel(self, cmd: CancelOrder) -> EngineResult:
        if cmd.client_order_id == POISON:
            raise OverflowError("planted bug")
        return super().cancel(cmd)


def buggy_engine() -> Engine:
    def factory(market: Market) -> Book:
        return BuggyBook(market)

    return Engine(load_catalog().markets.values(), book_factory=factory)


def place(seq: int, *, client_order_id: str = "") -> order_pb2.OrderCommand:
    return order_pb2.OrderCommand(
        command_seq=seq,
        place=order_pb2.InternalOrder(
            order_id=seq, user_id=1_000 + seq, client_order_id=client_order_id, symbol="BTC_USDT",
            side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=common_pb2.TIME_IN_FORCE_GTC, price_units=45_000_000_000, qty_units=10_000, ts_event_ns=seq,
        ),
    )  # fmt: skip


def output_of(executed: Executed) -> engine_pb2.EngineOutput:
    return engine_pb2.EngineOutput.FromString(executed.body)


def test_order_the_core_raises_on_is_rejected_internal_error_and_the_next_one_is_served() -> None:
    """The failing order gets REJECTED(MATCHER_INTERNAL_ERROR) (funds released), flagged for the metric, and the
    engine goes on serving the next order."""
    engine = buggy_engine()
    message = place(1, client_order_id=POISON)

    failed = execute(engine, decode_command(message), message, partition=0, offset=0)
    served = execute(engine, decode_command(place(2)), place(2), partition=0, offset=1)

    assert failed.failed
    assert [(u.order_id, u.status, u.reason) for u in output_of(failed).order_updates] == [
        (1, common_pb2.ORDER_STATUS_REJECTED, common_pb2.REJECT_REASON_MATCHER_INTERNAL_ERROR)
    ]
    assert not served.failed
    assert output_of(served).order_updates[0].status == common_pb2.ORDER_STATUS_NEW


def test_cancel_the_core_raises_on_becomes_a_command_rejected() -> None:
    """A failing cancel has no order of its own to end: it becomes a CommandRejected(MATCHER_INTERNAL_ERROR)."""
    engine = buggy_engine()
    message = order_pb2.OrderCommand(
        command_seq=1, cancel=order_pb2.InternalCancel(user_id=5, symbol="BTC_USDT", client_order_id=POISON)
    )

    executed = execute(engine, decode_command(message), message, partition=0, offset=0)

    assert executed.failed
    assert list(output_of(executed).order_updates) == []
    assert [(r.user_id, r.reason) for r in output_of(executed).rejections] == [
        (5, common_pb2.REJECT_REASON_MATCHER_INTERNAL_ERROR)
    ]


def test_recovery_replays_a_failed_command_to_the_same_refusal_without_crashing(tmp_path: Path) -> None:
    """No crash loop: the WAL holds the refusal of the failing command; recovery re-executes it through the same
    guard, gets byte-identical outputs (recovery asserts that) and the same books, and the service can go on."""
    engine, chain, wal = buggy_engine(), Chain(shard_id=0), Wal.open(tmp_path / "wal")
    messages = [place(1), place(2, client_order_id=POISON), place(3)]
    records = []
    for offset, message in enumerate(messages):
        executed = execute(engine, decode_command(message), message, partition=0, offset=offset)
        seq, _, data = chain.seal_body(executed.body)
        records.append(output_record(seq, data))
    wal.append(records)
    wal.close()

    restarted = buggy_engine()
    recovered = recover(
        engine=restarted, wal_dir=tmp_path / "wal", snapshot_dir=tmp_path / "snapshots", shard_id=0,
        partitions=(0,), segment_bytes_max=1 << 20,
    )  # fmt: skip

    assert (recovered.chain.last_seq, recovered.chain.last_hash) == (3, chain.last_hash)
    assert recovered.replayed_outputs == 3
    assert restarted.snapshot() == engine.snapshot()
    stored = engine_pb2.EngineOutput()
    stored.ParseFromString(records[1][1 + SEQ.size :])
    assert stored.order_updates[0].reason == common_pb2.REJECT_REASON_MATCHER_INTERNAL_ERROR
    recovered.wal.close()
