"""The fast book's matching loop: a crossing taker against one side of matcher.book.Book.

Kept apart from book.py so each module holds one noun; the loop is written flat on purpose (locals, no helper
calls per maker) because it is the hot path. Rules: matcher/book_reference.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.enums import OrderStatus, OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from matcher.commands import PlaceOrder
from matcher.events import BookLevelChanged, EngineResult, OrderUpdated, TradeExecuted

if TYPE_CHECKING:
    from matcher.book import Book, BookSide

BUY = Side.BUY
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
GTC = TimeInForce.GTC
NEW, PARTIALLY_FILLED, FILLED, EXPIRED = (
    OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.EXPIRED,
)  # fmt: skip
NO_REASON, STP_REASON = RejectReason.UNSPECIFIED, RejectReason.SELF_TRADE_PREVENTED
EXPIRE_TAKER, EXPIRE_MAKER = SelfTradeMode.EXPIRE_TAKER, SelfTradeMode.EXPIRE_MAKER
RAN_OUT, DONE, STP_STOPPED = 0, 1, 2  # why the loop stopped
_new = tuple.__new__  # builds NamedTuple events without the generated __new__ (see matcher/book.py)


def match(book: Book, cmd: PlaceOrder, opposite: BookSide, limit_key: int, mode: SelfTradeMode) -> EngineResult:
    """Trade `cmd` against `opposite` while it crosses `limit_key`, then decide the taker's outcome."""
    market = book.market
    symbol, ts, taker_id, taker_user, taker_side = market.symbol, cmd.ts_event_ns, cmd.order_id, cmd.user_id, cmd.side
    maker_ppm, taker_ppm, lot, base_pow = market.maker_fee_ppm, market.taker_fee_ppm, market.lot_units, book.base_pow
    max_qty = market.max_qty_units  # a market buy never takes more in total (it bounds its fill total)
    taker_buys = taker_side == BUY
    maker_side = opposite.side
    by_budget = cmd.order_type == MARKET and taker_buys
    remaining, budget = cmd.qty_units, cmd.quote_budget_units
    keys, levels, orders_by_id, client_ids = opposite.keys, opposite.levels, book.orders, book.client_ids
    makers: list[OrderUpdated] = []
    trades: list[TradeExecuted] = []
    changes: list[BookLevelChanged] = []
    trade_seq, trade_id_base = book.trade_seq, book.trade_id_base
    filled_qty = filled_quote = 0
    stop = RAN_OUT
    while keys:
        key = keys[-1]
        if key < limit_key:
            break
        level = levels[key]
        price, queue, total_before = level.price_units, level.orders, level.total_qty_units
        while True:
            maker = queue[0]
            maker_left = maker.remaining_qty_units
            if not maker_left:  # a cancelled entry
                queue.popleft()
                level.dead -= 1
                continue
            if by_budget:
                qty = budget * base_pow // price // lot * lot
                if qty > max_qty - filled_qty:
                    qty = max_qty - filled_qty  # a multiple of the lot, like max_qty
                if not qty:
                    stop = DONE
                    break
                if maker_left < qty:
                    qty = maker_left
            else:
                qty = remaining if remaining < maker_left else maker_left
            if maker.user_id == taker_user:
                if mode != EXPIRE_TAKER:  # EXPIRE_MAKER or EXPIRE_BOTH: the maker goes
                    queue.popleft()
                    level.total_qty_units -= maker_left
                    del orders_by_id[maker.order_id]
                    if maker.client_order_id:
                        del client_ids[(taker_user, maker.client_order_id)]
                    makers.append(_new(OrderUpdated, (
                        symbol, maker.order_id, taker_user, maker.client_order_id, maker_side, LIMIT, GTC, price,
                        maker.qty_units, EXPIRED, maker.filled_qty_units, maker.filled_quote_units, 0, 0,
                        STP_REASON, ts,
                    )))  # fmt: skip
                if mode != EXPIRE_MAKER:  # EXPIRE_TAKER or EXPIRE_BOTH: the taker stops
                    stop = STP_STOPPED
                    break
                if not level.total_qty_units:
                    break
                continue
            quote = price * qty // base_pow
            trade_seq += 1
            if taker_buys:
                maker_fee, taker_fee = -(-quote * maker_ppm // 1_000_000), -(-qty * taker_ppm // 1_000_000)
            else:
                maker_fee, taker_fee = -(-qty * maker_ppm // 1_000_000), -(-quote * taker_ppm // 1_000_000)
            trades.append(_new(TradeExecuted, (
                symbol, trade_id_base | trade_seq, price, qty, quote, maker.order_id, taker_id, maker.user_id,
                taker_user, maker_side, taker_side, maker_fee, taker_fee, ts,
            )))  # fmt: skip
            maker_left -= qty
            maker.remaining_qty_units = maker_left
            maker_filled = maker.filled_qty_units = maker.filled_qty_units + qty
            maker_quote = maker.filled_quote_units = maker.filled_quote_units + quote
            level.total_qty_units -= qty
            if maker_left:
                status = PARTIALLY_FILLED
            else:
                status = FILLED
                queue.popleft()
                del orders_by_id[maker.order_id]
                if maker.client_order_id:
                    del client_ids[(maker.user_id, maker.client_order_id)]
            makers.append(_new(OrderUpdated, (
                symbol, maker.order_id, maker.user_id, maker.client_order_id, maker_side, LIMIT, GTC, price,
                maker.qty_units, status, maker_filled, maker_quote, maker_left, 0, NO_REASON, ts,
            )))  # fmt: skip
            filled_qty += qty
            filled_quote += quote
            if by_budget:
                budget -= quote
                if maker_left:  # could not take the whole maker (budget or max_qty): not one lot more either
                    stop = DONE
                    break
            else:
                remaining -= qty
                if not remaining:
                    stop = DONE
                    break
            if not level.total_qty_units:
                break
        total = level.total_qty_units
        if total != total_before:
            changes.append(_new(BookLevelChanged, (maker_side, price, total)))
        if not total:
            opposite.remove_level(key)
        if stop:
            break
    book.trade_seq = trade_seq
    taker = _taker_outcome(book, cmd, stop, filled_qty, filled_quote, remaining, changes)
    makers.insert(0, taker)
    return _new(EngineResult, (symbol, makers, trades, changes, []))


def _taker_outcome(
    book: Book, cmd: PlaceOrder, stop: int, filled_qty: int, filled_quote: int, remaining: int,
    changes: list[BookLevelChanged],
) -> OrderUpdated:  # fmt: skip
    """The taker's final update; a GTC remainder rests (its level's change is appended to `changes`)."""
    reason = NO_REASON
    open_qty = 0
    if stop == STP_STOPPED:
        status, reason = EXPIRED, STP_REASON
    elif cmd.order_type == MARKET:
        if cmd.side == BUY:
            done = filled_qty > 0 and (stop == DONE or cmd.quote_budget_units == filled_quote)
        else:
            done = remaining == 0
        if done:
            status, reason = FILLED, NO_REASON
        elif stop == DONE:  # the budget cannot buy one lot where liquidity is: the order's fault, not the book's
            status, reason = EXPIRED, RejectReason.MATCHER_INVALID_ORDER
        else:
            status, reason = EXPIRED, RejectReason.NO_LIQUIDITY
    elif remaining == 0:
        status = FILLED
    elif cmd.time_in_force == GTC:
        total = book.rest_taker(cmd, remaining, filled_qty, filled_quote)
        changes.append(_new(BookLevelChanged, (cmd.side, cmd.price_units, total)))
        status = PARTIALLY_FILLED if filled_qty else NEW
        open_qty = remaining
    else:
        status, reason = EXPIRED, RejectReason.IOC_NOT_FILLED
    unspent = cmd.quote_budget_units - filled_quote if cmd.order_type == MARKET and cmd.side == BUY else 0
    return _new(OrderUpdated, (
        cmd.symbol, cmd.order_id, cmd.user_id, cmd.client_order_id, cmd.side, cmd.order_type, cmd.time_in_force,
        cmd.price_units, cmd.qty_units, status, filled_qty, filled_quote, open_qty, unspent, reason, cmd.ts_event_ns,
    ))  # fmt: skip
