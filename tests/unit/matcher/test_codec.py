"""Codec: OrderCommand bytes to core commands (refusing garbage), core results to EngineOutput fields."""

from __future__ import annotations

import pytest

from common.engine_chain import Chain
from common.enums import OrderStatus, OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from exchange.v1 import common_pb2, order_pb2
from matcher.book import rejected_update
from matcher.codec import build_output, decode_command, parse_order_command
from matcher.commands import CancelOrder, PlaceOrder
from matcher.errors import InputRejected
from matcher.events import BookLevelChanged, CancelRejected, EngineResult, OrderUpdated, TradeExecuted

TS_NS = 1_700_000_000_123_456_789


def place_message() -> order_pb2.OrderCommand:
    return order_pb2.OrderCommand(
        command_seq=42,
        place=order_pb2.InternalOrder(
            order_id=9,
            user_id=3,
            client_order_id="c-9",
            symbol="BTC_USDT",
            side=common_pb2.SIDE_BUY,
            order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=common_pb2.TIME_IN_FORCE_IOC,
            post_only=False,
            price_units=4_500_000_000,
            qty_units=50_000_000,
            self_trade_mode=common_pb2.SELF_TRADE_MODE_EXPIRE_BOTH,
            locked_units=22_500_000_000,
            ts_event_ns=TS_NS,
        ),
    )


def test_decode_place_maps_every_field() -> None:
    """An InternalOrder becomes a PlaceOrder with the same values and core enums."""
    message = parse_order_command(place_message().SerializeToString())

    command = decode_command(message)

    assert command == PlaceOrder(
        symbol="BTC_USDT",
        order_id=9,
        user_id=3,
        client_order_id="c-9",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.IOC,
        post_only=False,
        price_units=4_500_000_000,
        qty_units=50_000_000,
        quote_budget_units=0,
        self_trade_mode=SelfTradeMode.EXPIRE_BOTH,
        ts_event_ns=TS_NS,
    )


def test_decode_place_puts_each_field_under_its_own_name() -> None:
    """The decoder builds PlaceOrder positionally (hot path): every field, with a value and type no other field
    has, lands under its own name, exactly as a keyword-built PlaceOrder."""
    place = order_pb2.InternalOrder(
        order_id=9, user_id=3, client_order_id="c-9", symbol="BTC_USDT", side=common_pb2.SIDE_SELL,
        order_type=common_pb2.ORDER_TYPE_MARKET, time_in_force=common_pb2.TIME_IN_FORCE_FOK, post_only=True,
        price_units=4_500_000_000, qty_units=50_000_000, quote_budget_units=77,
        self_trade_mode=common_pb2.SELF_TRADE_MODE_EXPIRE_MAKER, ts_event_ns=TS_NS,
    )  # fmt: skip
    command = decode_command(order_pb2.OrderCommand(command_seq=1, place=place))
    expected = PlaceOrder(
        symbol="BTC_USDT", order_id=9, user_id=3, client_order_id="c-9", side=Side.SELL, order_type=OrderType.MARKET,
        time_in_force=TimeInForce.FOK, post_only=True, price_units=4_500_000_000, qty_units=50_000_000,
        quote_budget_units=77, self_trade_mode=SelfTradeMode.EXPIRE_MAKER, ts_event_ns=TS_NS,
    )  # fmt: skip
    typed = {name: (type(value), value) for name, value in command._asdict().items()}
    assert typed == {name: (type(value), value) for name, value in expected._asdict().items()}


def test_decode_cancel_maps_every_field() -> None:
    """An InternalCancel becomes a CancelOrder."""
    message = order_pb2.OrderCommand(
        command_seq=5,
        cancel=order_pb2.InternalCancel(
            order_id=0, user_id=3, symbol="ETH_USDT", client_order_id="c-9", ts_event_ns=TS_NS
        ),
    )

    assert decode_command(message) == CancelOrder(
        symbol="ETH_USDT", user_id=3, order_id=0, client_order_id="c-9", ts_event_ns=TS_NS
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xff\xff\xff", "UNDECODABLE"),
        (b"x" * 70_000, "TOO_LARGE"),
        (order_pb2.OrderCommand(command_seq=1).SerializeToString(), "NO_COMMAND"),
        (order_pb2.OrderCommand(place=order_pb2.InternalOrder(symbol="BTC_USDT")).SerializeToString(), "NO_SEQUENCE"),
    ],
)
def test_garbage_inputs_raise_input_rejected_with_reason(payload: bytes, reason: str) -> None:
    """Bytes that are not a usable OrderCommand raise InputRejected with a stable reason, never anything else."""
    with pytest.raises(InputRejected) as caught:
        decode_command(parse_order_command(payload))

    assert caught.value.reason == reason


