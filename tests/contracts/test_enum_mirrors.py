"""Python enums in common/enums.py mirror exchange.v1 enums whole: same names, same numbers (proto is the truth)."""

import enum

import pytest
from google.protobuf.descriptor import EnumDescriptor

from common import enums
from exchange.v1 import balance_pb2, common_pb2

MIRRORS: list[tuple[type[enum.IntEnum], EnumDescriptor, str]] = [
    (enums.Side, common_pb2.Side.DESCRIPTOR, "SIDE_"),
    (enums.OrderType, common_pb2.OrderType.DESCRIPTOR, "ORDER_TYPE_"),
    (enums.TimeInForce, common_pb2.TimeInForce.DESCRIPTOR, "TIME_IN_FORCE_"),
    (enums.OrderStatus, common_pb2.OrderStatus.DESCRIPTOR, "ORDER_STATUS_"),
    (enums.SelfTradeMode, common_pb2.SelfTradeMode.DESCRIPTOR, "SELF_TRADE_MODE_"),
    (enums.RejectReason, common_pb2.RejectReason.DESCRIPTOR, "REJECT_REASON_"),
    (enums.BalanceOperation, balance_pb2.BalanceOperation.DESCRIPTOR, "BALANCE_OPERATION_"),
    (enums.BalanceEventType, balance_pb2.BalanceEventType.DESCRIPTOR, "BALANCE_EVENT_TYPE_"),
    (enums.FundsUnlockCause, balance_pb2.FundsUnlockCause.DESCRIPTOR, "FUNDS_UNLOCK_CAUSE_"),
]


@pytest.mark.parametrize(("python_enum", "proto_enum", "prefix"), MIRRORS, ids=lambda m: getattr(m, "__name__", ""))
def test_python_enum_member_has_proto_value_with_same_name_and_number(
    python_enum: type[enum.IntEnum], proto_enum: EnumDescriptor, prefix: str
) -> None:
    """Each Python member names a proto value with the same number (no invented or renumbered member)."""
    for member in python_enum:
        proto_value = proto_enum.values_by_number.get(int(member))
        assert proto_value is not None, f"{python_enum.__name__}.{member.name}={int(member)} is not in proto"
        assert proto_value.name == prefix + member.name


@pytest.mark.parametrize(("python_enum", "proto_enum", "prefix"), MIRRORS, ids=lambda m: getattr(m, "__name__", ""))
def test_python_enum_covers_every_proto_value(
    python_enum: type[enum.IntEnum], proto_enum: EnumDescriptor, prefix: str
) -> None:
    """Every proto value (reject reasons of every range included) has its Python member, with the same name."""
    python_names = {member.name: int(member) for member in python_enum}
    proto_names = {value.name.removeprefix(prefix): value.number for value in proto_enum.values}
    assert python_names == proto_names
