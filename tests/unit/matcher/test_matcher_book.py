"""Unit tests of one market's book: each rule of matcher/book_reference.py's docstring, on every book."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from common.enums import OrderStatus, OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from common.markets import Market
from matcher.book import Book
from matcher.book_reference import ReferenceBook
from matcher.commands import CancelOrder, PlaceOrder
from matcher.events import BookLevelChanged, CancelRejected, OrderUpdated, PlaceRejected

# base_scale 0 keeps the arithmetic readable: notional = price * qty. Fees: maker 0.1 %, taker 0.2 %.
SIMPLE = Market(
    symbol="T_Q",
    market_id=7,
    base_asset="T",
    quote_asset="Q",
    base_asset_id=70,
    quote_asset_id=71,
    base_scale=0,
    quote_scale=0,
    tick_units=1,
    lot_units=1,
    min_qty_units=1,
    min_notional_units=1,
    maker_fee_ppm=1_000,
    taker_fee_ppm=2_000,
    max_price_units=1_000_000,
    max_qty_units=1_000_000,
)

BookFactory = Callable[[Market], Book | ReferenceBook]
BUY, SELL = Side.BUY, Side.SELL
_ids = itertools.count(1)


def limit(
    side: Side, price: int, qty: int, *, user: int = 1, tif: TimeInForce = TimeInForce.GTC, **kw: Any
) -> PlaceOrder:
    return PlaceOrder(
        symbol=SIMPLE.symbol, order_id=next(_ids), user_id=user, side=side, order_type=OrderType.LIMIT,
        time_in_force=tif, price_units=price, qty_units=qty, ts_event_ns=1_000, **kw,
    )  # fmt: skip


def market_sell(qty: int, *, user: int = 1) -> PlaceOrder:
    return PlaceOrder(
        symbol=SIMPLE.symbol, order_id=next(_ids), user_id=user, side=SELL, order_type=OrderType.MARKET,
        qty_units=qty, ts_event_ns=2_000,
    )  # fmt: skip


def market_buy(budget: int, *, user: int = 1) -> PlaceOrder:
    return PlaceOrder(
        symbol=SIMPLE.symbol, order_id=next(_ids), user_id=user, side=BUY, order_type=OrderType.MARKET,
        quote_budget_units=budget, ts_event_ns=3_000,
    )  # fmt: skip


def final(result: Any) -> OrderUpdated:
    """The command's own order update is always the first one."""
    return result.order_updates[0]


def test_place_gtc_on_empty_book_rests_as_new(make_book: BookFactory) -> None:
    """A GTC limit that crosses nothing rests: status NEW, full remaining, one level appears."""
    book = make_book(SIMPLE)
    result = book.place(limit(BUY, 100, 5))
    update = final(result)
    assert (update.status, update.remaining_qty_units, update.filled_qty_units) == (OrderStatus.NEW, 5, 0)
    assert result.trades == []
    assert result.book_changes == [BookLevelChanged(BUY, 100, 5)]
    assert book.depth(10) == ([(100, 5)], [])


def test_place_crossing_buy_trades_at_maker_price_and_shows_improvement(make_book: BookFactory) -> None:
    """A buy limit at 105 against an ask at 100 trades at 100; its update keeps the limit 105 for the release."""
    book = make_book(SIMPLE)
    maker = limit(SELL, 100, 3, user=2)
    book.place(maker)
    taker = limit(BUY, 105, 3, user=1)
    result = book.place(taker)
    (trade,) = result.trades
    assert (trade.price_units, trade.qty_units, trade.quote_qty_units) == (100, 3, 300)
    assert (trade.maker_order_id, trade.taker_order_id, trade.maker_user_id, trade.taker_user_id) == (
        maker.order_id, taker.order_id, 2, 1,
    )  # fmt: skip
    assert (trade.maker_side, trade.taker_side) == (SELL, BUY)
    taker_update, maker_update = result.order_updates
    assert (maker_update.order_id, maker_update.status, maker_update.filled_quote_units) == (
        maker.order_id, OrderStatus.FILLED, 300,
    )  # fmt: skip
    assert (taker_update.status, taker_update.price_units, taker_update.filled_quote_units) == (
        OrderStatus.FILLED, 105, 300,
    )  # fmt: skip
    assert result.book_changes == [BookLevelChanged(SELL, 100, 0)]