def test_decode_place_with_unknown_enums_and_no_symbol_passes_raw_values_to_the_core() -> None:
    """An enum number from a newer proto and an empty symbol are not garbage: the core must answer them (REJECTED
    with MATCHER_INVALID_FIELD), so decoding keeps the raw ints instead of refusing the record."""
    message = place_message()
    message.place.symbol = ""
    message.place.side = 9
    message.place.order_type = 8
    message.place.time_in_force = 7
    message.place.self_trade_mode = 6

    command = decode_command(parse_order_command(message.SerializeToString()))

    assert isinstance(command, PlaceOrder)
    assert (command.symbol, command.side, command.order_type, command.time_in_force) == ("", 9, 8, 7)
    assert command.self_trade_mode == 6
    assert type(command.side) is int


def test_decode_cancel_without_symbol_passes_it_to_the_core() -> None:
    """A cancel without a symbol reaches the core, which answers it with a CommandRejected."""
    message = order_pb2.OrderCommand(command_seq=5, cancel=order_pb2.InternalCancel(order_id=4, user_id=3))

    assert decode_command(message) == CancelOrder(symbol="", user_id=3, order_id=4, ts_event_ns=0)


def test_build_output_of_a_rejected_order_with_an_unknown_enum_keeps_the_raw_number() -> None:
    """The REJECTED update of an order with side 9 encodes (proto3 enums are open) and carries the reason."""
    message = place_message()
    message.place.side = 9
    command = decode_command(message)
    update = rejected_update(command, RejectReason.MATCHER_INVALID_FIELD)

    output = build_output(message, partition=0, offset=1, result=EngineResult("BTC_USDT", [update], [], [], []))

    assert (output.order_updates[0].side, output.order_updates[0].status) == (9, common_pb2.ORDER_STATUS_REJECTED)
    assert output.order_updates[0].reason == common_pb2.REJECT_REASON_MATCHER_INVALID_FIELD


def test_build_output_carries_input_position_updates_trades_and_deltas() -> None:
    """Every core event lands in the matching proto field, in order; a refusal lands in `rejections`, not updates."""
    message = place_message()
    update = OrderUpdated(
        "BTC_USDT",
        9,
        3,
        "c-9",
        Side.BUY,
        OrderType.LIMIT,
        TimeInForce.IOC,
        4_500_000_000,
        50_000_000,
        OrderStatus.FILLED,
        50_000_000,
        2_250_000_000,
        0,
        0,
        RejectReason.UNSPECIFIED,
        TS_NS,
    )
    trade = TradeExecuted(
        "BTC_USDT",
        (1 << 40) | 1,
        4_500_000_000,
        50_000_000,
        2_250_000_000,
        8,
        9,
        2,
        3,
        Side.SELL,
        Side.BUY,
        2_250_000,
        100_000,
        TS_NS,
    )
    refusal = CancelRejected(
        symbol="BTC_USDT", order_id=77, user_id=3, client_order_id="", reason=RejectReason.UNKNOWN_ORDER,
        ts_event_ns=TS_NS,
    )
    result = EngineResult("BTC_USDT", [update], [trade], [BookLevelChanged(Side.SELL, 4_500_000_000, 0)], [refusal])

    output = build_output(message, partition=2, offset=1234, result=result)

    assert output.input.command == message
    assert (output.input.kafka_partition, output.input.kafka_offset, output.ts_event_ns) == (2, 1234, TS_NS)
    assert [u.order_id for u in output.order_updates] == [9]
    assert output.order_updates[0].status == common_pb2.ORDER_STATUS_FILLED
    assert output.order_updates[0].filled_quote_units == 2_250_000_000
    assert output.order_updates[0].time_in_force == common_pb2.TIME_IN_FORCE_IOC
    assert [(r.order_id, r.user_id, r.reason) for r in output.rejections] == [
        (77, 3, common_pb2.REJECT_REASON_UNKNOWN_ORDER)
    ]
    assert output.trades[0].trade_id == (1 << 40) | 1
    assert output.trades[0].taker_side == common_pb2.SIDE_BUY
    assert (output.trades[0].maker_fee_units, output.trades[0].taker_fee_units) == (2_250_000, 100_000)
    assert output.book_deltas[0].symbol == "BTC_USDT"
    assert output.book_deltas[0].qty_units == 0
    assert output.seq == 0  # sealing is the chain's job
    assert output.hash == b""


def test_build_output_keeps_the_input_traceparent_inside_the_hashed_output() -> None:
    """The trace context is part of the input command: in the WAL and in the output's hash, so replay (same input
    bytes) gives the same hash, and another traceparent gives another hash."""
    message = place_message()
    message.place.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    result = EngineResult("BTC_USDT", [], [], [], [])

    first = Chain(shard_id=0).seal(build_output(message, partition=0, offset=1, result=result))
    replayed = Chain(shard_id=0).seal(build_output(message, partition=0, offset=1, result=result))
    message.place.traceparent = ""
    untraced = Chain(shard_id=0).seal(build_output(message, partition=0, offset=1, result=result))

    assert first.input.command.place.traceparent.startswith("00-0af7651916cd43dd")
    assert first.hash == replayed.hash
    assert first.hash != untraced.hash
