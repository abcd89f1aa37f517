"""The latest state of each order this gateway placed or saw on the matcher feed, so GetOrder answers an order's
newest state before Settlement has stored it (read your writes: a PlaceOrder answered, then GetOrder at once).

An order UBSCore accepted through this gateway is recorded NEW at once (`accepted`): the matcher's first update
comes a Kafka hop later, and until then neither the feed nor the database knows the order. One UBSCore refused
with an ORDER_REJECTED event (RECORDED_REFUSALS) is recorded REJECTED under its client order id (`refused`), as
Settlement will store it (order id 0).

GetOrder reads Settlement's row and takes this instead when the row is missing or this is further along (a final
state beats an open one; then the later update; then the larger filled quantity). Orders UBSCore refused never
reach the matcher: this gateway knows the refusals of its own placements, the database all of them.

Bounded: the `capacity_max` orders updated most recently are kept (an order falls out only after that many
others changed since, long after Settlement stored it). What the gateway did not see (before it started, or on
a shard it does not follow) is the database's. The placement's post-only flag, STP mode and quote budget come
from the placing command; an order whose placement this gateway did not see shows their defaults, as the private
stream does.

Thread-safe: `observe` runs on the feed threads, `accepted`, `refused` and `find` on gRPC workers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from common.markets import MarketCatalog
from exchange.v1 import common_pb2, engine_pb2, trading_service_pb2
from gateway.order_views import order_view
from gateway.reads import OPEN_STATUSES
from gateway.validation import ValidOrder

CAPACITY_MAX_DEFAULT = 65_536
R = common_pb2.RejectReason
# The refusals of a placement that UBSCore records as an ORDER_REJECTED event (ubscore/core.py `place`), so that
# Settlement stores the order REJECTED; not its early refusals (busy, deadline, malformed) nor DUPLICATE_REQUEST
# (the first order under the client order id stands), which leave no order behind.
RECORDED_REFUSALS = frozenset({
    R.REJECT_REASON_INSUFFICIENT_FUNDS, R.REJECT_REASON_UBSCORE_UNKNOWN_MARKET, R.REJECT_REASON_UBSCORE_PRICE_OFF_TICK,
    R.REJECT_REASON_UBSCORE_PRICE_OUT_OF_RANGE, R.REJECT_REASON_UBSCORE_QUANTITY_OFF_LOT,
    R.REJECT_REASON_UBSCORE_QUANTITY_OUT_OF_RANGE, R.REJECT_REASON_UBSCORE_BELOW_MIN_NOTIONAL,
    R.REJECT_REASON_UBSCORE_BUDGET_OUT_OF_RANGE,
})  # fmt: skip


@dataclass(slots=True)
class _Seen:
    update: engine_pb2.OrderUpdate | None  # None: accepted here, not on the feed yet (built NEW when read)
    created_ns: int  # the placement's time (0 when this gateway did not see the placement)
    post_only: bool
    self_trade_mode: int
    quote_budget_units: int
    accepted: tuple[int, ValidOrder] | None = None  # (user id, placement) of an order accepted through this gateway

    def client_key(self) -> tuple[int, str]:
        """(owner, client order id)."""
        if self.update is not None:
            return self.update.user_id, self.update.client_order_id
        assert self.accepted is not None
        return self.accepted[0], self.accepted[1].client_order_id


def progress(order: trading_service_pb2.Order) -> tuple[bool, int, Decimal]:
    """How far along an order is, to pick the newer of two states of it."""
    return order.status not in OPEN_STATUSES, order.updated_ns, Decimal(order.filled_quantity or "0")


class RecentOrders:
    """Latest update per order id (and the owner's client order id), most recently updated kept."""

    def __init__(self, catalog: MarketCatalog, *, capacity_max: int = CAPACITY_MAX_DEFAULT) -> None:
        assert capacity_max >= 1, capacity_max
        self.catalog = catalog
        self.capacity_max = capacity_max
        self._seen: OrderedDict[int, _Seen] = OrderedDict()
        self._by_client_id: dict[tuple[int, str], int] = {}
        self._refused: OrderedDict[tuple[int, str], _Seen] = OrderedDict()  # by (user, client order id)
        self._lock = threading.Lock()

    def observe(self, output: engine_pb2.EngineOutput) -> None:
        """Record every order update of a verified matcher output (feed thread)."""
        if not output.order_updates:
            return
        command = output.input.command
        placed = command.place if command.WhichOneof("command") == "place" else None
        with self._lock:
            for update in output.order_updates:
                seen = self._seen.get(update.order_id)
                if seen is not None:
                    seen.update = update
                    self._seen.move_to_end(update.order_id)
                    continue
                own = placed is not None and placed.order_id == update.order_id
                self._seen[update.order_id] = _Seen(
                    update, created_ns=update.ts_event_ns if own else 0, post_only=own and placed.post_only,  # type: ignore[union-attr]
                    self_trade_mode=placed.self_trade_mode if own else 0,  # type: ignore[union-attr]
                    quote_budget_units=placed.quote_budget_units if own else 0,  # type: ignore[union-attr]
                )
                if update.client_order_id:
                    self._by_client_id[(update.user_id, update.client_order_id)] = update.order_id
            self._trim()

    def placement(self, order_id: int) -> tuple[bool, int, int] | None:
        """(post_only, self_trade_mode, quote_budget_units) of an order whose placement this gateway saw (on the feed
        or accepted here); None if it did not: the matcher's later updates do not carry them."""
        with self._lock:
            seen = self._seen.get(order_id)
            if seen is None or not seen.created_ns:
                return None
            return seen.post_only, seen.self_trade_mode, seen.quote_budget_units

    def accepted(self, user_id: int, order_id: int, order: ValidOrder, *, placed_ns: int) -> None:
        """Record an order UBSCore accepted through this gateway as NEW (gRPC worker), unless the feed was first.
        Its OrderUpdate is built only if it is read before the feed's comes: this runs for every order placed."""
        seen = _Seen(None, placed_ns, order.post_only, order.self_trade_mode, order.quote_budget_units,
                     accepted=(user_id, order))  # fmt: skip
        with self._lock:
            if order_id in self._seen:  # the matcher's update came first: it is further along
                return
            self._seen[order_id] = seen
            if order.client_order_id:
                self._by_client_id[(user_id, order.client_order_id)] = order_id
            self._trim()

    def refused(self, user_id: int, order: ValidOrder, reason: int, *, placed_ns: int) -> None:
        """Record an order UBSCore refused with `reason` as REJECTED without an order id (gRPC worker), if that is
        a refusal UBSCore records (RECORDED_REFUSALS)."""
        if reason not in RECORDED_REFUSALS:
            return
        update = _order_update(user_id, 0, order, placed_ns, status=common_pb2.ORDER_STATUS_REJECTED, reason=reason)
        seen = _Seen(update, placed_ns, order.post_only, order.self_trade_mode, order.quote_budget_units)
        key = (user_id, order.client_order_id)
        with self._lock:
            self._refused[key] = seen
            self._refused.move_to_end(key)
            while len(self._refused) > self.capacity_max:
                self._refused.popitem(last=False)

    def _trim(self) -> None:
        while len(self._seen) > self.capacity_max:
            _, gone = self._seen.popitem(last=False)
            self._by_client_id.pop(gone.client_key(), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def find(
        self, *, user_id: int, order_id: int = 0, client_order_id: str = ""
    ) -> tuple[int, trading_service_pb2.Order] | None:
        """(owner, latest state) of the order with `order_id` (any owner: the caller checks), or with the user's
        `client_order_id` (a refused one too); None if not seen (or for a market this gateway's catalog lacks)."""
        with self._lock:
            if order_id:
                seen = self._seen.get(order_id)
            else:
                key = (user_id, client_order_id)
                order_id = self._by_client_id.get(key, 0)
                seen = self._seen.get(order_id) or self._refused.get(key)
            if seen is None:
                return None
            update, created_ns, accepted = seen.update, seen.created_ns, seen.accepted
            post_only, self_trade_mode, budget = seen.post_only, seen.self_trade_mode, seen.quote_budget_units
        if update is None:
            assert accepted is not None
            owner, placed = accepted
            update = _order_update(owner, order_id, placed, created_ns, status=common_pb2.ORDER_STATUS_NEW,
                                   remaining_qty_units=placed.qty_units, remaining_quote_units=budget)  # fmt: skip
        market = self.catalog.markets.get(update.symbol)
        if market is None:
            return None
        order = order_view(update, market, post_only=post_only, self_trade_mode=self_trade_mode,
                           quote_budget_units=budget)  # fmt: skip
        order.created_ns = created_ns or update.ts_event_ns
        return update.user_id, order


def _order_update(
    user_id: int, order_id: int, order: ValidOrder, placed_ns: int, **state: int
) -> engine_pb2.OrderUpdate:
    """An order this gateway placed, as the matcher would report it: the placement, with `state` (status and what
    remains)."""
    return engine_pb2.OrderUpdate(
        order_id=order_id, user_id=user_id, client_order_id=order.client_order_id, symbol=order.market.symbol,
        side=order.side, order_type=order.order_type, time_in_force=order.time_in_force,
        price_units=order.price_units, qty_units=order.qty_units, ts_event_ns=placed_ns, **state,
    )  # fmt: skip
