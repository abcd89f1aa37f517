from exchange.v1 import balance_pb2 as _balance_pb2
from exchange.v1 import common_pb2 as _common_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransferStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_STATUS_UNSPECIFIED: _ClassVar[TransferStatus]
    TRANSFER_STATUS_PENDING: _ClassVar[TransferStatus]
    TRANSFER_STATUS_COMPLETED: _ClassVar[TransferStatus]
    TRANSFER_STATUS_REJECTED: _ClassVar[TransferStatus]
TRANSFER_STATUS_UNSPECIFIED: TransferStatus
TRANSFER_STATUS_PENDING: TransferStatus
TRANSFER_STATUS_COMPLETED: TransferStatus
TRANSFER_STATUS_REJECTED: TransferStatus

class Balance(_message.Message):
    __slots__ = ("asset", "available", "frozen")
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    FROZEN_FIELD_NUMBER: _ClassVar[int]
    asset: str
    available: str
    frozen: str
    def __init__(self, asset: _Optional[str] = ..., available: _Optional[str] = ..., frozen: _Optional[str] = ...) -> None: ...

class GetBalancesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBalancesResponse(_message.Message):
    __slots__ = ("balances",)
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    balances: _containers.RepeatedCompositeFieldContainer[Balance]
    def __init__(self, balances: _Optional[_Iterable[_Union[Balance, _Mapping]]] = ...) -> None: ...

class TransferInRequest(_message.Message):
    __slots__ = ("request_id", "account_id", "asset", "amount")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: int
    asset: str
    amount: str
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[int] = ..., asset: _Optional[str] = ..., amount: _Optional[str] = ...) -> None: ...

class TransferInResponse(_message.Message):
    __slots__ = ("request_id", "status")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    status: TransferStatus
    def __init__(self, request_id: _Optional[str] = ..., status: _Optional[_Union[TransferStatus, str]] = ...) -> None: ...

class TransferOutRequest(_message.Message):
    __slots__ = ("request_id", "account_id", "asset", "amount")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: int
    asset: str
    amount: str
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[int] = ..., asset: _Optional[str] = ..., amount: _Optional[str] = ...) -> None: ...

class TransferOutResponse(_message.Message):
    __slots__ = ("request_id", "status")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    status: TransferStatus
    def __init__(self, request_id: _Optional[str] = ..., status: _Optional[_Union[TransferStatus, str]] = ...) -> None: ...

class GetTransferRequest(_message.Message):
    __slots__ = ("request_id", "account_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: int
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[int] = ...) -> None: ...

class GetTransferResponse(_message.Message):
    __slots__ = ("request_id", "status", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    status: TransferStatus
    reason: _common_pb2.RejectReason
    def __init__(self, request_id: _Optional[str] = ..., status: _Optional[_Union[TransferStatus, str]] = ..., reason: _Optional[_Union[_common_pb2.RejectReason, str]] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("event_id", "asset", "type", "delta_available", "delta_frozen", "available", "frozen", "order_id", "trade_id", "request_id", "ts_event_ns")
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
    def __init__(self, event_id: _Optional[int] = ..., asset: _Optional[str] = ..., type: _Optional[_Union[_balance_pb2.BalanceEventType, str]] = ..., delta_available: _Optional[str] = ..., delta_frozen: _Optional[str] = ..., available: _Optional[str] = ..., frozen: _Optional[str] = ..., order_id: _Optional[int] = ..., trade_id: _Optional[int] = ..., request_id: _Optional[str] = ..., ts_event_ns: _Optional[int] = ...) -> None: ...

class ListLedgerRequest(_message.Message):
    __slots__ = ("asset", "limit")
    ASSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    asset: str
    limit: int
    def __init__(self, asset: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListLedgerResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ...) -> None: ...
