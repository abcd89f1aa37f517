"""The matcher's input checks (matcher/checks.py, matcher/README.md "Input checks"), on both books and the engine.

Each test places a refused order next to a resting book and checks the outcome (a REJECTED update when the order has
an id, so UBSCore releases its funds; a rejection otherwise) and that nothing else changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from common.enums import OrderStatus, OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from common.markets import Market, load_catalog
from exchange.v1 import order_pb2
from matcher.book import Book
from matcher.book_reference import ReferenceBook
from matcher.codec import build_output
from matcher.commands import CancelOrder, PlaceOrder
from matcher.engine import Engine
from matcher.events import CancelRejected, EngineResult, PlaceRejected

# base_scale 0: notional = price * qty. Maxima: price 1000, qty 100, so the max notional is 100_000.
SMALL = Market(
    symbol="T_Q", market_id=7, base_asset="T", quote_asset="Q", base_asset_id=70, quote_asset_id=71, base_scale=0,
    quote_scale=0, tick_units=1, lot_units=1, min_qty_units=1, min_notional_units=1, maker_fee_ppm=0,
    taker_fee_ppm=0, max_price_units=1_000, max_qty_units=100,
)  # fmt: skip
BookFactory = Callable[[Market], Book | ReferenceBook]
BUY, SELL = Side.BUY, Side.SELL
UNKNOWN_ENUM = 9  # a number none of these enums has (say, a value a newer proto added)
INT64_MAX = 2**63 - 1
MARKETS = load_catalog().markets


def order(order_id: int, side: Side | int = BUY, **fields: Any) -> PlaceOrder:
    values: dict[str, Any] = {
        "symbol": SMALL.symbol, "order_id": order_id, "user_id": 1, "side": side, "order_type": OrderType.LIMIT,
        "time_in_force": TimeInForce.GTC, "price_units": 100, "qty_units": 10, "ts_event_ns": order_id,
    }  # fmt: skip
    values.update(fields)
    return PlaceOrder(**values)


def market_buy(order_id: int, budget_units: int, *, user_id: int = 1) -> PlaceOrder:
    return order(order_id, BUY, order_type=OrderType.MARKET, price_units=0, qty_units=0, user_id=user_id,
                 time_in_force=TimeInForce.UNSPECIFIED, quote_budget_units=budget_units)  # fmt: skip


def book_with_asks(make_book: BookFactory) -> Book | ReferenceBook:
    """Asks of user 2: 60 at 200 and 60 at 300 (order ids 1 and 2)."""
    book = make_book(SMALL)
    book.place(order(1, SELL, user_id=2, price_units=200, qty_units=60))
    book.place(order(2, SELL, user_id=2, price_units=300, qty_units=60))
    return book


def only_update(result: EngineResult) -> Any:
    assert result.trades == []
    assert result.book_changes == []
    assert result.rejections == []
    (update,) = result.order_updates
    return update


def state_without_last_id(book: Book | ReferenceBook) -> dict[str, Any]:
    state = book.snapshot()
    del state["last_order_id"]
    return state


@pytest.mark.parametrize(
    "fields",
    [
        {"side": UNKNOWN_ENUM},
        {"order_type": UNKNOWN_ENUM},
        {"time_in_force": UNKNOWN_ENUM},
        {"self_trade_mode": UNKNOWN_ENUM},
        {"user_id": 0},
    ],
    ids=["side", "order_type", "time_in_force", "self_trade_mode", "user_0"],
)
def test_order_with_unknown_enum_or_user_0_is_rejected_invalid_field_and_releases_funds(
    make_book: BookFactory, fields: dict[str, Any]
) -> None:
    """Item 9: an order the matcher cannot read gets one REJECTED(MATCHER_INVALID_FIELD) update with nothing filled
    (a consumer that releases funds on a final REJECTED releases them all), and the book does not move."""
    book = book_with_asks(make_book)
    before = state_without_last_id(book)
    cmd = order(3, **{"price_units": 300, **fields})  # would cross both asks if it were valid

    update = only_update(book.place(cmd))

    assert (update.order_id, update.status, update.reason) == (
        3,
        OrderStatus.REJECTED,
        RejectReason.MATCHER_INVALID_FIELD,
    )
    assert (update.filled_qty_units, update.filled_quote_units, update.remaining_qty_units) == (0, 0, 0)
    assert state_without_last_id(book) == before


def test_redelivered_invalid_order_gets_no_second_rejected_update(make_book: BookFactory) -> None:
    """The refused order's id is consumed: a redelivery is a PlaceRejected(DUPLICATE_ORDER_ID), so no consumer
    releases the funds twice."""
    book = book_with_asks(make_book)
    cmd = order(3, side=UNKNOWN_ENUM)
    assert only_update(book.place(cmd)).status == OrderStatus.REJECTED

    result = book.place(cmd)

    assert result.order_updates == []
    assert result.trades == []
    assert [r.reason for r in result.rejections] == [RejectReason.DUPLICATE_ORDER_ID]


def test_order_id_0_is_invalid_field_not_duplicate_and_consumes_nothing(make_book: BookFactory) -> None:
    """Order id 0 names no order: a PlaceRejected(MATCHER_INVALID_FIELD), and the last id seen does not move."""
    book = book_with_asks(make_book)
    before = book.snapshot()

    result = book.place(order(0))

    assert result.order_updates == []
    assert result.rejections == [
        PlaceRejected(symbol=SMALL.symbol, order_id=0, user_id=1, client_order_id="",
                      reason=RejectReason.MATCHER_INVALID_FIELD, ts_event_ns=0)
    ]  # fmt: skip
    assert book.snapshot() == before
    assert book.place(order(3, price_units=100)).order_updates[0].status == OrderStatus.NEW


def test_lower_order_id_is_a_duplicate(make_book: BookFactory) -> None:
    """Ids increase per market (UBSCore numbers orders densely and a market lives on one partition), so an id
    below the last one seen can only be a late redelivery: a PlaceRejected(DUPLICATE_ORDER_ID)."""
    book = book_with_asks(make_book)
    book.place(order(10, price_units=100))
    before = book.snapshot()

    result = book.place(order(5, price_units=100))

    assert [(r.order_id, r.reason) for r in result.rejections] == [(5, RejectReason.DUPLICATE_ORDER_ID)]
    assert book.snapshot() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"price_units": 1_001},
        {"qty_units": 101},
        {"price_units": INT64_MAX + 1},
        {"qty_units": 2**80},
        {"order_type": OrderType.MARKET, "price_units": 0, "side": SELL, "qty_units": 101},
        {"order_type": OrderType.MARKET, "price_units": 0, "qty_units": 0, "quote_budget_units": 100_001},
        {"order_type": OrderType.MARKET, "price_units": 0, "qty_units": 0, "quote_budget_units": 2**64},
    ],
    ids=["price", "qty", "price_int64", "qty_huge", "market_sell_qty", "market_buy_budget", "budget_huge"],
)
def test_order_beyond_the_market_maxima_is_rejected_out_of_range_before_any_change(
    make_book: BookFactory, fields: dict[str, Any]
) -> None:
    """Price, quantity or budget above the maxima (and so anything beyond int64) is REJECTED(MATCHER_OUT_OF_RANGE)."""
    book = book_with_asks(make_book)
    before = state_without_last_id(book)

    update = only_update(book.place(order(3, **fields)))

    assert (update.status, update.reason) == (OrderStatus.REJECTED, RejectReason.MATCHER_OUT_OF_RANGE)
    assert state_without_last_id(book) == before


def test_order_at_the_market_maxima_is_accepted(make_book: BookFactory) -> None:
    """The maxima themselves are allowed: a buy of 100 at 1000 takes both asks and rests the rest."""
    book = book_with_asks(make_book)

    result = book.place(order(3, price_units=1_000, qty_units=100))

    assert [t.qty_units for t in result.trades] == [60, 40]
    assert result.order_updates[0].status == OrderStatus.FILLED


def test_market_buy_whose_budget_cannot_buy_one_lot_expires_invalid_order_not_no_liquidity(
    make_book: BookFactory,
) -> None:
    """Liquidity is there (ask 60 at 200) but a budget of 199 cannot buy one lot: EXPIRED(MATCHER_INVALID_ORDER),
    the whole budget unspent, the book untouched."""
    book = book_with_asks(make_book)
    before = state_without_last_id(book)

    update = only_update(book.place(market_buy(3, 199)))

    assert (update.status, update.reason) == (OrderStatus.EXPIRED, RejectReason.MATCHER_INVALID_ORDER)
    assert (update.filled_qty_units, update.remaining_quote_units) == (0, 199)
    assert state_without_last_id(book) == before


def test_market_buy_on_an_empty_side_still_expires_no_liquidity(make_book: BookFactory) -> None:
    """With no ask at all the reason stays NO_LIQUIDITY."""
    book = make_book(SMALL)

    update = only_update(book.place(market_buy(1, 5_000)))

    assert (update.status, update.reason) == (OrderStatus.EXPIRED, RejectReason.NO_LIQUIDITY)


def test_market_buy_never_buys_more_than_max_qty(make_book: BookFactory) -> None:
    """A market buy with a budget for more stops at max_qty (100): FILLED, the rest of the budget unspent. This is
    what keeps its fill total (it buys at any price up to max_price) within max_notional."""
    book = book_with_asks(make_book)

    result = book.place(market_buy(3, 100_000))

    assert [t.qty_units for t in result.trades] == [60, 40]
    taker = result.order_updates[0]
    assert (taker.status, taker.filled_qty_units) == (OrderStatus.FILLED, 100)
    assert taker.remaining_quote_units == 100_000 - (60 * 200 + 40 * 300)
    assert book.depth(5) == ([], [(300, 20)])


@pytest.mark.parametrize(
    ("cancel", "reason"),
    [
        (CancelOrder(symbol=SMALL.symbol, user_id=0, order_id=1, ts_event_ns=1), RejectReason.MATCHER_INVALID_FIELD),
        (CancelOrder(symbol=SMALL.symbol, user_id=2, ts_event_ns=1), RejectReason.MATCHER_INVALID_FIELD),
        (CancelOrder(symbol=SMALL.symbol, user_id=1, order_id=1, ts_event_ns=1), RejectReason.UNKNOWN_ORDER),
    ],
    ids=["user_0", "names_no_order", "other_users_order"],
)
def test_unusable_cancel_is_rejected_and_changes_nothing(
    make_book: BookFactory, cancel: CancelOrder, reason: RejectReason
) -> None:
    """A cancel with user 0 or naming no order is MATCHER_INVALID_FIELD; another user's order stays UNKNOWN_ORDER."""
    book = book_with_asks(make_book)
    before = book.snapshot()

    result = book.cancel(cancel)

    assert result.order_updates == []
    assert [r.reason for r in result.rejections] == [reason]
    assert book.snapshot() == before


