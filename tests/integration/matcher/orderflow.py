"""A seeded stream of valid OrderCommands (limit orders around a mid price, some IOC, some cancels) for tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from exchange.v1 import common_pb2, order_pb2

# (symbol, mid price units, tick units, lot units): from config/markets.yaml
MARKETS = (
    ("BTC_USDT", 45_000_000_000, 10_000, 10_000),
    ("ETH_USDT", 3_000_000_000, 10_000, 100_000),
    ("ETH_BTC", 6_000_000, 100, 1_000_000),
)
TS_BASE_NS = 1_763_000_000_000_000_000


@dataclass(slots=True)
class OrderFlow:
    """Generates commands with dense command_seq and order_id; remembers placed orders to cancel some."""

    seed: int
    next_seq: int = 1
    next_order_id: int = 1
    rng: random.Random = field(init=False)
    placed: list[tuple[int, int, str]] = field(default_factory=list)  # (order_id, user_id, symbol)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def next(self) -> tuple[str, order_pb2.OrderCommand]:
        """(symbol key, command)."""
        seq = self.next_seq
        self.next_seq += 1
        ts_ns = TS_BASE_NS + seq * 1_000
        if self.placed and self.rng.random() < 0.15:
            order_id, user_id, symbol = self.placed.pop(self.rng.randrange(len(self.placed)))
            cancel = order_pb2.InternalCancel(order_id=order_id, user_id=user_id, symbol=symbol, ts_event_ns=ts_ns)
            return symbol, order_pb2.OrderCommand(command_seq=seq, cancel=cancel)
        symbol, mid_units, tick_units, lot_units = self.rng.choice(MARKETS)
        side = self.rng.choice((common_pb2.SIDE_BUY, common_pb2.SIDE_SELL))
        offset_ticks = self.rng.randint(-20, 20)
        order = order_pb2.InternalOrder(
            order_id=self.next_order_id, user_id=self.rng.randint(1, 20), client_order_id=f"c{self.next_order_id}",
            symbol=symbol, side=side, order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=common_pb2.TIME_IN_FORCE_IOC if self.rng.random() < 0.1 else common_pb2.TIME_IN_FORCE_GTC,
            price_units=mid_units + offset_ticks * tick_units, qty_units=lot_units * self.rng.randint(1, 50),
            self_trade_mode=common_pb2.SELF_TRADE_MODE_EXPIRE_TAKER, ts_event_ns=ts_ns,
        )
        self.placed.append((self.next_order_id, order.user_id, symbol))
        self.next_order_id += 1
        return symbol, order_pb2.OrderCommand(command_seq=seq, place=order)

    def batch(self, count: int) -> list[tuple[str, order_pb2.OrderCommand]]:
        """The next `count` commands."""
        return [self.next() for _ in range(count)]
