"""The naive order book: obviously correct, slow, kept for good as the specification of the fast one.

All resting orders live in one list in arrival order; every question ("who is the best maker?", "what is the
depth?") is answered by filtering and sorting that list from scratch, and the book changes of a command are the
difference between the depth before and after it. Property tests check that matcher.book.Book produces exactly
the same events, depth and snapshot for the same commands (tests/property/test_matcher_fast_vs_reference.py).

Rules (shared with the fast book; see also common/enums.py):
- Price-time priority; trades at the maker's price. Order ids must increase per book; id 0 is ignored with a
  PlaceRejected(MATCHER_INVALID_FIELD), a repeated or lower id with a PlaceRejected(DUPLICATE_ORDER_ID).
- Checks, in order (matcher/checks.py): fields (MATCHER_INVALID_FIELD), shape (MATCHER_INVALID_ORDER), range
  (MATCHER_OUT_OF_RANGE), client order id already resting for that user (DUPLICATE_CLIENT_ORDER_ID), post-only
  that would cross (POST_ONLY_WOULD_TAKE): all REJECTED, nothing traded. A cancel with no usable fields is a
  CancelRejected(MATCHER_INVALID_FIELD).
- FOK: if the quantity reachable now (self-trade prevention included) is short, EXPIRED(FOK_NOT_FILLABLE).
- Matching walks makers best first. Before each maker: stop if the taker is done (MARKET BUY: its remaining
  budget cannot buy one lot at that maker's price, or it already bought the market's max_qty); then self-trade
  prevention by the taker's mode. A MARKET BUY never buys more than max_qty in total.
- Outcome: stopped by STP -> EXPIRED(SELF_TRADE_PREVENTED). MARKET: FILLED when nothing is left to do (SELL:
  all sold; BUY: something bought and the budget spent, too small for one more lot, or max_qty reached);
  a MARKET BUY whose budget cannot buy one lot at the first maker it reaches is EXPIRED(MATCHER_INVALID_ORDER),
  not NO_LIQUIDITY, since liquidity was there; otherwise EXPIRED(NO_LIQUIDITY). LIMIT: FILLED, or GTC rests
  (NEW / PARTIALLY_FILLED), or IOC EXPIRED(IOC_NOT_FILLED).
- Order updates: the command's own order first, then makers in the order they were touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.enums import OrderStatus, OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from common.markets import Market
from common.money import fee_units
from matcher.checks import cancel_field_reason, field_reason, range_reason
from matcher.commands import CancelOrder, PlaceOrder
from matcher.events import (
    BookLevelChanged,
    CancelRejected,
    EngineResult,
    OrderUpdated,
    PlaceRejected,
    TradeExecuted,
)

TRADE_ID_SHIFT = 40  # trade_id = market_id << 40 | per-market sequence


@dataclass(slots=True, kw_only=True)
class _Resting:
    order_id: int
    user_id: int
    client_order_id: str
    side: Side
    price_units: int
    qty_units: int
    remaining_qty_units: int
    filled_qty_units: int
    filled_quote_units: int


def invalid_reason(cmd: PlaceOrder, market: Market) -> RejectReason:
    """INVALID_ORDER if the order's fields are not a shape the book can execute, else UNSPECIFIED."""
    ok = cmd.side in (Side.BUY, Side.SELL) and cmd.order_id > 0 and cmd.self_trade_mode in frozenset(SelfTradeMode)
    if cmd.order_type == OrderType.LIMIT:
        ok = ok and (
            market.is_on_tick(cmd.price_units)
            and market.is_on_lot(cmd.qty_units)
            and cmd.quote_budget_units == 0
            and cmd.time_in_force in (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK)
            and (not cmd.post_only or cmd.time_in_force == TimeInForce.GTC)
        )
    elif cmd.order_type == OrderType.MARKET:
        ok = ok and cmd.price_units == 0 and not cmd.post_only
        if cmd.side == Side.BUY:
            ok = ok and cmd.qty_units == 0 and cmd.quote_budget_units > 0
        else:
            ok = ok and market.is_on_lot(cmd.qty_units) and cmd.quote_budget_units == 0
    else:
        ok = False
    return RejectReason.UNSPECIFIED if ok else RejectReason.MATCHER_INVALID_ORDER


