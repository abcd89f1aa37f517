from exchange.v1 import common_pb2 as _common_pb2
from exchange.v1 import ubscore_pb2 as _ubscore_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BalanceOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BALANCE_OPERATION_UNSPECIFIED: _ClassVar[BalanceOperation]
    BALANCE_OPERATION_TRANSFER_IN: _ClassVar[BalanceOperation]
    BALANCE_OPERATION_TRANSFER_OUT: _ClassVar[BalanceOperation]

class BalanceEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BALANCE_EVENT_TYPE_UNSPECIFIED: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_DEPOSITED: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_WITHDRAWN: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_DEPOSIT_REJECTED: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_FUNDS_LOCKED: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_FUNDS_UNLOCKED: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_TRADE_DEBITED: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_TRADE_CREDITED: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_FEE_COLLECTED: _ClassVar[BalanceEventType]
    BALANCE_EVENT_TYPE_ORDER_REJECTED: _ClassVar[BalanceEventType]

class FundsUnlockCause(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FUNDS_UNLOCK_CAUSE_UNSPECIFIED: _ClassVar[FundsUnlockCause]
    FUNDS_UNLOCK_CAUSE_CANCELED: _ClassVar[FundsUnlockCause]
    FUNDS_UNLOCK_CAUSE_EXPIRED: _ClassVar[FundsUnlockCause]
    FUNDS_UNLOCK_CAUSE_REJECTED: _ClassVar[FundsUnlockCause]
    FUNDS_UNLOCK_CAUSE_PRICE_IMPROVEMENT: _ClassVar[FundsUnlockCause]
    FUNDS_UNLOCK_CAUSE_FILLED: _ClassVar[FundsUnlockCause]
BALANCE_OPERATION_UNSPECIFIED: BalanceOperation
BALANCE_OPERATION_TRANSFER_IN: BalanceOperation
BALANCE_OPERATION_TRANSFER_OUT: BalanceOperation
BALANCE_EVENT_TYPE_UNSPECIFIED: BalanceEventType
BALANCE_EVENT_TYPE_DEPOSITED: BalanceEventType
BALANCE_EVENT_TYPE_WITHDRAWN: BalanceEventType
BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED: BalanceEventType
BALANCE_EVENT_TYPE_DEPOSIT_REJECTED: BalanceEventType
BALANCE_EVENT_TYPE_FUNDS_LOCKED: BalanceEventType
BALANCE_EVENT_TYPE_FUNDS_UNLOCKED: BalanceEventType
BALANCE_EVENT_TYPE_TRADE_DEBITED: BalanceEventType
BALANCE_EVENT_TYPE_TRADE_CREDITED: BalanceEventType
BALANCE_EVENT_TYPE_FEE_COLLECTED: BalanceEventType
BALANCE_EVENT_TYPE_ORDER_REJECTED: BalanceEventType
FUNDS_UNLOCK_CAUSE_UNSPECIFIED: FundsUnlockCause
FUNDS_UNLOCK_CAUSE_CANCELED: FundsUnlockCause
FUNDS_UNLOCK_CAUSE_EXPIRED: FundsUnlockCause
FUNDS_UNLOCK_CAUSE_REJECTED: FundsUnlockCause
FUNDS_UNLOCK_CAUSE_PRICE_IMPROVEMENT: FundsUnlockCause
FUNDS_UNLOCK_CAUSE_FILLED: FundsUnlockCause

class BalanceRequest(_message.Message):
    __slots__ = ("request_id", "user_id", "asset_id", "amount_units", "operation", "ts_event_ns", "producer_id", "producer_seq")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_UNITS_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_SEQ_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    user_id: int
    asset_id: int
    amount_units: int
    operation: BalanceOperation
    ts_event_ns: int
    producer_id: str
    producer_seq: int
    def __init__(self, request_id: _Optional[str] = ..., user_id: _Optional[int] = ..., asset_id: _Optional[int] = ..., amount_units: _Optional[int] = ..., operation: _Optional[_Union[BalanceOperation, str]] = ..., ts_event_ns: _Optional[int] = ..., producer_id: _Optional[str] = ..., producer_seq: _Optional[int] = ...) -> None: ...

class BalanceEvent(_message.Message):
    __slots__ = ("event_id", "user_id", "asset_id", "type", "delta_available_units", "delta_frozen_units", "available_units", "frozen_units", "version", "request_id", "order_id", "trade_id", "reject_reason", "ts_event_ns", "client_order_id", "symbol", "unlock_cause", "order", "operation", "requested_amount_units")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DELTA_AVAILABLE_UNITS_FIELD_NUMBER: _ClassVar[int]
    DELTA_FROZEN_UNITS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_UNITS_FIELD_NUMBER: _ClassVar[int]
    FROZEN_UNITS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    REJECT_REASON_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    UNLOCK_CAUSE_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AMOUNT_UNITS_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    user_id: int
    asset_id: int
    type: BalanceEventType
    delta_available_units: int
    delta_frozen_units: int
    available_units: int
    frozen_units: int
    version: int
    request_id: str
    order_id: int
    trade_id: int
    reject_reason: _common_pb2.RejectReason
    ts_event_ns: int
    client_order_id: str
    symbol: str
    unlock_cause: FundsUnlockCause
    order: _ubscore_pb2.OrderRequest
    operation: BalanceOperation
    requested_amount_units: int
    def __init__(self, event_id: _Optional[int] = ..., user_id: _Optional[int] = ..., asset_id: _Optional[int] = ..., type: _Optional[_Union[BalanceEventType, str]] = ..., delta_available_units: _Optional[int] = ..., delta_frozen_units: _Optional[int] = ..., available_units: _Optional[int] = ..., frozen_units: _Optional[int] = ..., version: _Optional[int] = ..., request_id: _Optional[str] = ..., order_id: _Optional[int] = ..., trade_id: _Optional[int] = ..., reject_reason: _Optional[_Union[_common_pb2.RejectReason, str]] = ..., ts_event_ns: _Optional[int] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., unlock_cause: _Optional[_Union[FundsUnlockCause, str]] = ..., order: _Optional[_Union[_ubscore_pb2.OrderRequest, _Mapping]] = ..., operation: _Optional[_Union[BalanceOperation, str]] = ..., requested_amount_units: _Optional[int] = ...) -> None: ...
