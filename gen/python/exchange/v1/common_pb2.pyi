from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Side(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIDE_UNSPECIFIED: _ClassVar[Side]
    SIDE_BUY: _ClassVar[Side]
    SIDE_SELL: _ClassVar[Side]

class OrderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_TYPE_UNSPECIFIED: _ClassVar[OrderType]
    ORDER_TYPE_LIMIT: _ClassVar[OrderType]
    ORDER_TYPE_MARKET: _ClassVar[OrderType]

class TimeInForce(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIME_IN_FORCE_UNSPECIFIED: _ClassVar[TimeInForce]
    TIME_IN_FORCE_GTC: _ClassVar[TimeInForce]
    TIME_IN_FORCE_IOC: _ClassVar[TimeInForce]
    TIME_IN_FORCE_FOK: _ClassVar[TimeInForce]

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_NEW: _ClassVar[OrderStatus]
    ORDER_STATUS_PARTIALLY_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_CANCELED: _ClassVar[OrderStatus]
    ORDER_STATUS_REJECTED: _ClassVar[OrderStatus]
    ORDER_STATUS_EXPIRED: _ClassVar[OrderStatus]

class SelfTradeMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SELF_TRADE_MODE_UNSPECIFIED: _ClassVar[SelfTradeMode]
    SELF_TRADE_MODE_EXPIRE_TAKER: _ClassVar[SelfTradeMode]
    SELF_TRADE_MODE_EXPIRE_MAKER: _ClassVar[SelfTradeMode]
    SELF_TRADE_MODE_EXPIRE_BOTH: _ClassVar[SelfTradeMode]

class RejectReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECT_REASON_UNSPECIFIED: _ClassVar[RejectReason]
    REJECT_REASON_UNAUTHENTICATED: _ClassVar[RejectReason]
    REJECT_REASON_PERMISSION_DENIED: _ClassVar[RejectReason]
    REJECT_REASON_RATE_LIMITED: _ClassVar[RejectReason]
    REJECT_REASON_INVALID_AMOUNT: _ClassVar[RejectReason]
    REJECT_REASON_INVALID_PRICE: _ClassVar[RejectReason]
    REJECT_REASON_INVALID_QUANTITY: _ClassVar[RejectReason]
    REJECT_REASON_BELOW_MIN_NOTIONAL: _ClassVar[RejectReason]
    REJECT_REASON_UNKNOWN_MARKET: _ClassVar[RejectReason]
    REJECT_REASON_UNKNOWN_ASSET: _ClassVar[RejectReason]
    REJECT_REASON_INVALID_ORDER: _ClassVar[RejectReason]
    REJECT_REASON_MISSING_FIELD: _ClassVar[RejectReason]
    REJECT_REASON_INVALID_REQUEST: _ClassVar[RejectReason]
    REJECT_REASON_NOT_FOUND: _ClassVar[RejectReason]
    REJECT_REASON_SERVICE_UNAVAILABLE: _ClassVar[RejectReason]
    REJECT_REASON_TIMEOUT: _ClassVar[RejectReason]
    REJECT_REASON_INSUFFICIENT_FUNDS: _ClassVar[RejectReason]
    REJECT_REASON_BALANCE_OVERFLOW: _ClassVar[RejectReason]
    REJECT_REASON_ORDER_NOT_OPEN: _ClassVar[RejectReason]
    REJECT_REASON_DUPLICATE_REQUEST: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_UNKNOWN_MARKET: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_INVALID_ORDER: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_PRICE_OFF_TICK: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_PRICE_OUT_OF_RANGE: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_QUANTITY_OFF_LOT: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_QUANTITY_OUT_OF_RANGE: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_BELOW_MIN_NOTIONAL: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_BUDGET_OUT_OF_RANGE: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_BUSY: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_UNKNOWN_ASSET: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_INVALID_AMOUNT: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_DEADLINE_EXCEEDED: _ClassVar[RejectReason]
    REJECT_REASON_UBSCORE_MISSING_FIELD: _ClassVar[RejectReason]
    REJECT_REASON_UNKNOWN_ORDER: _ClassVar[RejectReason]
    REJECT_REASON_POST_ONLY_WOULD_TAKE: _ClassVar[RejectReason]
    REJECT_REASON_FOK_NOT_FILLABLE: _ClassVar[RejectReason]
    REJECT_REASON_DUPLICATE_ORDER_ID: _ClassVar[RejectReason]
    REJECT_REASON_MATCHER_UNKNOWN_MARKET: _ClassVar[RejectReason]
    REJECT_REASON_SELF_TRADE_PREVENTED: _ClassVar[RejectReason]
    REJECT_REASON_NO_LIQUIDITY: _ClassVar[RejectReason]
    REJECT_REASON_MATCHER_INVALID_ORDER: _ClassVar[RejectReason]
    REJECT_REASON_IOC_NOT_FILLED: _ClassVar[RejectReason]
    REJECT_REASON_DUPLICATE_CLIENT_ORDER_ID: _ClassVar[RejectReason]
    REJECT_REASON_MATCHER_OUT_OF_RANGE: _ClassVar[RejectReason]
    REJECT_REASON_MATCHER_INVALID_FIELD: _ClassVar[RejectReason]
    REJECT_REASON_MATCHER_INTERNAL_ERROR: _ClassVar[RejectReason]
SIDE_UNSPECIFIED: Side
SIDE_BUY: Side
SIDE_SELL: Side
ORDER_TYPE_UNSPECIFIED: OrderType
ORDER_TYPE_LIMIT: OrderType
ORDER_TYPE_MARKET: OrderType
TIME_IN_FORCE_UNSPECIFIED: TimeInForce
TIME_IN_FORCE_GTC: TimeInForce
TIME_IN_FORCE_IOC: TimeInForce
TIME_IN_FORCE_FOK: TimeInForce
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_NEW: OrderStatus
ORDER_STATUS_PARTIALLY_FILLED: OrderStatus
ORDER_STATUS_FILLED: OrderStatus
ORDER_STATUS_CANCELED: OrderStatus
ORDER_STATUS_REJECTED: OrderStatus
ORDER_STATUS_EXPIRED: OrderStatus
SELF_TRADE_MODE_UNSPECIFIED: SelfTradeMode
SELF_TRADE_MODE_EXPIRE_TAKER: SelfTradeMode
SELF_TRADE_MODE_EXPIRE_MAKER: SelfTradeMode
SELF_TRADE_MODE_EXPIRE_BOTH: SelfTradeMode
REJECT_REASON_UNSPECIFIED: RejectReason
REJECT_REASON_UNAUTHENTICATED: RejectReason
REJECT_REASON_PERMISSION_DENIED: RejectReason
REJECT_REASON_RATE_LIMITED: RejectReason
REJECT_REASON_INVALID_AMOUNT: RejectReason
REJECT_REASON_INVALID_PRICE: RejectReason
REJECT_REASON_INVALID_QUANTITY: RejectReason
REJECT_REASON_BELOW_MIN_NOTIONAL: RejectReason
REJECT_REASON_UNKNOWN_MARKET: RejectReason
REJECT_REASON_UNKNOWN_ASSET: RejectReason
REJECT_REASON_INVALID_ORDER: RejectReason
REJECT_REASON_MISSING_FIELD: RejectReason
REJECT_REASON_INVALID_REQUEST: RejectReason
REJECT_REASON_NOT_FOUND: RejectReason
REJECT_REASON_SERVICE_UNAVAILABLE: RejectReason
REJECT_REASON_TIMEOUT: RejectReason
REJECT_REASON_INSUFFICIENT_FUNDS: RejectReason
REJECT_REASON_BALANCE_OVERFLOW: RejectReason
REJECT_REASON_ORDER_NOT_OPEN: RejectReason
REJECT_REASON_DUPLICATE_REQUEST: RejectReason
REJECT_REASON_UBSCORE_UNKNOWN_MARKET: RejectReason
REJECT_REASON_UBSCORE_INVALID_ORDER: RejectReason
REJECT_REASON_UBSCORE_PRICE_OFF_TICK: RejectReason
REJECT_REASON_UBSCORE_PRICE_OUT_OF_RANGE: RejectReason
REJECT_REASON_UBSCORE_QUANTITY_OFF_LOT: RejectReason
REJECT_REASON_UBSCORE_QUANTITY_OUT_OF_RANGE: RejectReason
REJECT_REASON_UBSCORE_BELOW_MIN_NOTIONAL: RejectReason
REJECT_REASON_UBSCORE_BUDGET_OUT_OF_RANGE: RejectReason
REJECT_REASON_UBSCORE_BUSY: RejectReason
REJECT_REASON_UBSCORE_UNKNOWN_ASSET: RejectReason
REJECT_REASON_UBSCORE_INVALID_AMOUNT: RejectReason
REJECT_REASON_UBSCORE_DEADLINE_EXCEEDED: RejectReason
REJECT_REASON_UBSCORE_MISSING_FIELD: RejectReason
REJECT_REASON_UNKNOWN_ORDER: RejectReason
REJECT_REASON_POST_ONLY_WOULD_TAKE: RejectReason
REJECT_REASON_FOK_NOT_FILLABLE: RejectReason
REJECT_REASON_DUPLICATE_ORDER_ID: RejectReason
REJECT_REASON_MATCHER_UNKNOWN_MARKET: RejectReason
REJECT_REASON_SELF_TRADE_PREVENTED: RejectReason
REJECT_REASON_NO_LIQUIDITY: RejectReason
REJECT_REASON_MATCHER_INVALID_ORDER: RejectReason
REJECT_REASON_IOC_NOT_FILLED: RejectReason
REJECT_REASON_DUPLICATE_CLIENT_ORDER_ID: RejectReason
REJECT_REASON_MATCHER_OUT_OF_RANGE: RejectReason
REJECT_REASON_MATCHER_INVALID_FIELD: RejectReason
REJECT_REASON_MATCHER_INTERNAL_ERROR: RejectReason

class Heartbeat(_message.Message):
    __slots__ = ("server_time_ns",)
    SERVER_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    server_time_ns: int
    def __init__(self, server_time_ns: _Optional[int] = ...) -> None: ...