def test_fees_are_charged_on_the_received_asset_rounded_up(make_book: BookFactory) -> None:
    """Maker buyer pays 0.1 % of base received, taker seller 0.2 % of quote received, both rounded up."""
    book = make_book(SIMPLE)
    book.place(limit(BUY, 1_000, 1_500, user=2))
    (trade,) = book.place(limit(SELL, 1_000, 1_500, user=1)).trades
    assert trade.quote_qty_units == 1_500_000
    assert trade.maker_fee_units == 2  # ceil(1500 * 0.001) = ceil(1.5)
    assert trade.taker_fee_units == 3_000  # 1_500_000 * 0.002


def test_trade_ids_embed_market_id_and_count_from_one(make_book: BookFactory) -> None:
    """trade_id = market_id << 40 | per-market sequence."""
    book = make_book(SIMPLE)
    book.place(limit(SELL, 100, 1, user=2))
    book.place(limit(SELL, 101, 1, user=2))
    trades = book.place(limit(BUY, 101, 2)).trades
    assert [t.trade_id for t in trades] == [(7 << 40) | 1, (7 << 40) | 2]


def test_same_price_fills_first_in_first_out(make_book: BookFactory) -> None:
    """Two asks at one price: the earlier one fills first; the later one is partially filled."""
    book = make_book(SIMPLE)
    first, second = limit(SELL, 100, 2, user=2), limit(SELL, 100, 2, user=3)
    book.place(first)
    book.place(second)
    result = book.place(limit(BUY, 100, 3))
    assert [t.maker_order_id for t in result.trades] == [first.order_id, second.order_id]
    assert [u.status for u in result.order_updates[1:]] == [OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED]
    assert result.order_updates[2].remaining_qty_units == 1
    assert result.book_changes == [BookLevelChanged(SELL, 100, 1)]


def test_better_price_fills_before_earlier_order(make_book: BookFactory) -> None:
    """A cheaper ask placed later still fills before a dearer ask placed earlier."""
    book = make_book(SIMPLE)
    dear, cheap = limit(SELL, 101, 1, user=2), limit(SELL, 100, 1, user=3)
    book.place(dear)
    book.place(cheap)
    result = book.place(limit(BUY, 101, 2))
    assert [t.maker_order_id for t in result.trades] == [cheap.order_id, dear.order_id]
    assert result.book_changes == [BookLevelChanged(SELL, 100, 0), BookLevelChanged(SELL, 101, 0)]


def test_gtc_partially_filled_rests_remainder(make_book: BookFactory) -> None:
    """A taker larger than the book fills what it can and rests the rest as PARTIALLY_FILLED."""
    book = make_book(SIMPLE)
    book.place(limit(SELL, 100, 2, user=2))
    result = book.place(limit(BUY, 100, 5))
    update = final(result)
    assert (update.status, update.filled_qty_units, update.remaining_qty_units) == (
        OrderStatus.PARTIALLY_FILLED, 2, 3,
    )  # fmt: skip
    assert result.book_changes == [BookLevelChanged(SELL, 100, 0), BookLevelChanged(BUY, 100, 3)]


def test_ioc_remainder_expires_and_never_rests(make_book: BookFactory) -> None:
    """IOC fills what crosses; the remainder expires and the book keeps no bid."""
    book = make_book(SIMPLE)
    book.place(limit(SELL, 100, 2, user=2))
    update = final(book.place(limit(BUY, 100, 5, tif=TimeInForce.IOC)))
    assert (update.status, update.reason, update.filled_qty_units, update.remaining_qty_units) == (
        OrderStatus.EXPIRED, RejectReason.IOC_NOT_FILLED, 2, 0,
    )  # fmt: skip
    assert book.depth(10) == ([], [])


