"""Property tests of the matcher core: the fast book equals the naive reference book, and the book invariants hold.

Hypothesis draws streams of orders and cancels on a small price grid (so orders cross, queue and self-trade
often), with a few users, every order type and time in force, STP modes, client order ids, duplicates and
invalid orders.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.enums import OrderStatus, OrderType, SelfTradeMode, Side, TimeInForce
from common.markets import Market
from common.money import fee_units
from matcher.book import Book
from matcher.book_reference import ReferenceBook
from matcher.commands import CancelOrder, Command, PlaceOrder
from matcher.events import CancelRejected, EngineResult

# base_scale 2 with tick 10 and lot 10: notionals are exact but need the division by 10**2. The maxima sit inside
# the drawn ranges (prices 950..1050, quantities 10..80, budgets 1..700), so orders beyond them are drawn often,
# and a market buy hits max_qty (50) before its budget runs out (max notional 1040 x 50 / 100 = 520).
MARKET = Market(
    symbol="B_Q", market_id=3, base_asset="B", quote_asset="Q", base_asset_id=30, quote_asset_id=31,
    base_scale=2, quote_scale=2, tick_units=10, lot_units=10, min_qty_units=10, min_notional_units=1,
    maker_fee_ppm=1_000, taker_fee_ppm=2_500, max_price_units=1_040, max_qty_units=50,
)  # fmt: skip
UNKNOWN_ENUM = 9  # a number no exchange.v1 enum used here has (a newer proto value, say)
INT64_MAX = 2**63 - 1
BAD_FIELDS = ["side", "order_type", "time_in_force", "self_trade_mode", "user_id", "order_id"]
OPEN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


@st.composite
def command_streams(draw: st.DrawFn, max_size: int = 120) -> list[Command]:
    """A stream of place/cancel commands; order ids increase except for deliberate duplicates."""
    commands: list[Command] = []
    next_id = 1
    placed: list[PlaceOrder] = []
    for step in range(draw(st.integers(0, max_size))):
        kinds = ["limit"] * 6 + ["market", "cancel", "cancel_coid", "duplicate", "invalid", "bad_field", "huge"]
        kind = draw(st.sampled_from(kinds))
        user = draw(st.integers(1, 3))
        coid = draw(st.sampled_from(["", "", "a", "b"]))
        if kind == "cancel" and placed:
            target = draw(st.sampled_from(placed))
            order_id = target.order_id if draw(st.booleans()) else draw(st.integers(1, next_id + 2))
            commands.append(
                CancelOrder(symbol=MARKET.symbol, user_id=target.user_id, order_id=order_id, ts_event_ns=step)
            )
            continue
        if kind == "cancel_coid":
            commands.append(CancelOrder(symbol=MARKET.symbol, user_id=user, client_order_id=coid, ts_event_ns=step))
            continue
        if kind == "duplicate" and placed:
            commands.append(draw(st.sampled_from(placed)))
            continue
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        stp = draw(st.sampled_from(list(SelfTradeMode)))
        fields: dict[str, Any] = {
            "symbol": MARKET.symbol, "order_id": next_id, "user_id": user, "client_order_id": coid, "side": side,
            "self_trade_mode": stp, "ts_event_ns": step,
        }  # fmt: skip
        if kind == "market":
            fields["order_type"] = OrderType.MARKET
            if side == Side.BUY:
                fields["quote_budget_units"] = draw(st.integers(1, 700))
            else:
                fields["qty_units"] = 10 * draw(st.integers(1, 8))
        else:
            tif = draw(st.sampled_from([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK]))
            post_only = tif == TimeInForce.GTC and draw(st.integers(0, 5)) == 0
            fields.update(
                order_type=OrderType.LIMIT, time_in_force=tif, price_units=10 * draw(st.integers(95, 105)),
                qty_units=10 * draw(st.integers(1, 6)), post_only=post_only,
            )  # fmt: skip
            if kind == "invalid":
                fields["price_units"] += draw(st.sampled_from([1, -1000]))
            if kind == "huge":  # beyond the maxima and beyond int64: refused before anything changes
                huge_units = 10 * draw(st.integers(INT64_MAX // 20, 2**70))
                fields[draw(st.sampled_from(["price_units", "qty_units"]))] = huge_units
        if kind == "bad_field":
            field = draw(st.sampled_from(BAD_FIELDS))
            fields[field] = 0 if field in ("user_id", "order_id") else UNKNOWN_ENUM
        order = PlaceOrder(**fields)
        commands.append(order)
        placed.append(order)
        next_id += draw(st.sampled_from([1, 1, 1, 2]))
    return commands


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_streams())
def test_fast_book_matches_reference_book(commands: list[Command]) -> None:
    """Same commands into both books give the same results in the same order, the same depth and snapshot."""
    fast, reference = Book(MARKET), ReferenceBook(MARKET)
    for cmd in commands:
        apply_fast = fast.place if isinstance(cmd, PlaceOrder) else fast.cancel
        apply_reference = reference.place if isinstance(cmd, PlaceOrder) else reference.cancel
        assert apply_fast(cmd) == apply_reference(cmd), cmd  # type: ignore[arg-type]
        assert fast.depth(50) == reference.depth(50)
    assert fast.snapshot() == reference.snapshot()


@settings(max_examples=150, deadline=None)
@given(command_streams(), st.data())
def test_snapshot_restore_mid_stream_continues_identically(commands: list[Command], data: st.DataObject) -> None:
    """A fast book restored from a snapshot taken at any point answers the rest of the stream identically."""
    cut = data.draw(st.integers(0, len(commands)))
    book = Book(MARKET)
    for cmd in commands[:cut]:
        _apply(book, cmd)
    restored = Book(MARKET)
    restored.restore(book.snapshot())
    for cmd in commands[cut:]:
        assert _apply(restored, cmd) == _apply(book, cmd)


def _apply(book: Book, cmd: Command) -> EngineResult:
    return book.place(cmd) if isinstance(cmd, PlaceOrder) else book.cancel(cmd)


@settings(max_examples=300, deadline=None)
@given(command_streams())
def test_book_invariants_hold_after_every_command(commands: list[Command]) -> None:
    """No crossed book, quantities conserved, FIFO, FOK all-or-nothing, IOC/market never rest, post-only never
    takes, no self-trades, trades within the taker's limit, fees as specified, cancels of dead orders rejected."""
    book = Book(MARKET)
    open_orders: dict[int, int] = {}  # order_id -> open qty, per the updates
    filled_by_trades: dict[int, int] = defaultdict(int)
    for cmd in commands:
        result = _apply(book, cmd)
        for trade in result.trades:
            filled_by_trades[trade.maker_order_id] += trade.qty_units
            filled_by_trades[trade.taker_order_id] += trade.qty_units
        for update in result.order_updates:
            assert update.filled_qty_units == filled_by_trades[update.order_id]
            if update.status in OPEN:
                open_orders[update.order_id] = update.remaining_qty_units
                assert update.filled_qty_units + update.remaining_qty_units == update.qty_units
            else:
                open_orders.pop(update.order_id, None)
                assert update.remaining_qty_units == 0
        _check_command(cmd, result, open_orders)
        bids, asks = book.depth(1_000)
        if bids and asks:
            assert bids[0][0] < asks[0][0], "crossed book"
        assert sum(q for _, q in bids + asks) == sum(open_orders.values())


