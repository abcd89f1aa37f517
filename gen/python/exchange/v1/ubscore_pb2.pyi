from exchange.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OrderRequest(_message.Message):
    __slots__ = ("user_id", "client_order_id", "symbol", "side", "order_type", "time_in_force", "post_only", "price_units", "qty_units", "quote_budget_units", "self_trade_mode", "ts_event_ns", "traceparent")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    POST_ONLY_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNITS_FIELD_NUMBER: _ClassVar[int]
    QTY_UNITS_FIELD_NUMBER: _ClassVar[int]
    QUOTE_BUDGET_UNITS_FIELD_NUMBER: _ClassVar[int]
    SELF_TRADE_MODE_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    client_order_id: str
    symbol: str
    side: _common_pb2.Side
    order_type: _common_pb2.OrderType
    time_in_force: _common_pb2.TimeInForce
    post_only: bool
    price_units: int
    qty_units: int
    quote_budget_units: int
    self_trade_mode: _common_pb2.SelfTradeMode
    ts_event_ns: int
    traceparent: str
    def __init__(self, user_id: _Optional[int] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., order_type: _Optional[_Union[_common_pb2.OrderType, str]] = ..., time_in_force: _Optional[_Union[_common_pb2.TimeInForce, str]] = ..., post_only: _Optional[bool] = ..., price_units: _Optional[int] = ..., qty_units: _Optional[int] = ..., quote_budget_units: _Optional[int] = ..., self_trade_mode: _Optional[_Union[_common_pb2.SelfTradeMode, str]] = ..., ts_event_ns: _Optional[int] = ..., traceparent: _Optional[str] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("user_id", "order_id", "client_order_id", "symbol", "ts_event_ns", "traceparent")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    order_id: int
    client_order_id: str
    symbol: str
    ts_event_ns: int
    traceparent: str
    def __init__(self, user_id: _Optional[int] = ..., order_id: _Optional[int] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., ts_event_ns: _Optional[int] = ..., traceparent: _Optional[str] = ...) -> None: ...

class UbscoreRequest(_message.Message):
    __slots__ = ("place_order", "cancel_order", "deadline_ns")
    PLACE_ORDER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ORDER_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_NS_FIELD_NUMBER: _ClassVar[int]
    place_order: OrderRequest
    cancel_order: CancelRequest
    deadline_ns: int
    def __init__(self, place_order: _Optional[_Union[OrderRequest, _Mapping]] = ..., cancel_order: _Optional[_Union[CancelRequest, _Mapping]] = ..., deadline_ns: _Optional[int] = ...) -> None: ...

class OrderAccepted(_message.Message):
    __slots__ = ("order_id", "client_order_id", "locked_asset_id", "locked_units", "symbol", "duplicate", "available_units", "frozen_units", "version")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    LOCKED_ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    LOCKED_UNITS_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_UNITS_FIELD_NUMBER: _ClassVar[int]
    FROZEN_UNITS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    client_order_id: str
    locked_asset_id: int
    locked_units: int
    symbol: str
    duplicate: bool
    available_units: int
    frozen_units: int
    version: int
    def __init__(self, order_id: _Optional[int] = ..., client_order_id: _Optional[str] = ..., locked_asset_id: _Optional[int] = ..., locked_units: _Optional[int] = ..., symbol: _Optional[str] = ..., duplicate: _Optional[bool] = ..., available_units: _Optional[int] = ..., frozen_units: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class CancelAccepted(_message.Message):
    __slots__ = ("order_id", "client_order_id", "symbol")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    client_order_id: str
    symbol: str
    def __init__(self, order_id: _Optional[int] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ...) -> None: ...

class Rejected(_message.Message):
    __slots__ = ("reason", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: _common_pb2.RejectReason
    message: str
    def __init__(self, reason: _Optional[_Union[_common_pb2.RejectReason, str]] = ..., message: _Optional[str] = ...) -> None: ...

class UbscoreResponse(_message.Message):
    __slots__ = ("order_accepted", "cancel_accepted", "rejected")
    ORDER_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    order_accepted: OrderAccepted
    cancel_accepted: CancelAccepted
    rejected: Rejected
    def __init__(self, order_accepted: _Optional[_Union[OrderAccepted, _Mapping]] = ..., cancel_accepted: _Optional[_Union[CancelAccepted, _Mapping]] = ..., rejected: _Optional[_Union[Rejected, _Mapping]] = ...) -> None: ...