def test_fok_that_cannot_fill_expires_without_trading(make_book: BookFactory) -> None:
    """FOK for more than the reachable quantity expires with FOK_NOT_FILLABLE and leaves the book unchanged."""
    book = make_book(SIMPLE)
    book.place(limit(SELL, 100, 2, user=2))
    book.place(limit(SELL, 102, 5, user=2))
    result = book.place(limit(BUY, 101, 3, tif=TimeInForce.FOK))
    assert result.trades == []
    assert result.book_changes == []
    assert (final(result).status, final(result).reason) == (OrderStatus.EXPIRED, RejectReason.FOK_NOT_FILLABLE)
    assert book.depth(10) == ([], [(100, 2), (102, 5)])


def test_fok_that_can_fill_fills_completely(make_book: BookFactory) -> None:
    """FOK within reach fills across levels."""
    book = make_book(SIMPLE)
    book.place(limit(SELL, 100, 2, user=2))
    book.place(limit(SELL, 101, 5, user=2))
    result = book.place(limit(BUY, 101, 4, tif=TimeInForce.FOK))
    assert final(result).status == OrderStatus.FILLED
    assert sum(t.qty_units for t in result.trades) == 4


def test_post_only_that_would_take_is_rejected(make_book: BookFactory) -> None:
    """Post-only crossing the book is REJECTED with POST_ONLY_WOULD_TAKE; one that does not cross rests."""
    book = make_book(SIMPLE)
    book.place(limit(SELL, 100, 2, user=2))
    rejected = book.place(limit(BUY, 100, 1, post_only=True))
    assert (final(rejected).status, final(rejected).reason) == (
        OrderStatus.REJECTED, RejectReason.POST_ONLY_WOULD_TAKE,
    )  # fmt: skip
    assert rejected.trades == []
    rested = book.place(limit(BUY, 99, 1, post_only=True))
    assert final(rested).status == OrderStatus.NEW


def test_market_sell_walks_levels_then_expires_for_lack_of_liquidity(make_book: BookFactory) -> None:
    """A market sell larger than the bids sells all of them and expires with NO_LIQUIDITY."""
    book = make_book(SIMPLE)
    book.place(limit(BUY, 100, 2, user=2))
    book.place(limit(BUY, 99, 2, user=2))
    result = book.place(market_sell(5))
    assert [(t.price_units, t.qty_units) for t in result.trades] == [(100, 2), (99, 2)]
    update = final(result)
    assert (update.status, update.reason, update.filled_qty_units) == (
        OrderStatus.EXPIRED, RejectReason.NO_LIQUIDITY, 4,
    )  # fmt: skip


def test_market_order_on_empty_book_expires_with_no_liquidity(make_book: BookFactory) -> None:
    """Nothing to trade with: EXPIRED(NO_LIQUIDITY), and a market buy reports its whole budget unspent."""
    book = make_book(SIMPLE)
    update = final(book.place(market_buy(500)))
    assert (update.status, update.reason, update.remaining_quote_units) == (
        OrderStatus.EXPIRED, RejectReason.NO_LIQUIDITY, 500,
    )  # fmt: skip


def test_market_buy_spends_budget_and_reports_unspent_remainder(make_book: BookFactory) -> None:
    """Budget 350 at asks 100x2, 120x5: buys 2 at 100 and 1 at 120; 30 left cannot buy a lot: FILLED, 30 unspent."""
    book = make_book(SIMPLE)
    book.place(limit(SELL, 100, 2, user=2))
    book.place(limit(SELL, 120, 5, user=2))
    result = book.place(market_buy(350))
    assert [(t.price_units, t.qty_units) for t in result.trades] == [(100, 2), (120, 1)]
    update = final(result)
    assert (update.status, update.filled_qty_units, update.filled_quote_units, update.remaining_quote_units) == (
        OrderStatus.FILLED, 3, 320, 30,
    )  # fmt: skip


