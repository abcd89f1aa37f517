from exchange.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InternalOrder(_message.Message):
    __slots__ = ("order_id", "user_id", "client_order_id", "symbol", "side", "order_type", "time_in_force", "post_only", "price_units", "qty_units", "quote_budget_units", "self_trade_mode", "locked_units", "ts_event_ns", "traceparent")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
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
    LOCKED_UNITS_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    order_id: int
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
    locked_units: int
    ts_event_ns: int
    traceparent: str
    def __init__(self, order_id: _Optional[int] = ..., user_id: _Optional[int] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., order_type: _Optional[_Union[_common_pb2.OrderType, str]] = ..., time_in_force: _Optional[_Union[_common_pb2.TimeInForce, str]] = ..., post_only: _Optional[bool] = ..., price_units: _Optional[int] = ..., qty_units: _Optional[int] = ..., quote_budget_units: _Optional[int] = ..., self_trade_mode: _Optional[_Union[_common_pb2.SelfTradeMode, str]] = ..., locked_units: _Optional[int] = ..., ts_event_ns: _Optional[int] = ..., traceparent: _Optional[str] = ...) -> None: ...

class InternalCancel(_message.Message):
    __slots__ = ("order_id", "user_id", "symbol", "ts_event_ns", "client_order_id", "traceparent")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    user_id: int
    symbol: str
    ts_event_ns: int
    client_order_id: str
    traceparent: str
    def __init__(self, order_id: _Optional[int] = ..., user_id: _Optional[int] = ..., symbol: _Optional[str] = ..., ts_event_ns: _Optional[int] = ..., client_order_id: _Optional[str] = ..., traceparent: _Optional[str] = ...) -> None: ...

class OrderCommand(_message.Message):
    __slots__ = ("command_seq", "place", "cancel")
    COMMAND_SEQ_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    command_seq: int
    place: InternalOrder
    cancel: InternalCancel
    def __init__(self, command_seq: _Optional[int] = ..., place: _Optional[_Union[InternalOrder, _Mapping]] = ..., cancel: _Optional[_Union[InternalCancel, _Mapping]] = ...) -> None: ...