def test_both_rejection_events_have_the_same_fields_in_the_same_order_and_are_keyword_only() -> None:
    """Item 11: order_id and user_id sit in the same positions in both rejections, and neither can be built
    positionally, so no call site can swap them."""
    place_fields = [f.name for f in dataclasses.fields(PlaceRejected)]
    cancel_fields = [f.name for f in dataclasses.fields(CancelRejected)]
    assert place_fields == ["symbol", "order_id", "user_id", "client_order_id", "reason", "ts_event_ns"]
    assert cancel_fields == place_fields
    with pytest.raises(TypeError):
        CancelRejected("T_Q", 1, 2, "", RejectReason.UNKNOWN_ORDER, 0)  # type: ignore[misc]


# ---- the engine: symbols without a book, and the overflow sequence of issue 7 item 10 ----------------------------


def test_engine_rejects_an_order_without_symbol_as_invalid_field_once() -> None:
    """An empty symbol gets REJECTED(MATCHER_INVALID_FIELD); its redelivery a PlaceRejected(DUPLICATE_ORDER_ID)."""
    engine = Engine(MARKETS.values())
    cmd = order(5, symbol="")

    first = engine.apply(cmd)
    again = engine.apply(cmd)

    assert [(u.status, u.reason) for u in first.order_updates] == [
        (OrderStatus.REJECTED, RejectReason.MATCHER_INVALID_FIELD)
    ]
    assert again.order_updates == []
    assert [r.reason for r in again.rejections] == [RejectReason.DUPLICATE_ORDER_ID]


