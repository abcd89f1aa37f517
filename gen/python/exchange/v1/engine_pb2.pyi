from exchange.v1 import common_pb2 as _common_pb2
from exchange.v1 import order_pb2 as _order_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReplayStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPLAY_STATUS_UNSPECIFIED: _ClassVar[ReplayStatus]
    REPLAY_STATUS_OK: _ClassVar[ReplayStatus]
    REPLAY_STATUS_BEYOND_HEAD: _ClassVar[ReplayStatus]
    REPLAY_STATUS_LIMIT_ZERO: _ClassVar[ReplayStatus]
    REPLAY_STATUS_WRONG_SHARD: _ClassVar[ReplayStatus]
    REPLAY_STATUS_MALFORMED_REQUEST: _ClassVar[ReplayStatus]
    REPLAY_STATUS_REQUEST_TOO_LARGE: _ClassVar[ReplayStatus]
    REPLAY_STATUS_HISTORY_GONE: _ClassVar[ReplayStatus]
REPLAY_STATUS_UNSPECIFIED: ReplayStatus
REPLAY_STATUS_OK: ReplayStatus
REPLAY_STATUS_BEYOND_HEAD: ReplayStatus
REPLAY_STATUS_LIMIT_ZERO: ReplayStatus
REPLAY_STATUS_WRONG_SHARD: ReplayStatus
REPLAY_STATUS_MALFORMED_REQUEST: ReplayStatus
REPLAY_STATUS_REQUEST_TOO_LARGE: ReplayStatus
REPLAY_STATUS_HISTORY_GONE: ReplayStatus

class OrderUpdate(_message.Message):
    __slots__ = ("order_id", "user_id", "client_order_id", "symbol", "side", "order_type", "status", "price_units", "qty_units", "filled_qty_units", "filled_quote_units", "remaining_qty_units", "remaining_quote_units", "reason", "ts_event_ns", "time_in_force")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNITS_FIELD_NUMBER: _ClassVar[int]
    QTY_UNITS_FIELD_NUMBER: _ClassVar[int]
    FILLED_QTY_UNITS_FIELD_NUMBER: _ClassVar[int]
    FILLED_QUOTE_UNITS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_QTY_UNITS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_QUOTE_UNITS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    user_id: int
    client_order_id: str
    symbol: str
    side: _common_pb2.Side
    order_type: _common_pb2.OrderType
    status: _common_pb2.OrderStatus
    price_units: int
    qty_units: int
    filled_qty_units: int
    filled_quote_units: int
    remaining_qty_units: int
    remaining_quote_units: int
    reason: _common_pb2.RejectReason
    ts_event_ns: int
    time_in_force: _common_pb2.TimeInForce
    def __init__(self, order_id: _Optional[int] = ..., user_id: _Optional[int] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., order_type: _Optional[_Union[_common_pb2.OrderType, str]] = ..., status: _Optional[_Union[_common_pb2.OrderStatus, str]] = ..., price_units: _Optional[int] = ..., qty_units: _Optional[int] = ..., filled_qty_units: _Optional[int] = ..., filled_quote_units: _Optional[int] = ..., remaining_qty_units: _Optional[int] = ..., remaining_quote_units: _Optional[int] = ..., reason: _Optional[_Union[_common_pb2.RejectReason, str]] = ..., ts_event_ns: _Optional[int] = ..., time_in_force: _Optional[_Union[_common_pb2.TimeInForce, str]] = ...) -> None: ...

class Trade(_message.Message):
    __slots__ = ("trade_id", "symbol", "price_units", "qty_units", "quote_qty_units", "maker_order_id", "maker_user_id", "taker_order_id", "taker_user_id", "taker_side", "maker_fee_units", "taker_fee_units", "ts_event_ns")
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNITS_FIELD_NUMBER: _ClassVar[int]
    QTY_UNITS_FIELD_NUMBER: _ClassVar[int]
    QUOTE_QTY_UNITS_FIELD_NUMBER: _ClassVar[int]
    MAKER_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    MAKER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    TAKER_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TAKER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    TAKER_SIDE_FIELD_NUMBER: _ClassVar[int]
    MAKER_FEE_UNITS_FIELD_NUMBER: _ClassVar[int]
    TAKER_FEE_UNITS_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    trade_id: int
    symbol: str
    price_units: int
    qty_units: int
    quote_qty_units: int
    maker_order_id: int
    maker_user_id: int
    taker_order_id: int
    taker_user_id: int
    taker_side: _common_pb2.Side
    maker_fee_units: int
    taker_fee_units: int
    ts_event_ns: int
    def __init__(self, trade_id: _Optional[int] = ..., symbol: _Optional[str] = ..., price_units: _Optional[int] = ..., qty_units: _Optional[int] = ..., quote_qty_units: _Optional[int] = ..., maker_order_id: _Optional[int] = ..., maker_user_id: _Optional[int] = ..., taker_order_id: _Optional[int] = ..., taker_user_id: _Optional[int] = ..., taker_side: _Optional[_Union[_common_pb2.Side, str]] = ..., maker_fee_units: _Optional[int] = ..., taker_fee_units: _Optional[int] = ..., ts_event_ns: _Optional[int] = ...) -> None: ...

