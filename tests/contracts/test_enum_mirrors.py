"""Python enums that mirror exchange.v1 enums keep the same names and numbers (proto is the source of truth)."""

import enum

import pytest
from google.protobuf.descriptor import EnumDescriptor

from exchange.v1 import common_pb2
from matcher import types

MIRRORS: list[tuple[type[enum.IntEnum], EnumDescriptor, str]] = [
    (types.Side, common_pb2.Side.DESCRIPTOR, "SIDE_"),
    (types.OrderType, common_pb2.OrderType.DESCRIPTOR, "ORDER_TYPE_"),
    (types.TimeInForce, common_pb2.TimeInForce.DESCRIPTOR, "TIME_IN_FORCE_"),
    (types.OrderStatus, common_pb2.OrderStatus.DESCRIPTOR, "ORDER_STATUS_"),
    (types.SelfTradeMode, common_pb2.SelfTradeMode.DESCRIPTOR, "SELF_TRADE_MODE_"),
    (types.RejectReason, common_pb2.RejectReason.DESCRIPTOR, "REJECT_REASON_"),
]


@pytest.mark.parametrize(("python_enum", "proto_enum", "prefix"), MIRRORS, ids=lambda m: getattr(m, "__name__", ""))
def test_python_enum_member_has_proto_value_with_same_name_and_number(
    python_enum: type[enum.IntEnum], proto_enum: EnumDescriptor, prefix: str
) -> None:
    for member in python_enum:
        proto_value = proto_enum.values_by_number.get(int(member))
        assert proto_value is not None, f"{python_enum.__name__}.{member.name}={int(member)} is not in proto"
        assert proto_value.name == prefix + member.name


@pytest.mark.parametrize(
    ("python_enum", "proto_enum", "prefix"), MIRRORS[:5], ids=lambda m: getattr(m, "__name__", "")
)
def test_python_enum_covers_every_proto_value(
    python_enum: type[enum.IntEnum], proto_enum: EnumDescriptor, prefix: str
) -> None:
    """Order enums are mirrored whole (reject reasons only in the matcher's own range)."""
    assert {value.number for value in proto_enum.values} == {int(member) for member in python_enum}