def test_stp_expire_taker_keeps_maker_and_expires_taker(make_book: BookFactory) -> None:
    """Default mode: the taker trades with others ahead of its own order, then expires at its own order."""
    book = make_book(SIMPLE)
    other, own = limit(SELL, 100, 1, user=2), limit(SELL, 100, 1, user=1)
    book.place(other)
    book.place(own)
    result = book.place(limit(BUY, 100, 3, user=1))
    assert [t.maker_order_id for t in result.trades] == [other.order_id]
    update = final(result)
    assert (update.status, update.reason, update.filled_qty_units) == (
        OrderStatus.EXPIRED, RejectReason.SELF_TRADE_PREVENTED, 1,
    )  # fmt: skip
    assert book.depth(10) == ([], [(100, 1)])


def test_stp_expire_maker_removes_own_maker_and_goes_on(make_book: BookFactory) -> None:
    """EXPIRE_MAKER: the own resting order expires and the taker trades with the next one."""
    book = make_book(SIMPLE)
    own, other = limit(SELL, 100, 1, user=1), limit(SELL, 101, 1, user=2)
    book.place(own)
    book.place(other)
    result = book.place(limit(BUY, 101, 1, user=1, self_trade_mode=SelfTradeMode.EXPIRE_MAKER))
    assert [(u.order_id, u.status, u.reason) for u in result.order_updates[1:2]] == [
        (own.order_id, OrderStatus.EXPIRED, RejectReason.SELF_TRADE_PREVENTED)
    ]
    assert [t.maker_order_id for t in result.trades] == [other.order_id]
    assert final(result).status == OrderStatus.FILLED


def test_stp_expire_both_expires_maker_and_taker(make_book: BookFactory) -> None:
    """EXPIRE_BOTH: the own maker and the taker both expire; nothing trades."""
    book = make_book(SIMPLE)
    own = limit(SELL, 100, 1, user=1)
    book.place(own)
    result = book.place(limit(BUY, 100, 1, user=1, self_trade_mode=SelfTradeMode.EXPIRE_BOTH))
    assert [(u.status, u.reason) for u in result.order_updates] == [
        (OrderStatus.EXPIRED, RejectReason.SELF_TRADE_PREVENTED)
    ] * 2
    assert result.trades == []
    assert book.depth(10) == ([], [])


def test_cancel_by_order_id_and_by_client_order_id(make_book: BookFactory) -> None:
    """Both ways of naming an order cancel it, emit CANCELED and remove its quantity from the level."""
    book = make_book(SIMPLE)
    a, b = limit(BUY, 100, 2, client_order_id="a"), limit(BUY, 100, 3, client_order_id="b")
    book.place(a)
    book.place(b)
    by_id = book.cancel(CancelOrder(symbol=SIMPLE.symbol, user_id=1, order_id=a.order_id, ts_event_ns=5))
    assert (final(by_id).order_id, final(by_id).status) == (a.order_id, OrderStatus.CANCELED)
    assert by_id.book_changes == [BookLevelChanged(BUY, 100, 3)]
    by_coid = book.cancel(CancelOrder(symbol=SIMPLE.symbol, user_id=1, client_order_id="b", ts_event_ns=6))
    assert (final(by_coid).order_id, final(by_coid).ts_event_ns) == (b.order_id, 6)
    assert by_coid.book_changes == [BookLevelChanged(BUY, 100, 0)]


def test_cancel_of_unknown_foreign_or_filled_order_is_rejected(make_book: BookFactory) -> None:
    """Unknown id, another user's order and a filled order all give CancelRejected(UNKNOWN_ORDER)."""
    book = make_book(SIMPLE)
    resting, filled = limit(BUY, 100, 1, user=1), limit(BUY, 101, 1, user=1)
    book.place(resting)
    book.place(filled)
    book.place(limit(SELL, 101, 1, user=2))
    for user_id, order_id in ((1, 999), (2, resting.order_id), (1, filled.order_id)):
        result = book.cancel(CancelOrder(symbol=SIMPLE.symbol, user_id=user_id, order_id=order_id, ts_event_ns=1))
        assert result.rejections == [
            CancelRejected(
                symbol=SIMPLE.symbol, order_id=order_id, user_id=user_id, client_order_id="",
                reason=RejectReason.UNKNOWN_ORDER, ts_event_ns=1,
            )
        ]
        assert result.order_updates == []
        assert result.book_changes == []
    assert book.depth(10) == ([(100, 1)], [])


