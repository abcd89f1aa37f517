"""Codec: OrderCommand bytes to core commands (refusing garbage), core results to EngineOutput fields."""

from __future__ import annotations

import pytest

from common.enums import OrderStatus, OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from exchange.v1 import common_pb2, order_pb2
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
        (
            order_pb2.OrderCommand(command_seq=1, place=order_pb2.InternalOrder(order_id=1)).SerializeToString(),
            "NO_SYMBOL",
        ),
        (
            order_pb2.OrderCommand(
                command_seq=1, place=order_pb2.InternalOrder(symbol="BTC_USDT", side=9)
            ).SerializeToString(),
            "BAD_ENUM",
        ),
    ],
)
def test_garbage_inputs_raise_input_rejected_with_reason(payload: bytes, reason: str) -> None:
    """Bytes that are not a usable OrderCommand raise InputRejected with a stable reason, never anything else."""
    with pytest.raises(InputRejected) as caught:
        decode_command(parse_order_command(payload))

    assert caught.value.reason == reason


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
    refusal = CancelRejected("BTC_USDT", 3, 77, "", RejectReason.UNKNOWN_ORDER, TS_NS)
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