class BookDelta(_message.Message):
    __slots__ = ("symbol", "side", "price_units", "qty_units")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNITS_FIELD_NUMBER: _ClassVar[int]
    QTY_UNITS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    side: _common_pb2.Side
    price_units: int
    qty_units: int
    def __init__(self, symbol: _Optional[str] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., price_units: _Optional[int] = ..., qty_units: _Optional[int] = ...) -> None: ...

class CommandRejected(_message.Message):
    __slots__ = ("order_id", "user_id", "client_order_id", "symbol", "reason", "ts_event_ns")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    user_id: int
    client_order_id: str
    symbol: str
    reason: _common_pb2.RejectReason
    ts_event_ns: int
    def __init__(self, order_id: _Optional[int] = ..., user_id: _Optional[int] = ..., client_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., reason: _Optional[_Union[_common_pb2.RejectReason, str]] = ..., ts_event_ns: _Optional[int] = ...) -> None: ...

class EngineInput(_message.Message):
    __slots__ = ("command", "kafka_partition", "kafka_offset")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    KAFKA_PARTITION_FIELD_NUMBER: _ClassVar[int]
    KAFKA_OFFSET_FIELD_NUMBER: _ClassVar[int]
    command: _order_pb2.OrderCommand
    kafka_partition: int
    kafka_offset: int
    def __init__(self, command: _Optional[_Union[_order_pb2.OrderCommand, _Mapping]] = ..., kafka_partition: _Optional[int] = ..., kafka_offset: _Optional[int] = ...) -> None: ...

class EngineOutput(_message.Message):
    __slots__ = ("shard_id", "seq", "prev_hash", "hash", "input", "order_updates", "trades", "book_deltas", "ts_event_ns", "rejections")
    SHARD_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    ORDER_UPDATES_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    BOOK_DELTAS_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    shard_id: int
    seq: int
    prev_hash: bytes
    hash: bytes
    input: EngineInput
    order_updates: _containers.RepeatedCompositeFieldContainer[OrderUpdate]
    trades: _containers.RepeatedCompositeFieldContainer[Trade]
    book_deltas: _containers.RepeatedCompositeFieldContainer[BookDelta]
    ts_event_ns: int
    rejections: _containers.RepeatedCompositeFieldContainer[CommandRejected]
    def __init__(self, shard_id: _Optional[int] = ..., seq: _Optional[int] = ..., prev_hash: _Optional[bytes] = ..., hash: _Optional[bytes] = ..., input: _Optional[_Union[EngineInput, _Mapping]] = ..., order_updates: _Optional[_Iterable[_Union[OrderUpdate, _Mapping]]] = ..., trades: _Optional[_Iterable[_Union[Trade, _Mapping]]] = ..., book_deltas: _Optional[_Iterable[_Union[BookDelta, _Mapping]]] = ..., ts_event_ns: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[CommandRejected, _Mapping]]] = ...) -> None: ...

class ReplayRequest(_message.Message):
    __slots__ = ("shard_id", "from_seq", "limit")
    SHARD_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    shard_id: int
    from_seq: int
    limit: int
    def __init__(self, shard_id: _Optional[int] = ..., from_seq: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ReplayResponse(_message.Message):
    __slots__ = ("outputs", "last_seq", "status", "detail")
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[EngineOutput]
    last_seq: int
    status: ReplayStatus
    detail: str
    def __init__(self, outputs: _Optional[_Iterable[_Union[EngineOutput, _Mapping]]] = ..., last_seq: _Optional[int] = ..., status: _Optional[_Union[ReplayStatus, str]] = ..., detail: _Optional[str] = ...) -> None: ...