def test_engine_rejects_a_redelivered_unknown_market_order_only_once_even_after_restore() -> None:
    """Item 11: the engine remembers the last refused id per unknown symbol (in its snapshot too), so a redelivery
    gets no second REJECTED; another unknown symbol's lower id is still a new order (ids increase per symbol)."""
    engine = Engine(MARKETS.values())
    assert engine.apply(order(7, symbol="DOGE_USDT")).order_updates[0].reason == RejectReason.MATCHER_UNKNOWN_MARKET
    restored = Engine(MARKETS.values())
    restored.restore(engine.snapshot())

    again = restored.apply(order(7, symbol="DOGE_USDT"))
    other = restored.apply(order(3, symbol="PEPE_USDT"))

    assert again.order_updates == []
    assert [r.reason for r in again.rejections] == [RejectReason.DUPLICATE_ORDER_ID]
    assert [(u.order_id, u.reason) for u in other.order_updates] == [(3, RejectReason.MATCHER_UNKNOWN_MARKET)]


def test_engine_rejects_a_cancel_without_symbol_as_invalid_field() -> None:
    """A cancel with no symbol cannot be routed: CancelRejected(MATCHER_INVALID_FIELD)."""
    engine = Engine(MARKETS.values())

    result = engine.apply(CancelOrder(symbol="", user_id=1, order_id=4, ts_event_ns=1))

    assert [r.reason for r in result.rejections] == [RejectReason.MATCHER_INVALID_FIELD]