class ReferenceBook:
    """One market's book, naive. Same public interface as matcher.book.Book."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.resting: list[_Resting] = []  # arrival order
        self.last_order_id = 0
        self.trade_seq = 0

    # ---- queries -------------------------------------------------------------------------------------------

    def _priority(self, order: _Resting) -> tuple[int, int]:
        price_key = -order.price_units if order.side == Side.BUY else order.price_units
        return (price_key, order.order_id)

    def _side_orders(self, side: Side) -> list[_Resting]:
        return sorted((o for o in self.resting if o.side == side), key=self._priority)

    def _levels(self) -> dict[tuple[Side, int], int]:
        levels: dict[tuple[Side, int], int] = {}
        for order in self.resting:
            key = (order.side, order.price_units)
            levels[key] = levels.get(key, 0) + order.remaining_qty_units
        return levels

    def depth(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top `levels` price levels per side, best first: (bids, asks), each a list of (price_units, qty_units)."""
        if levels <= 0:
            return [], []
        aggregated = self._levels()
        bids = sorted(((p, q) for (s, p), q in aggregated.items() if s == Side.BUY), reverse=True)
        asks = sorted((p, q) for (s, p), q in aggregated.items() if s == Side.SELL)
        return bids[:levels], asks[:levels]

    # ---- commands ------------------------------------------------------------------------------------------

    def place(self, cmd: PlaceOrder) -> EngineResult:
        """Match and/or rest `cmd`; return every event it caused."""
        symbol = self.market.symbol
        if cmd.order_id <= 0 or cmd.order_id <= self.last_order_id:
            rejected = PlaceRejected(
                symbol=symbol,
                order_id=cmd.order_id,
                user_id=cmd.user_id,
                client_order_id=cmd.client_order_id,
                reason=RejectReason.MATCHER_INVALID_FIELD if cmd.order_id <= 0 else RejectReason.DUPLICATE_ORDER_ID,
                ts_event_ns=cmd.ts_event_ns,
            )
            return EngineResult(symbol, [], [], [], [rejected])
        self.last_order_id = cmd.order_id
        before = self._levels()
        updates: list[OrderUpdated] = []
        trades: list[TradeExecuted] = []
        reason = self._refusal(cmd)
        if reason != RejectReason.UNSPECIFIED:
            updates.append(_taker_update(cmd, OrderStatus.REJECTED, 0, 0, 0, reason))
        else:
            self._execute(cmd, updates, trades)
        return EngineResult(symbol, updates, trades, self._changes(before, cmd.side), [])

    def cancel(self, cmd: CancelOrder) -> EngineResult:
        """Remove the user's resting order named by `cmd`, or reject the cancel."""
        symbol = self.market.symbol
        invalid = cancel_field_reason(cmd)
        found = [
            o
            for o in self.resting
            if o.user_id == cmd.user_id
            and (
                o.order_id == cmd.order_id
                if cmd.order_id
                else cmd.client_order_id != "" and o.client_order_id == cmd.client_order_id
            )
        ]
        if invalid != RejectReason.UNSPECIFIED or not found:
            rejected = CancelRejected(
                symbol=symbol,
                order_id=cmd.order_id,
                user_id=cmd.user_id,
                client_order_id=cmd.client_order_id,
                reason=invalid if invalid != RejectReason.UNSPECIFIED else RejectReason.UNKNOWN_ORDER,
                ts_event_ns=cmd.ts_event_ns,
            )
            return EngineResult(symbol, [], [], [], [rejected])
        (order,) = found
        before = self._levels()
        self.resting.remove(order)
        update = _maker_update(self.market, order, OrderStatus.CANCELED, RejectReason.UNSPECIFIED, cmd.ts_event_ns)
        return EngineResult(symbol, [update], [], self._changes(before, order.side), [])

    # ---- matching ------------------------------------------------------------------------------------------

    def _crossing_makers(self, cmd: PlaceOrder) -> list[_Resting]:
        opposite = Side.SELL if cmd.side == Side.BUY else Side.BUY
        makers = self._side_orders(opposite)
        if cmd.order_type == OrderType.MARKET:
            return makers
        if cmd.side == Side.BUY:
            return [m for m in makers if m.price_units <= cmd.price_units]
        return [m for m in makers if m.price_units >= cmd.price_units]

    def _refusal(self, cmd: PlaceOrder) -> RejectReason:
        for check in (field_reason(cmd), invalid_reason(cmd, self.market), range_reason(cmd, self.market)):
            if check != RejectReason.UNSPECIFIED:
                return check
        if cmd.client_order_id and any(
            o.user_id == cmd.user_id and o.client_order_id == cmd.client_order_id for o in self.resting
        ):
            return RejectReason.DUPLICATE_CLIENT_ORDER_ID
        if cmd.post_only and self._crossing_makers(cmd):
            return RejectReason.POST_ONLY_WOULD_TAKE
        return RejectReason.UNSPECIFIED

    def _fok_fillable(self, cmd: PlaceOrder, mode: SelfTradeMode) -> bool:
        reachable = 0
        for maker in self._crossing_makers(cmd):
            if maker.user_id == cmd.user_id:
                if mode == SelfTradeMode.EXPIRE_MAKER:
                    continue
                break
            reachable += maker.remaining_qty_units
        return reachable >= cmd.qty_units

    def _execute(self, cmd: PlaceOrder, updates: list[OrderUpdated], trades: list[TradeExecuted]) -> None:
        market = self.market
        mode = SelfTradeMode.EXPIRE_TAKER if cmd.self_trade_mode == SelfTradeMode.UNSPECIFIED else cmd.self_trade_mode
        is_fok = cmd.time_in_force == TimeInForce.FOK and cmd.order_type == OrderType.LIMIT
        if is_fok and not self._fok_fillable(cmd, mode):
            updates.append(_taker_update(cmd, OrderStatus.EXPIRED, 0, 0, 0, RejectReason.FOK_NOT_FILLABLE))
            return
        by_budget = cmd.order_type == OrderType.MARKET and cmd.side == Side.BUY
        remaining, budget = cmd.qty_units, cmd.quote_budget_units
        filled_qty = filled_quote = 0
        stp_stopped = budget_stopped = False
        for maker in self._crossing_makers(cmd):
            price = maker.price_units
            if by_budget:
                affordable = budget * 10**market.base_scale // price // market.lot_units * market.lot_units
                affordable = min(affordable, market.max_qty_units - filled_qty)  # max_qty is a multiple of the lot
                if affordable == 0:
                    budget_stopped = True
                    break
                qty = min(maker.remaining_qty_units, affordable)
            else:
                if remaining == 0:
                    break
                qty = min(maker.remaining_qty_units, remaining)
            if maker.user_id == cmd.user_id:
                if mode in (SelfTradeMode.EXPIRE_MAKER, SelfTradeMode.EXPIRE_BOTH):
                    self.resting.remove(maker)
                    updates.append(
                        _maker_update(
                            market, maker, OrderStatus.EXPIRED, RejectReason.SELF_TRADE_PREVENTED, cmd.ts_event_ns
                        )
                    )
                if mode in (SelfTradeMode.EXPIRE_TAKER, SelfTradeMode.EXPIRE_BOTH):
                    stp_stopped = True
                    break
                continue
            quote = market.notional_units(price, qty)
            trades.append(self._trade(cmd, maker, qty, quote))
            maker.remaining_qty_units -= qty
            maker.filled_qty_units += qty
            maker.filled_quote_units += quote
            if maker.remaining_qty_units == 0:
                self.resting.remove(maker)
                updates.append(
                    _maker_update(market, maker, OrderStatus.FILLED, RejectReason.UNSPECIFIED, cmd.ts_event_ns)
                )
            else:
                updates.append(
                    _maker_update(
                        market, maker, OrderStatus.PARTIALLY_FILLED, RejectReason.UNSPECIFIED, cmd.ts_event_ns
                    )
                )
            remaining = remaining - qty if not by_budget else 0
            budget = budget - quote if by_budget else 0
            filled_qty += qty
            filled_quote += quote
            if by_budget and maker.remaining_qty_units > 0:
                budget_stopped = True  # it could not take the whole maker (budget or max_qty), so not one lot more
                break
        updates.insert(0, self._outcome(cmd, filled_qty, filled_quote, remaining, stp_stopped, budget_stopped))

    def _outcome(
        self,
        cmd: PlaceOrder,
        filled_qty: int,
        filled_quote: int,
        remaining: int,
        stp_stopped: bool,
        budget_stopped: bool,
    ) -> OrderUpdated:
        if stp_stopped:
            return _taker_update(
                cmd, OrderStatus.EXPIRED, filled_qty, filled_quote, 0, RejectReason.SELF_TRADE_PREVENTED
            )
        if cmd.order_type == OrderType.MARKET:
            if cmd.side == Side.BUY:
                done = filled_qty > 0 and (budget_stopped or cmd.quote_budget_units == filled_quote)
            else:
                done = remaining == 0
            if done:
                return _taker_update(cmd, OrderStatus.FILLED, filled_qty, filled_quote, 0, RejectReason.UNSPECIFIED)
            # A budget that cannot buy one lot where liquidity is: the order's own fault, not the book's.
            reason = RejectReason.MATCHER_INVALID_ORDER if budget_stopped else RejectReason.NO_LIQUIDITY
            return _taker_update(cmd, OrderStatus.EXPIRED, filled_qty, filled_quote, 0, reason)
        if remaining == 0:
            return _taker_update(cmd, OrderStatus.FILLED, filled_qty, filled_quote, 0, RejectReason.UNSPECIFIED)
        if cmd.time_in_force == TimeInForce.GTC:
            self.resting.append(
                _Resting(
                    order_id=cmd.order_id,
                    user_id=cmd.user_id,
                    client_order_id=cmd.client_order_id,
                    side=cmd.side,
                    price_units=cmd.price_units,
                    qty_units=cmd.qty_units,
                    remaining_qty_units=remaining,
                    filled_qty_units=filled_qty,
                    filled_quote_units=filled_quote,
                )
            )
            status = OrderStatus.NEW if filled_qty == 0 else OrderStatus.PARTIALLY_FILLED
            return _taker_update(cmd, status, filled_qty, filled_quote, remaining, RejectReason.UNSPECIFIED)
        return _taker_update(cmd, OrderStatus.EXPIRED, filled_qty, filled_quote, 0, RejectReason.IOC_NOT_FILLED)

    def _trade(self, cmd: PlaceOrder, maker: _Resting, qty: int, quote: int) -> TradeExecuted:
        market = self.market
        self.trade_seq += 1
        maker_fee = fee_units(qty if maker.side == Side.BUY else quote, market.maker_fee_ppm)
        taker_fee = fee_units(qty if cmd.side == Side.BUY else quote, market.taker_fee_ppm)
        return TradeExecuted(
            market.symbol,
            market.market_id << TRADE_ID_SHIFT | self.trade_seq,
            maker.price_units,
            qty,
            quote,
            maker.order_id,
            cmd.order_id,
            maker.user_id,
            cmd.user_id,
            maker.side,
            cmd.side,
            maker_fee,
            taker_fee,
            cmd.ts_event_ns,
        )

    def _changes(self, before: dict[tuple[Side, int], int], taker_side: Side) -> list[BookLevelChanged]:
        after = self._levels()
        keys = {k for k in before if before[k] != after.get(k, 0)} | {k for k in after if after[k] != before.get(k, 0)}

        def order_key(key: tuple[Side, int]) -> tuple[int, int]:
            side, price = key
            return (0 if side != taker_side else 1, -price if side == Side.BUY else price)

        return [
            BookLevelChanged(side, price, after.get((side, price), 0)) for side, price in sorted(keys, key=order_key)
        ]

    # ---- snapshot ------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Plain-data state: counters and resting orders per side in priority order (see matcher.book)."""

        def rows(side: Side) -> list[list[Any]]:
            return [
                [
                    o.order_id,
                    o.user_id,
                    o.client_order_id,
                    o.price_units,
                    o.qty_units,
                    o.remaining_qty_units,
                    o.filled_qty_units,
                    o.filled_quote_units,
                ]
                for o in self._side_orders(side)
            ]

        return {
            "symbol": self.market.symbol,
            "market_id": self.market.market_id,
            "last_order_id": self.last_order_id,
            "trade_seq": self.trade_seq,
            "bids": rows(Side.BUY),
            "asks": rows(Side.SELL),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Replace this book's state with `state` (from snapshot())."""
        assert state["symbol"] == self.market.symbol, (state["symbol"], self.market.symbol)
        self.last_order_id = state["last_order_id"]
        self.trade_seq = state["trade_seq"]
        self.resting = []
        for side, key in ((Side.BUY, "bids"), (Side.SELL, "asks")):
            for order_id, user_id, coid, price, qty, remaining, filled_qty, filled_quote in state[key]:
                self.resting.append(
                    _Resting(
                        order_id=order_id,
                        user_id=user_id,
                        client_order_id=coid,
                        side=side,
                        price_units=price,
                        qty_units=qty,
                        remaining_qty_units=remaining,
                        filled_qty_units=filled_qty,
                        filled_quote_units=filled_quote,
                    )
                )
        self.resting.sort(key=lambda o: o.order_id)


def _taker_update(
    cmd: PlaceOrder, status: OrderStatus, filled_qty: int, filled_quote: int, remaining: int, reason: RejectReason
) -> OrderUpdated:
    unspent = (
        cmd.quote_budget_units - filled_quote if cmd.order_type == OrderType.MARKET and cmd.side == Side.BUY else 0
    )
    return OrderUpdated(
        cmd.symbol,
        cmd.order_id,
        cmd.user_id,
        cmd.client_order_id,
        cmd.side,
        cmd.order_type,
        cmd.time_in_force,
        cmd.price_units,
        cmd.qty_units,
        status,
        filled_qty,
        filled_quote,
        remaining,
        unspent,
        reason,
        cmd.ts_event_ns,
    )


def _maker_update(
    market: Market, order: _Resting, status: OrderStatus, reason: RejectReason, ts_event_ns: int
) -> OrderUpdated:
    open_qty = order.remaining_qty_units if status == OrderStatus.PARTIALLY_FILLED else 0
    return OrderUpdated(
        market.symbol,
        order.order_id,
        order.user_id,
        order.client_order_id,
        order.side,
        OrderType.LIMIT,
        TimeInForce.GTC,
        order.price_units,
        order.qty_units,
        status,
        order.filled_qty_units,
        order.filled_quote_units,
        open_qty,
        0,
        reason,
        ts_event_ns,
    )
