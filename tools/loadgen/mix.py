"""The order flow of the load generator: a seeded, pure stream of commands around a moving mid price.

No I/O, no clock: `OrderMix.next()` returns the next command for one user, decided by a `random.Random(seed)` only,
so a run can be repeated exactly. The mix (fractions of commands, tunable in `MixShares`):

- limit GTC around the mid: mostly passive (1..PASSIVE_TICKS_MAX ticks away), some crossing the mid a little;
- limit IOC and FOK, crossing the mid (they trade at once or expire);
- market orders: a sell gives a quantity, a buy a quote budget;
- cancels of one of the user's recent GTC orders (by client order id; it may have filled meanwhile, and the
  refusal of such a cancel is an outcome too).

The mid walks one tick at a time (a random walk), so resting orders keep meeting takers on both sides.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from common.markets import Market
from common.money import format_units
from exchange.v1 import common_pb2, trading_service_pb2

PASSIVE_TICKS_MAX = 20
CROSS_TICKS_MAX = 5
LOTS_PER_ORDER_MAX = 20
OPEN_ORDERS_TRACKED_MAX = 64  # per user: the GTC orders a cancel picks from
MID_STEP_PROBABILITY = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class MixShares:
    """Fractions of each command kind (they need not sum to 1: they are weights)."""

    limit_gtc: float = 0.55
    limit_ioc: float = 0.08
    limit_fok: float = 0.04
    market: float = 0.08
    cancel: float = 0.25


@dataclass(frozen=True, slots=True)
class Place:
    """Place `request` for user number `user_index`."""

    user_index: int
    request: trading_service_pb2.PlaceOrderRequest


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the order `client_order_id` of user number `user_index`."""

    user_index: int
    request: trading_service_pb2.CancelOrderRequest


Command = Place | Cancel


@dataclass(slots=True)
class OrderMix:
    """Commands for `users` users on `market`, starting at `mid_units`, drawn from `seed`; ids carry `run_tag`."""

    market: Market
    users: int
    mid_units: int
    seed: int
    run_tag: str
    shares: MixShares = field(default_factory=MixShares)
    random: random.Random = field(init=False)
    counter: int = field(init=False, default=0)
    open_orders: list[deque[str]] = field(init=False)

    def __post_init__(self) -> None:
        assert self.users > 0, self.users
        assert self.mid_units % self.market.tick_units == 0, (self.mid_units, self.market.tick_units)
        self.random = random.Random(self.seed)
        self.open_orders = [deque(maxlen=OPEN_ORDERS_TRACKED_MAX) for _ in range(self.users)]

    def next(self, user_index: int) -> Command:
        """The next command of user `user_index`."""
        if self.random.random() < MID_STEP_PROBABILITY:
            step = self.market.tick_units * self.random.choice((-1, 1))
            self.mid_units = max(self.market.tick_units * (PASSIVE_TICKS_MAX + 1), self.mid_units + step)
        shares = self.shares
        kind = self.random.choices(("gtc", "ioc", "fok", "market", "cancel"),
                                   weights=(shares.limit_gtc, shares.limit_ioc, shares.limit_fok, shares.market,
                                            shares.cancel))[0]  # fmt: skip
        if kind == "cancel" and self.open_orders[user_index]:
            open_ids = self.open_orders[user_index]
            client_order_id = open_ids[self.random.randrange(len(open_ids))]
            open_ids.remove(client_order_id)
            return Cancel(user_index, trading_service_pb2.CancelOrderRequest(symbol=self.market.symbol,
                                                                            client_order_id=client_order_id))
        if kind == "market":
            return Place(user_index, self._market_order(user_index))
        tif = {"ioc": common_pb2.TIME_IN_FORCE_IOC, "fok": common_pb2.TIME_IN_FORCE_FOK}.get(
            kind, common_pb2.TIME_IN_FORCE_GTC)
        request = self._limit_order(user_index, tif)
        if tif == common_pb2.TIME_IN_FORCE_GTC:
            self.open_orders[user_index].append(request.client_order_id)
        return Place(user_index, request)

    def _client_order_id(self, user_index: int) -> str:
        self.counter += 1
        return f"{self.run_tag}-{user_index}-{self.counter}"

    def _quantity(self) -> str:
        lots = self.random.randint(1, LOTS_PER_ORDER_MAX)
        return format_units(max(self.market.min_qty_units, lots * self.market.lot_units), self.market.base_scale)

    def _limit_order(self, user_index: int, tif: int) -> trading_service_pb2.PlaceOrderRequest:
        side = self.random.choice((common_pb2.SIDE_BUY, common_pb2.SIDE_SELL))
        if tif == common_pb2.TIME_IN_FORCE_GTC and self.random.random() < 0.8:
            ticks = -self.random.randint(1, PASSIVE_TICKS_MAX)  # passive: below the mid for a buy
        else:
            ticks = self.random.randint(0, CROSS_TICKS_MAX)  # crossing: above the mid for a buy
        offset = ticks * self.market.tick_units
        price = self.mid_units + offset if side == common_pb2.SIDE_BUY else self.mid_units - offset
        return trading_service_pb2.PlaceOrderRequest(
            symbol=self.market.symbol, side=side, order_type=common_pb2.ORDER_TYPE_LIMIT, time_in_force=tif,
            price=format_units(price, self.market.quote_scale), quantity=self._quantity(),
            client_order_id=self._client_order_id(user_index),
        )

    def _market_order(self, user_index: int) -> trading_service_pb2.PlaceOrderRequest:
        request = trading_service_pb2.PlaceOrderRequest(
            symbol=self.market.symbol, order_type=common_pb2.ORDER_TYPE_MARKET,
            client_order_id=self._client_order_id(user_index),
        )
        if self.random.random() < 0.5:
            request.side = common_pb2.SIDE_SELL
            request.quantity = self._quantity()
        else:
            request.side = common_pb2.SIDE_BUY
            lots = self.random.randint(1, LOTS_PER_ORDER_MAX)
            budget = self.mid_units * lots * self.market.lot_units // 10**self.market.base_scale
            request.quote_quantity = format_units(max(budget, self.market.min_notional_units),
                                                  self.market.quote_scale)
        return request