def test_overflow_sequence_of_item_10_is_refused_at_entry_and_encodes() -> None:
    """Two buys of 1 BTC at 9223372036854770000 (on tick, each notional within int64) then a sell of 2 BTC at a low
    limit: the buys are REJECTED(MATCHER_OUT_OF_RANGE) at entry, so the sell finds nothing to take, and every
    output encodes (before the maxima, the sell's filled_quote_units left int64 and build_output raised)."""
    engine = Engine(MARKETS.values())
    btc = 10**8
    huge_price = 9_223_372_036_854_770_000
    commands = [
        order(1, BUY, symbol="BTC_USDT", user_id=1001, price_units=huge_price, qty_units=btc),
        order(2, BUY, symbol="BTC_USDT", user_id=1002, price_units=huge_price, qty_units=btc),
        order(3, SELL, symbol="BTC_USDT", user_id=1003, price_units=10_000, qty_units=2 * btc,
              self_trade_mode=SelfTradeMode.EXPIRE_TAKER),
    ]  # fmt: skip

    results = [engine.apply(cmd) for cmd in commands]
    for cmd, result in zip(commands, results, strict=True):
        build_output(order_pb2.OrderCommand(command_seq=cmd.order_id), partition=0, offset=0, result=result)

    assert [(u.status, u.reason) for u in results[0].order_updates + results[1].order_updates] == [
        (OrderStatus.REJECTED, RejectReason.MATCHER_OUT_OF_RANGE)
    ] * 2
    assert results[2].trades == []
    assert results[2].order_updates[0].status == OrderStatus.NEW
    assert engine.depth("BTC_USDT", 5) == ([], [(10_000, 2 * btc)])
