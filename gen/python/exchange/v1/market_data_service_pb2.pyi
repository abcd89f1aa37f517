from exchange.v1 import common_pb2 as _common_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MarketInfo(_message.Message):
    __slots__ = ("symbol", "base_asset", "quote_asset", "tick", "lot", "min_quantity", "min_notional", "maker_fee_rate", "taker_fee_rate", "max_price", "max_quantity", "base_scale", "quote_scale")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    BASE_ASSET_FIELD_NUMBER: _ClassVar[int]
    QUOTE_ASSET_FIELD_NUMBER: _ClassVar[int]
    TICK_FIELD_NUMBER: _ClassVar[int]
    LOT_FIELD_NUMBER: _ClassVar[int]
    MIN_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    MIN_NOTIONAL_FIELD_NUMBER: _ClassVar[int]
    MAKER_FEE_RATE_FIELD_NUMBER: _ClassVar[int]
    TAKER_FEE_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_PRICE_FIELD_NUMBER: _ClassVar[int]
    MAX_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    BASE_SCALE_FIELD_NUMBER: _ClassVar[int]
    QUOTE_SCALE_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    base_asset: str
    quote_asset: str
    tick: str
    lot: str
    min_quantity: str
    min_notional: str
    maker_fee_rate: str
    taker_fee_rate: str
    max_price: str
    max_quantity: str
    base_scale: int
    quote_scale: int
    def __init__(self, symbol: _Optional[str] = ..., base_asset: _Optional[str] = ..., quote_asset: _Optional[str] = ..., tick: _Optional[str] = ..., lot: _Optional[str] = ..., min_quantity: _Optional[str] = ..., min_notional: _Optional[str] = ..., maker_fee_rate: _Optional[str] = ..., taker_fee_rate: _Optional[str] = ..., max_price: _Optional[str] = ..., max_quantity: _Optional[str] = ..., base_scale: _Optional[int] = ..., quote_scale: _Optional[int] = ...) -> None: ...

class ListMarketsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMarketsResponse(_message.Message):
    __slots__ = ("markets",)
    MARKETS_FIELD_NUMBER: _ClassVar[int]
    markets: _containers.RepeatedCompositeFieldContainer[MarketInfo]
    def __init__(self, markets: _Optional[_Iterable[_Union[MarketInfo, _Mapping]]] = ...) -> None: ...

class PriceLevel(_message.Message):
    __slots__ = ("price", "quantity")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    price: str
    quantity: str
    def __init__(self, price: _Optional[str] = ..., quantity: _Optional[str] = ...) -> None: ...

class GetOrderBookRequest(_message.Message):
    __slots__ = ("symbol", "depth")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    depth: int
    def __init__(self, symbol: _Optional[str] = ..., depth: _Optional[int] = ...) -> None: ...

class GetOrderBookResponse(_message.Message):
    __slots__ = ("symbol", "bids", "asks", "seq")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    BIDS_FIELD_NUMBER: _ClassVar[int]
    ASKS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    bids: _containers.RepeatedCompositeFieldContainer[PriceLevel]
    asks: _containers.RepeatedCompositeFieldContainer[PriceLevel]
    seq: int
    def __init__(self, symbol: _Optional[str] = ..., bids: _Optional[_Iterable[_Union[PriceLevel, _Mapping]]] = ..., asks: _Optional[_Iterable[_Union[PriceLevel, _Mapping]]] = ..., seq: _Optional[int] = ...) -> None: ...

class PublicTrade(_message.Message):
    __slots__ = ("trade_id", "symbol", "price", "quantity", "taker_side", "ts_event_ns")
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TAKER_SIDE_FIELD_NUMBER: _ClassVar[int]
    TS_EVENT_NS_FIELD_NUMBER: _ClassVar[int]
    trade_id: int
    symbol: str
    price: str
    quantity: str
    taker_side: _common_pb2.Side
    ts_event_ns: int
    def __init__(self, trade_id: _Optional[int] = ..., symbol: _Optional[str] = ..., price: _Optional[str] = ..., quantity: _Optional[str] = ..., taker_side: _Optional[_Union[_common_pb2.Side, str]] = ..., ts_event_ns: _Optional[int] = ...) -> None: ...

class ListTradesRequest(_message.Message):
    __slots__ = ("symbol", "page_size", "page_token", "start_time_ns", "end_time_ns")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    page_size: int
    page_token: str
    start_time_ns: int
    end_time_ns: int
    def __init__(self, symbol: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., start_time_ns: _Optional[int] = ..., end_time_ns: _Optional[int] = ...) -> None: ...

class ListTradesResponse(_message.Message):
    __slots__ = ("trades", "next_page_token")
    TRADES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    trades: _containers.RepeatedCompositeFieldContainer[PublicTrade]
    next_page_token: str
    def __init__(self, trades: _Optional[_Iterable[_Union[PublicTrade, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StreamMarketDataRequest(_message.Message):
    __slots__ = ("symbols", "depth")
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    depth: int
    def __init__(self, symbols: _Optional[_Iterable[str]] = ..., depth: _Optional[int] = ...) -> None: ...

class BookSnapshot(_message.Message):
    __slots__ = ("symbol", "bids", "asks")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    BIDS_FIELD_NUMBER: _ClassVar[int]
    ASKS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    bids: _containers.RepeatedCompositeFieldContainer[PriceLevel]
    asks: _containers.RepeatedCompositeFieldContainer[PriceLevel]
    def __init__(self, symbol: _Optional[str] = ..., bids: _Optional[_Iterable[_Union[PriceLevel, _Mapping]]] = ..., asks: _Optional[_Iterable[_Union[PriceLevel, _Mapping]]] = ...) -> None: ...

class BookUpdate(_message.Message):
    __slots__ = ("symbol", "side", "price", "quantity")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    side: _common_pb2.Side
    price: str
    quantity: str
    def __init__(self, symbol: _Optional[str] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., price: _Optional[str] = ..., quantity: _Optional[str] = ...) -> None: ...

class StreamMarketDataResponse(_message.Message):
    __slots__ = ("seq", "book_update", "trade", "book_snapshot", "heartbeat")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    BOOK_UPDATE_FIELD_NUMBER: _ClassVar[int]
    TRADE_FIELD_NUMBER: _ClassVar[int]
    BOOK_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    book_update: BookUpdate
    trade: PublicTrade
    book_snapshot: BookSnapshot
    heartbeat: _common_pb2.Heartbeat
    def __init__(self, seq: _Optional[int] = ..., book_update: _Optional[_Union[BookUpdate, _Mapping]] = ..., trade: _Optional[_Union[PublicTrade, _Mapping]] = ..., book_snapshot: _Optional[_Union[BookSnapshot, _Mapping]] = ..., heartbeat: _Optional[_Union[_common_pb2.Heartbeat, _Mapping]] = ...) -> None: ...

class GetServerTimeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServerTimeResponse(_message.Message):
    __slots__ = ("server_time_ns",)
    SERVER_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    server_time_ns: int
    def __init__(self, server_time_ns: _Optional[int] = ...) -> None: ...
