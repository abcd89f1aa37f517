"""Applying the matcher's outputs to balances: fills settle both sides, final updates release what is left.

For one `EngineOutput`, trades first (in execution order), then order updates:

- A trade moves money between the buyer and the seller. The buyer spends `quote_qty` from frozen quote and
  receives `qty - buyer_fee` base; the seller spends `qty` from frozen base and receives `quote_qty - seller_fee`
  quote; both fees go to the fee account (fees are charged on the asset received). A LIMIT buy that fills below
  its limit (as a taker, at the makers' prices) locked `notional(limit, qty)` for this quantity but paid
  `quote_qty`: the difference is released at once (PRICE_IMPROVEMENT). Summed over an order's fills this is the
  matcher's `notional(limit, filled_qty) - filled_quote`.
- Every order update is checked against what UBSCore holds for the order (the matcher's cumulative fill totals
  must give exactly `held_units`: the property is checked in two places). A final status (FILLED, CANCELED,
  EXPIRED, REJECTED) releases exactly what the order still holds, with the matching `FundsUnlockCause`, and
  closes it. A `CommandRejected` (a cancel of an order that is not open, a redelivered place) moved no order
  and is not passed here: nothing is released on it.

Events with a zero amount (a credit entirely taken by a fee) are not emitted: nothing changed.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.enums import BalanceEventType, FundsUnlockCause, OrderStatus, OrderType, Side
from common.markets import Market
from ubscore.commands import FeedTrade, FeedUpdate
from ubscore.events import BalanceEvent
from ubscore.ledger import Ledger
from ubscore.orders import OpenOrder, OpenOrders

FINAL_CAUSES = {
    OrderStatus.FILLED: FundsUnlockCause.FILLED,
    OrderStatus.CANCELED: FundsUnlockCause.CANCELED,
    OrderStatus.EXPIRED: FundsUnlockCause.EXPIRED,
    OrderStatus.REJECTED: FundsUnlockCause.REJECTED,
}
OPEN_STATUSES = frozenset((OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED))


class Settler:
    """Applies trades and order updates to the ledger and the open orders."""

    def __init__(
        self, ledger: Ledger, orders: OpenOrders, markets: Mapping[str, Market], *, fee_account_user_id: int
    ) -> None:
        self.ledger = ledger
        self.orders = orders
        self.markets = markets
        self.fee_account_user_id = fee_account_user_id

    def _open(self, order_id: int, user_id: int) -> OpenOrder:
        order = self.orders.get(order_id)
        # Every order on the feed was funded here first (UBSCore numbers them): anything else is a broken invariant.
        assert order is not None, f"feed names order {order_id} that UBSCore does not hold open"
        assert order.user_id == user_id, (order_id, order.user_id, user_id)
        return order

    def trade(self, trade: FeedTrade, events: list[BalanceEvent]) -> None:
        """Settle one fill between maker and taker."""
        market = self.markets[trade.symbol]
        maker = self._open(trade.maker_order_id, trade.maker_user_id)
        taker = self._open(trade.taker_order_id, trade.taker_user_id)
        if trade.taker_side == Side.BUY:
            buyer, seller, buyer_fee, seller_fee = taker, maker, trade.taker_fee_units, trade.maker_fee_units
        else:
            buyer, seller, buyer_fee, seller_fee = maker, taker, trade.maker_fee_units, trade.taker_fee_units
        assert buyer.side == Side.BUY, buyer
        assert seller.side == Side.SELL, seller
        assert market.notional_units(trade.price_units, trade.qty_units) == trade.quote_qty_units, trade
        self._pay(buyer, market.quote_asset_id, trade.quote_qty_units, trade, events)
        self._receive(buyer, market.base_asset_id, trade.qty_units, buyer_fee, trade, events)
        if buyer.order_type == OrderType.LIMIT:
            improvement = market.notional_units(buyer.price_units, trade.qty_units) - trade.quote_qty_units
            assert improvement >= 0, (buyer, trade)  # a buy never pays above its limit
            if improvement:
                self._release(buyer, improvement, FundsUnlockCause.PRICE_IMPROVEMENT, trade.ts_event_ns, events,
                              trade_id=trade.trade_id)  # fmt: skip
        self._pay(seller, market.base_asset_id, trade.qty_units, trade, events)
        self._receive(seller, market.quote_asset_id, trade.quote_qty_units, seller_fee, trade, events)

    def _pay(
        self, order: OpenOrder, asset_id: int, amount_units: int, trade: FeedTrade, events: list[BalanceEvent]
    ) -> None:
        assert order.lock_asset_id == asset_id, (order, asset_id)
        assert 0 < amount_units <= order.held_units, (order, amount_units)
        order.held_units -= amount_units
        events.append(self.ledger.debit_frozen(
            order.user_id, asset_id, amount_units, order_id=order.order_id, trade_id=trade.trade_id,
            ts_event_ns=trade.ts_event_ns, client_order_id=order.client_order_id, symbol=order.symbol,
        ))  # fmt: skip

    def _receive(
        self, order: OpenOrder, asset_id: int, amount_units: int, fee_units: int, trade: FeedTrade,
        events: list[BalanceEvent],
    ) -> None:  # fmt: skip
        assert 0 <= fee_units <= amount_units, (fee_units, amount_units)
        context = {"order_id": order.order_id, "trade_id": trade.trade_id, "ts_event_ns": trade.ts_event_ns,
                   "client_order_id": order.client_order_id, "symbol": order.symbol}  # fmt: skip
        if amount_units > fee_units:
            events.append(self.ledger.credit(
                order.user_id, asset_id, amount_units - fee_units, BalanceEventType.TRADE_CREDITED, **context
            ))  # fmt: skip
        if fee_units:
            events.append(self.ledger.credit(
                self.fee_account_user_id, asset_id, fee_units, BalanceEventType.FEE_COLLECTED, **context
            ))  # fmt: skip

    def _release(
        self, order: OpenOrder, amount_units: int, cause: FundsUnlockCause, ts_event_ns: int,
        events: list[BalanceEvent], *, trade_id: int = 0,
    ) -> None:  # fmt: skip
        assert 0 < amount_units <= order.held_units, (order, amount_units)
        order.held_units -= amount_units
        events.append(self.ledger.unlock(
            order.user_id, order.lock_asset_id, amount_units, order_id=order.order_id, trade_id=trade_id,
            ts_event_ns=ts_event_ns, client_order_id=order.client_order_id, symbol=order.symbol, unlock_cause=cause,
        ))  # fmt: skip

    def update(self, update: FeedUpdate, events: list[BalanceEvent]) -> None:
        """Check an order update against what the order holds; on a final status release the rest and close it."""
        order = self._open(update.order_id, update.user_id)
        market = self.markets[order.symbol]
        expected = order.expected_held_units(
            market, filled_qty_units=update.filled_qty_units, filled_quote_units=update.filled_quote_units
        )
        assert order.held_units == expected, (order, update, expected)
        if update.status in OPEN_STATUSES:
            return
        cause = FINAL_CAUSES[OrderStatus(update.status)]
        if order.held_units:
            self._release(order, order.held_units, cause, update.ts_event_ns, events)
        self.orders.close(order.order_id)
