from exchange.v1 import balance_pb2 as _balance_pb2
from exchange.v1 import common_pb2 as _common_pb2
from exchange.v1 import trading_service_pb2 as _trading_service_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransferDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_DIRECTION_UNSPECIFIED: _ClassVar[TransferDirection]
    TRANSFER_DIRECTION_IN: _ClassVar[TransferDirection]
    TRANSFER_DIRECTION_OUT: _ClassVar[TransferDirection]

class TransferStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_STATUS_UNSPECIFIED: _ClassVar[TransferStatus]
    TRANSFER_STATUS_PENDING: _ClassVar[TransferStatus]
    TRANSFER_STATUS_COMPLETED: _ClassVar[TransferStatus]
    TRANSFER_STATUS_REJECTED: _ClassVar[TransferStatus]
TRANSFER_DIRECTION_UNSPECIFIED: TransferDirection
TRANSFER_DIRECTION_IN: TransferDirection
TRANSFER_DIRECTION_OUT: TransferDirection
TRANSFER_STATUS_UNSPECIFIED: TransferStatus
TRANSFER_STATUS_PENDING: TransferStatus
TRANSFER_STATUS_COMPLETED: TransferStatus
TRANSFER_STATUS_REJECTED: TransferStatus

class Balance(_message.Message):
    __slots__ = ("asset", "available", "frozen", "version")
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    FROZEN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    asset: str
    available: str
    frozen: str
    version: int
    def __init__(self, asset: _Optional[str] = ..., available: _Optional[str] = ..., frozen: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetBalancesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBalancesResponse(_message.Message):
    __slots__ = ("balances",)
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    balances: _containers.RepeatedCompositeFieldContainer[Balance]
    def __init__(self, balances: _Optional[_Iterable[_Union[Balance, _Mapping]]] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("request_id", "user_id", "asset", "amount", "direction", "status", "reason", "created_ns", "completed_ns")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_NS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_NS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    user_id: int
    asset: str
    amount: str
    direction: TransferDirection
    status: TransferStatus
    reason: _common_pb2.RejectReason
    created_ns: int
    completed_ns: int
    def __init__(self, request_id: _Optional[str] = ..., user_id: _Optional[int] = ..., asset: _Optional[str] = ..., amount: _Optional[str] = ..., direction: _Optional[_Union[TransferDirection, str]] = ..., status: _Optional[_Union[TransferStatus, str]] = ..., reason: _Optional[_Union[_common_pb2.RejectReason, str]] = ..., created_ns: _Optional[int] = ..., completed_ns: _Optional[int] = ...) -> None: ...

class TransferInRequest(_message.Message):
    __slots__ = ("request_id", "user_id", "asset", "amount", "result_wait_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    RESULT_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    user_id: int
    asset: str
    amount: str
    result_wait_ms: int
    def __init__(self, request_id: _Optional[str] = ..., user_id: _Optional[int] = ..., asset: _Optional[str] = ..., amount: _Optional[str] = ..., result_wait_ms: _Optional[int] = ...) -> None: ...

class TransferInResponse(_message.Message):
    __slots__ = ("transfer",)
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    transfer: Transfer
    def __init__(self, transfer: _Optional[_Union[Transfer, _Mapping]] = ...) -> None: ...

class TransferOutRequest(_message.Message):
    __slots__ = ("request_id", "user_id", "asset", "amount", "result_wait_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    RESULT_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    user_id: int
    asset: str
    amount: str
    result_wait_ms: int
    def __init__(self, request_id: _Optional[str] = ..., user_id: _Optional[int] = ..., asset: _Optional[str] = ..., amount: _Optional[str] = ..., result_wait_ms: _Optional[int] = ...) -> None: ...

class TransferOutResponse(_message.Message):
    __slots__ = ("transfer",)
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    transfer: Transfer
    def __init__(self, transfer: _Optional[_Union[Transfer, _Mapping]] = ...) -> None: ...

class GetTransferRequest(_message.Message):
    __slots__ = ("request_id", "user_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    user_id: int
    def __init__(self, request_id: _Optional[str] = ..., user_id: _Optional[int] = ...) -> None: ...

class GetTransferResponse(_message.Message):
    __slots__ = ("transfer",)
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    transfer: Transfer
    def __init__(self, transfer: _Optional[_Union[Transfer, _Mapping]] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("event_id", "asset", "type", "delta_available", "delta_frozen", "available", "frozen", "order_id", "trade_id", "request_id", "ts_event_ns", "version", "unlock_cause", "reject_reason", "client_order_id", "symbol")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DELTA_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    DELTA_FROZEN_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    FROZEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UNLOCK_CAUSE_FIELD_NUMBER: _ClassVar[int]
    REJECT_REASON_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    asset: str
    type: _balance_pb2.BalanceEventType
    delta_available: str
    delta_frozen: str
    available: str
    frozen: str
    order_id: int
    trade_id: int
    request_id: str
    ts_event_ns: int
    version: int
    unlock_cause: _balance_pb2.FundsUnlockCause
    reject_reason: _common_pb2.RejectReason
    client_order_id: str
    symbol: str
    def __init__(self, event_id: _Optional[int] = ..., asset: _Optional[str] = ..., type: _Optional[_Union[_balance_pb2.BalanceEventType, str]] = ..., delta_available: _Optional[str] = ..., delta_frozen: _Optional[str] = ..., available: _Optional[str] = ..., frozen: _Optional[str] = ..., order_id: _Optional[int] = ..., trade_id: _Optional[int] = ..., request_id: _Optional[str] = ..., ts_event_ns: _Optional[int] = ..., version: _Optional[int] = ..., unlock_cause: _Optional[_Union[_balance_pb2.FundsUnlockCause, str]] = ..., reject_reason: _Optional[_Union[_common_pb2.RejectReason, str]] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ...) -> None: ...

class ListLedgerRequest(_message.Message):
    __slots__ = ("asset", "page_size", "page_token", "start_time_ns", "end_time_ns")
    ASSET_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    asset: str
    page_size: int
    page_token: str
    start_time_ns: int
    end_time_ns: int
    def __init__(self, asset: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., start_time_ns: _Optional[int] = ..., end_time_ns: _Optional[int] = ...) -> None: ...

class ListLedgerResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StreamUserDataRequest(_message.Message):
    __slots__ = ("symbols",)
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, symbols: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamUserDataResponse(_message.Message):
    __slots__ = ("order_update", "fill", "balance_change", "heartbeat", "balance_snapshot")
    ORDER_UPDATE_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    BALANCE_CHANGE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    order_update: _trading_service_pb2.Order
    fill: _trading_service_pb2.Fill
    balance_change: LedgerEntry
    heartbeat: _common_pb2.Heartbeat
    balance_snapshot: BalanceSnapshot
    def __init__(self, order_update: _Optional[_Union[_trading_service_pb2.Order, _Mapping]] = ..., fill: _Optional[_Union[_trading_service_pb2.Fill, _Mapping]] = ..., balance_change: _Optional[_Union[LedgerEntry, _Mapping]] = ..., heartbeat: _Optional[_Union[_common_pb2.Heartbeat, _Mapping]] = ..., balance_snapshot: _Optional[_Union[BalanceSnapshot, _Mapping]] = ...) -> None: ...

class BalanceSnapshot(_message.Message):
    __slots__ = ("balances",)
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    balances: _containers.RepeatedCompositeFieldContainer[Balance]
    def __init__(self, balances: _Optional[_Iterable[_Union[Balance, _Mapping]]] = ...) -> None: ...