def test_duplicate_order_id_is_ignored(make_book: BookFactory) -> None:
    """Placing an order id again changes nothing and gives PlaceRejected(DUPLICATE_ORDER_ID)."""
    book = make_book(SIMPLE)
    order = limit(BUY, 100, 1)
    book.place(order)
    result = book.place(order)
    assert result.rejections == [
        PlaceRejected(
            symbol=SIMPLE.symbol, order_id=order.order_id, user_id=1, client_order_id="",
            reason=RejectReason.DUPLICATE_ORDER_ID, ts_event_ns=1_000,
        )
    ]
    assert result.order_updates == []
    assert book.depth(10) == ([(100, 1)], [])


def test_duplicate_resting_client_order_id_is_rejected(make_book: BookFactory) -> None:
    """A second resting order of the same user with the same client order id is REJECTED."""
    book = make_book(SIMPLE)
    book.place(limit(BUY, 100, 1, client_order_id="x"))
    update = final(book.place(limit(BUY, 99, 1, client_order_id="x")))
    assert (update.status, update.reason) == (OrderStatus.REJECTED, RejectReason.DUPLICATE_CLIENT_ORDER_ID)
    other_user = final(book.place(limit(BUY, 99, 1, user=2, client_order_id="x")))
    assert other_user.status == OrderStatus.NEW


def test_invalid_orders_are_rejected(make_book: BookFactory) -> None:
    """Off-lot quantities, zero prices and impossible combinations are REJECTED(INVALID_ORDER)."""
    book = make_book(SIMPLE)
    for cmd in (
        limit(BUY, 0, 1),
        limit(BUY, 100, 0),
        limit(BUY, 100, 1, tif=TimeInForce.IOC, post_only=True),
        limit(BUY, 100, 1, quote_budget_units=5),
        market_buy(0),
    ):
        update = final(book.place(cmd))
        assert (update.status, update.reason) == (OrderStatus.REJECTED, RejectReason.MATCHER_INVALID_ORDER), cmd
    assert book.depth(10) == ([], [])


def test_snapshot_restore_continues_identically(make_book: BookFactory) -> None:
    """A book restored from a snapshot answers the next commands exactly as the original does."""
    book = make_book(SIMPLE)
    for cmd in (limit(BUY, 100, 2), limit(BUY, 100, 1, user=3), limit(SELL, 103, 4, user=2)):
        book.place(cmd)
    copy = make_book(SIMPLE)
    copy.restore(book.snapshot())
    assert copy.snapshot() == book.snapshot()
    for cmd in (limit(SELL, 100, 3, user=2), limit(BUY, 104, 5, user=4)):
        assert copy.place(cmd) == book.place(cmd)


def test_many_cancels_in_one_level_keep_fifo_and_depth(make_book: BookFactory) -> None:
    """Cancelling most of a long queue (the fast book compacts it) keeps time priority and the level's total."""
    book = make_book(SIMPLE)
    orders = [limit(SELL, 100, 1, user=2 + i % 3) for i in range(100)]
    for order in orders:
        book.place(order)
    for order in orders[1:90]:
        book.cancel(CancelOrder(symbol=SIMPLE.symbol, user_id=order.user_id, order_id=order.order_id, ts_event_ns=9))
    assert book.depth(1) == ([], [(100, 11)])
    result = book.place(limit(BUY, 100, 5))
    assert [t.maker_order_id for t in result.trades] == [orders[0].order_id] + [o.order_id for o in orders[90:94]]
    assert result.book_changes == [BookLevelChanged(SELL, 100, 6)]
