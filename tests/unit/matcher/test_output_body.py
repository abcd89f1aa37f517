"""The hot path's output bytes (`codec.output_body`: input written by hand, the rest by protobuf) are exactly those
of `codec.build_output` + deterministic serialization, and common/protowire.py's varints are protobuf's.

Method: arbitrary core events (zeros, negatives, int64/uint64 edges, unknown enum numbers, non-ASCII strings) and
an arbitrary input command and position go through both; the bytes must be equal, so the hash chain, the WAL and
replay are unchanged by the shortcut.
"""

from __future__ import annotations

import pytest
from google.protobuf.internal.encoder import _VarintBytes  # protobuf's own varint writer, as the reference
from hypothesis import given, settings
from hypothesis import strategies as st

from common.protowire import varint
from exchange.v1 import engine_pb2, order_pb2
from matcher.codec import _fill_update, build_output, command_ts_event_ns, output_body
from matcher.events import BookLevelChanged, CancelRejected, EngineResult, OrderUpdated, PlaceRejected, TradeExecuted

INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 1, -1, 127, 128, 2**63 - 1, -(2**63)]))
UINT64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 127, 128, 16_383, 16_384, 2**64 - 1]))
ENUM = st.one_of(st.integers(0, 8), st.integers(-(2**31), 2**31 - 1))
TEXT = st.one_of(st.just(""), st.text(max_size=12), st.sampled_from(["BTC_USDT", "ETH_USDT", "é€😀"]))

updates = st.builds(
    OrderUpdated, TEXT, UINT64, UINT64, TEXT, ENUM, ENUM, ENUM, INT64, INT64, ENUM, INT64, INT64, INT64, INT64,
    ENUM, INT64,
)  # fmt: skip
trades = st.builds(
    TradeExecuted, TEXT, UINT64, INT64, INT64, INT64, UINT64, UINT64, UINT64, UINT64, ENUM, ENUM, INT64, INT64, INT64
)
changes = st.builds(BookLevelChanged, ENUM, INT64, INT64)
rejections = st.one_of(
    st.builds(CancelRejected, symbol=TEXT, order_id=UINT64, user_id=UINT64, client_order_id=TEXT, reason=ENUM,
              ts_event_ns=INT64),
    st.builds(PlaceRejected, symbol=TEXT, order_id=UINT64, user_id=UINT64, client_order_id=TEXT, reason=ENUM,
              ts_event_ns=INT64),
)  # fmt: skip
results = st.builds(
    EngineResult, TEXT, st.lists(updates, max_size=4), st.lists(trades, max_size=3), st.lists(changes, max_size=3),
    st.lists(rejections, max_size=2),
)  # fmt: skip


@st.composite
def commands(draw: st.DrawFn) -> order_pb2.OrderCommand:
    seq = draw(UINT64)
    if draw(st.booleans()):
        order = order_pb2.InternalOrder(order_id=draw(UINT64), user_id=draw(UINT64), symbol=draw(TEXT),
                                        client_order_id=draw(TEXT), price_units=draw(INT64), qty_units=draw(INT64),
                                        side=draw(ENUM), ts_event_ns=draw(INT64), traceparent=draw(TEXT))  # fmt: skip
        return order_pb2.OrderCommand(command_seq=seq, place=order)
    cancel = order_pb2.InternalCancel(order_id=draw(UINT64), user_id=draw(UINT64), symbol=draw(TEXT),
                                      ts_event_ns=draw(INT64))  # fmt: skip
    return order_pb2.OrderCommand(command_seq=seq, cancel=cancel)


@settings(max_examples=400, deadline=None)
@given(message=commands(), partition=st.integers(0, 2**31 - 1), offset=st.integers(0, 2**63 - 1), result=results)
def test_encoded_body_is_the_deterministic_serialization_of_build_output(
    message: order_pb2.OrderCommand, partition: int, offset: int, result: EngineResult
) -> None:
    """Same bytes as build_output + SerializeToString(deterministic=True), for any events and any input."""
    expected = build_output(message, partition=partition, offset=offset, result=result)
    body = output_body(message.SerializeToString(deterministic=True), partition=partition, offset=offset,
                              ts_event_ns=command_ts_event_ns(message), result=result)  # fmt: skip
    assert body == expected.SerializeToString(deterministic=True)


@given(update=updates)
def test_an_order_update_skipping_zero_fields_equals_one_with_every_field_set(update: OrderUpdated) -> None:
    """The fill leaves often-zero fields unset; that is the same message (and bytes) as setting all sixteen."""
    filled = engine_pb2.OrderUpdate()
    _fill_update(filled, update)
    every_field = engine_pb2.OrderUpdate(**update._asdict())
    assert filled.SerializeToString(deterministic=True) == every_field.SerializeToString(deterministic=True)


def test_an_empty_input_command_is_still_present() -> None:
    """An input command with no field set is still written (as protobuf writes a submessage it copied into)."""
    message = order_pb2.OrderCommand()
    result = EngineResult("", [], [], [], [])
    expected = build_output(message, partition=0, offset=0, result=result).SerializeToString(deterministic=True)
    assert output_body(b"", partition=0, offset=0, ts_event_ns=0, result=result) == expected


@given(value=st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**20)))
def test_varints_are_protobufs(value: int) -> None:
    """common/protowire.py writes a varint exactly as protobuf does (14-bit groups from a table)."""
    assert varint(value) == _VarintBytes(value)


def test_a_negative_partition_or_offset_is_refused() -> None:
    """Kafka positions are never negative; the hand-written input refuses one instead of writing it wrongly."""
    result = EngineResult("", [], [], [], [])
    with pytest.raises(AssertionError):
        output_body(b"", partition=-1, offset=0, ts_event_ns=0, result=result)