def _check_command(cmd: Command, result: EngineResult, open_orders: dict[int, int]) -> None:
    if isinstance(cmd, CancelOrder):
        if cmd.order_id and cmd.order_id not in open_orders and result.rejections:
            assert isinstance(result.rejections[0], CancelRejected)
        if cmd.order_id and result.order_updates:
            assert result.order_updates[0].status == OrderStatus.CANCELED
        return
    trades = result.trades
    for trade in trades:
        assert trade.maker_user_id != trade.taker_user_id, "self-trade"
        assert trade.quote_qty_units * 10**MARKET.base_scale == trade.price_units * trade.qty_units
        buyer_gets_base = trade.taker_side == Side.BUY
        assert trade.taker_fee_units == fee_units(
            trade.qty_units if buyer_gets_base else trade.quote_qty_units, MARKET.taker_fee_ppm
        )
        assert trade.maker_fee_units == fee_units(
            trade.quote_qty_units if buyer_gets_base else trade.qty_units, MARKET.maker_fee_ppm
        )
        if cmd.order_type == OrderType.LIMIT:
            assert (
                trade.price_units <= cmd.price_units if cmd.side == Side.BUY else trade.price_units >= cmd.price_units
            )
    for earlier, later in itertools.pairwise(trades):
        if earlier.price_units == later.price_units:
            assert earlier.maker_order_id < later.maker_order_id, "FIFO within a level"
        else:
            assert (earlier.price_units < later.price_units) == (cmd.side == Side.BUY), "best price first"
    if not result.order_updates:
        return
    own = result.order_updates[0]
    assert own.filled_quote_units <= MARKET.max_notional_units, "one order's fills beyond the market's bound"
    assert own.filled_qty_units <= MARKET.max_qty_units
    if cmd.price_units > MARKET.max_price_units or cmd.qty_units > MARKET.max_qty_units:
        assert own.status == OrderStatus.REJECTED, "beyond the maxima must be refused before anything changes"
        assert len(result.order_updates) == 1
    if cmd.post_only:
        assert trades == []
    if cmd.order_type == OrderType.MARKET or cmd.time_in_force != TimeInForce.GTC:
        assert own.status not in OPEN, "IOC, FOK and market orders never rest"
    if own.status == OrderStatus.REJECTED:
        assert trades == []
        return
    if cmd.time_in_force == TimeInForce.FOK and cmd.order_type == OrderType.LIMIT:
        assert (own.status, own.filled_qty_units) in ((OrderStatus.FILLED, cmd.qty_units), (OrderStatus.EXPIRED, 0))
    if cmd.order_type == OrderType.MARKET and cmd.side == Side.BUY:
        assert own.filled_quote_units + own.remaining_quote_units == cmd.quote_budget_units
        assert own.remaining_quote_units >= 0
