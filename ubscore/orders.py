"""Open orders as UBSCore sees them: what each still holds locked, until the matcher's final update.

An order is open from the moment its funds are locked (before the matcher has seen it) until an order update
with a final status (FILLED, CANCELED, EXPIRED, REJECTED) arrives on the feed. `held_units` is what the order
still holds frozen in `lock_asset_id`; fills spend it, price improvement and the final update release it. The
sum of `held_units` of a user's open orders in an asset equals that account's frozen balance (checked by
`frozen_by_account`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from common.enums import OrderType, Side
from common.markets import Market


@dataclass(slots=True)
class OpenOrder:
    """An order whose funds are locked (mutable: fills update `held_units`)."""

    order_id: int
    user_id: int
    client_order_id: str
    symbol: str
    side: int
    order_type: int
    price_units: int
    qty_units: int
    quote_budget_units: int
    lock_asset_id: int
    held_units: int

    def expected_held_units(self, market: Market, *, filled_qty_units: int, filled_quote_units: int) -> int:
        """What the order must still hold after fills of these cumulative totals (the matcher's view)."""
        if self.side == Side.SELL:
            return self.qty_units - filled_qty_units
        if self.order_type == OrderType.MARKET:
            return self.quote_budget_units - filled_quote_units
        return market.notional_units(self.price_units, self.qty_units - filled_qty_units)

    def as_row(self) -> list[Any]:
        """Snapshot row."""
        return [
            self.order_id, self.user_id, self.client_order_id, self.symbol, self.side, self.order_type,
            self.price_units, self.qty_units, self.quote_budget_units, self.lock_asset_id, self.held_units,
        ]  # fmt: skip


@dataclass(slots=True)
class OpenOrders:
    """Open orders by id and by (user, client order id)."""

    by_id: dict[int, OpenOrder] = field(default_factory=dict)
    by_client_id: dict[tuple[int, str], int] = field(default_factory=dict)

    def add(self, order: OpenOrder) -> None:
        """Record a newly funded order."""
        assert order.order_id not in self.by_id, order.order_id
        assert (order.user_id, order.client_order_id) not in self.by_client_id, order
        self.by_id[order.order_id] = order
        self.by_client_id[(order.user_id, order.client_order_id)] = order.order_id

    def get(self, order_id: int) -> OpenOrder | None:
        """The open order with that id, if any."""
        return self.by_id.get(order_id)

    def find(self, user_id: int, order_id: int, client_order_id: str) -> OpenOrder | None:
        """The user's open order named by id (non-zero) or else by client order id; None if not open or not theirs."""
        if order_id:
            found = self.by_id.get(order_id)
        else:
            found_id = self.by_client_id.get((user_id, client_order_id))
            found = self.by_id.get(found_id) if found_id is not None else None
        return found if found is not None and found.user_id == user_id else None

    def close(self, order_id: int) -> OpenOrder:
        """Forget a finished order and return it."""
        order = self.by_id.pop(order_id)
        del self.by_client_id[(order.user_id, order.client_order_id)]
        return order

    def __len__(self) -> int:
        return len(self.by_id)

    def __iter__(self) -> Iterator[OpenOrder]:
        return iter(self.by_id.values())

    def frozen_by_account(self) -> dict[tuple[int, int], int]:
        """Per (user, asset), the sum of what open orders hold: must equal the account's frozen balance."""
        sums: dict[tuple[int, int], int] = {}
        for order in self.by_id.values():
            key = (order.user_id, order.lock_asset_id)
            sums[key] = sums.get(key, 0) + order.held_units
        return sums

    def snapshot(self) -> list[list[Any]]:
        """Plain rows in order id order."""
        return [self.by_id[order_id].as_row() for order_id in sorted(self.by_id)]

    @classmethod
    def restore(cls, rows: list[list[Any]]) -> OpenOrders:
        """The open orders a `snapshot()` describes."""
        orders = cls()
        for row in rows:
            (order_id, user_id, coid, symbol, side, order_type, price, qty, budget, lock_asset_id, held) = row
            orders.add(OpenOrder(
                order_id=order_id, user_id=user_id, client_order_id=coid, symbol=symbol, side=side,
                order_type=order_type, price_units=price, qty_units=qty, quote_budget_units=budget,
                lock_asset_id=lock_asset_id, held_units=held,
            ))  # fmt: skip
        return orders
