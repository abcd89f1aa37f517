"""A seeded stream of consistent BalanceEvents, as UBSCore emits them on balance.events (until UBSCore lands).

Per (user, asset) the versions are dense from 1 and `available`/`frozen` are the running sums of the deltas, so
the reconciliation must come out clean; refusals (a withdrawal above the balance, an order refused) carry version
0. `balances` is what UBSCore's dump would say.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from exchange.v1 import balance_pb2, common_pb2, ubscore_pb2

TS_BASE_NS = 1_763_000_000_000_000_000
ASSETS = (1, 2, 3)


@dataclass(slots=True)
class BalanceFlow:
    """Generates events with dense event ids; remembers the balances they lead to."""

    seed: int
    users: tuple[int, ...] = tuple(range(1001, 1021))
    next_event_id: int = 1
    rng: random.Random = field(init=False)
    balances: dict[tuple[int, int], list[int]] = field(default_factory=dict)  # -> [available, frozen, version]

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def next(self) -> tuple[int, balance_pb2.BalanceEvent]:
        """(user id = Kafka key, event)."""
        user_id, asset_id = self.rng.choice(self.users), self.rng.choice(ASSETS)
        balance = self.balances.setdefault((user_id, asset_id), [0, 0, 0])
        event_id = self.next_event_id
        self.next_event_id += 1
        ts_ns = TS_BASE_NS + event_id * 1_000_000
        event = balance_pb2.BalanceEvent(event_id=event_id, user_id=user_id, asset_id=asset_id, ts_event_ns=ts_ns)
        roll = self.rng.random()
        amount = self.rng.randint(1, 1_000)
        if roll < 0.4 or balance[0] == 0:
            self._change(event, balance, balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED, amount, 0)
            event.request_id, event.operation = f"d{event_id}", balance_pb2.BALANCE_OPERATION_TRANSFER_IN
        elif roll < 0.55:
            event.request_id, event.operation = f"w{event_id}", balance_pb2.BALANCE_OPERATION_TRANSFER_OUT
            if amount > balance[0]:
                event.type = balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED
                event.reject_reason = common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS
            else:
                self._change(event, balance, balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWN, -amount, 0)
        elif roll < 0.75:
            locked = self.rng.randint(1, balance[0])
            self._change(event, balance, balance_pb2.BALANCE_EVENT_TYPE_FUNDS_LOCKED, -locked, locked)
            event.order_id, event.client_order_id, event.symbol = event_id, f"o{event_id}", "BTC_USDT"
        elif roll < 0.9 and balance[1] > 0:
            released = self.rng.randint(1, balance[1])
            self._change(event, balance, balance_pb2.BALANCE_EVENT_TYPE_FUNDS_UNLOCKED, released, -released)
            event.unlock_cause = balance_pb2.FUNDS_UNLOCK_CAUSE_CANCELED
        else:
            event.type = balance_pb2.BALANCE_EVENT_TYPE_ORDER_REJECTED
            event.reject_reason = common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS
            event.client_order_id, event.symbol = f"refused{event_id}", "BTC_USDT"
            event.order.CopyFrom(ubscore_pb2.OrderRequest(
                user_id=user_id, client_order_id=f"refused{event_id}", symbol="BTC_USDT", side=common_pb2.SIDE_BUY,
                order_type=common_pb2.ORDER_TYPE_LIMIT, price_units=45_000_000_000, qty_units=10**9,
                ts_event_ns=ts_ns))
        return user_id, event

    def _change(self, event: balance_pb2.BalanceEvent, balance: list[int], kind: int, available: int,
                frozen: int) -> None:
        balance[0] += available
        balance[1] += frozen
        balance[2] += 1
        event.type = kind  # type: ignore[assignment]
        event.delta_available_units, event.delta_frozen_units = available, frozen
        event.available_units, event.frozen_units, event.version = balance[0], balance[1], balance[2]

    def batch(self, count: int) -> list[tuple[int, balance_pb2.BalanceEvent]]:
        """The next `count` events."""
        return [self.next() for _ in range(count)]

    def dump(self) -> dict[str, object]:
        """What `python -m ubscore dump --json` would print for these events."""
        return {"summary": {"last_event_id": self.next_event_id - 1}, "accounts": [
            {"user_id": user_id, "asset_id": asset_id, "available_units": values[0], "frozen_units": values[1],
             "version": values[2]}
            for (user_id, asset_id), values in sorted(self.balances.items()) if values[2] > 0
        ]}
