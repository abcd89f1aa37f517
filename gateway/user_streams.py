"""The private user streams: each user's order updates and fills (from the matcher feed) and balance changes
(from UBSCore's `balance.events`), fanned out to that user's open streams.

`observe` runs on each matcher shard's feed thread, `observe_balance` on the balance-event follower's thread;
both only offer to bounded queues (gateway.streams), so a slow client is cut off and never slows them. A stream
is live only: it carries what happens after it opened (history is in the order, fill and ledger queries).

Limit: an update of a resting order touched by someone else's order does not say whether it was post-only or its
STP mode (the matcher's OrderUpdate lacks them); those show their defaults (false, unspecified) there; the
order's own placement shows them right.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable

from common.markets import MarketCatalog
from common.money import format_units
from exchange.v1 import account_service_pb2, balance_pb2, common_pb2, engine_pb2
from gateway.order_views import fill_view, order_view
from gateway.recent_balances import CAPACITY_MAX_DEFAULT, RecentBalances
from gateway.streams import Subscription

Message = account_service_pb2.StreamUserDataResponse


def ledger_entry(event: balance_pb2.BalanceEvent, catalog: MarketCatalog) -> account_service_pb2.LedgerEntry | None:
    """A BalanceEvent as a LedgerEntry with decimal strings (None for an asset this gateway does not know)."""
    try:
        asset = catalog.asset_by_id(event.asset_id)
    except KeyError:
        return None
    return account_service_pb2.LedgerEntry(
        event_id=event.event_id, asset=asset.name, type=event.type,
        delta_available=format_units(event.delta_available_units, asset.scale),
        delta_frozen=format_units(event.delta_frozen_units, asset.scale),
        available=format_units(event.available_units, asset.scale),
        frozen=format_units(event.frozen_units, asset.scale), order_id=event.order_id, trade_id=event.trade_id,
        request_id=event.request_id, ts_event_ns=event.ts_event_ns, version=event.version,
        unlock_cause=event.unlock_cause, reject_reason=event.reject_reason, client_order_id=event.client_order_id,
        symbol=event.symbol,
    )


class UserStreams:
    """Open private streams by user id."""

    def __init__(
        self, catalog: MarketCatalog, *, queue_max: int, subscribers_max: int,
        recent_balances_max: int = CAPACITY_MAX_DEFAULT,
        placement: Callable[[int], tuple[bool, int, int] | None] | None = None,
    ) -> None:
        """`placement(order_id)` gives (post_only, self_trade_mode, quote_budget_units) of an order placed before
        the output at hand (gateway.recent_orders), so a maker's update shows them too."""
        self.catalog = catalog
        self.placement = placement
        self.recent = RecentBalances(catalog, capacity_max=recent_balances_max)  # completes the opening snapshots
        self.queue_max = queue_max
        self.subscribers_max = subscribers_max
        self.by_user: dict[int, set[Subscription]] = {}
        self.count = 0
        self.lock = threading.Lock()

    def subscribe(self, user_id: int, symbols: Iterable[str]) -> Subscription:
        """Open a stream for `user_id` (orders and fills of `symbols` only, if any are named)."""
        with self.lock:
            if self.count >= self.subscribers_max:
                raise OverflowError(f"{self.subscribers_max} user streams already")
            subscription = Subscription(
                messages=queue.Queue(maxsize=self.queue_max), symbols=frozenset(symbols), user_id=user_id
            )
            self.by_user.setdefault(user_id, set()).add(subscription)
            self.count += 1
            return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Close a stream (idempotent)."""
        with self.lock:
            streams = self.by_user.get(subscription.user_id)
            if streams is not None and subscription in streams:
                streams.discard(subscription)
                self.count -= 1
                if not streams:
                    del self.by_user[subscription.user_id]

    def observe(self, output: engine_pb2.EngineOutput) -> None:
        """Order updates and fills of subscribed users in one matcher output."""
        if not self.by_user:  # the common case on a busy feed: nobody to tell
            return
        command = output.input.command
        placed = command.place if command.WhichOneof("command") == "place" else None
        for update in output.order_updates:
            market = self.catalog.markets.get(update.symbol)
            if market is None or update.user_id not in self.by_user:
                continue
            if placed is not None and placed.order_id == update.order_id:
                post_only, self_trade_mode, budget = placed.post_only, placed.self_trade_mode, placed.quote_budget_units
            else:
                known = self.placement(update.order_id) if self.placement is not None else None
                post_only, self_trade_mode, budget = known or (False, 0, 0)
            order = order_view(update, market, post_only=post_only, self_trade_mode=self_trade_mode,
                               quote_budget_units=budget)  # fmt: skip
            self._offer(update.user_id, update.symbol, Message(order_update=order))
        for trade in output.trades:
            market = self.catalog.markets.get(trade.symbol)
            if market is None:
                continue
            for user_id, order_id in ((trade.taker_user_id, trade.taker_order_id),
                                      (trade.maker_user_id, trade.maker_order_id)):  # fmt: skip
                if user_id in self.by_user:
                    coid = next((u.client_order_id for u in output.order_updates if u.order_id == order_id), "")
                    fill = fill_view(trade, market, order_id=order_id, client_order_id=coid)
                    self._offer(user_id, trade.symbol, Message(fill=fill))

    def observe_balance(self, event: balance_pb2.BalanceEvent) -> None:
        """A balance change (or a refused transfer) of a subscribed user; sent whatever symbols the stream named.
        Every user's change is recorded first (`recent`): one that opens a stream after this has it in its
        snapshot even before Settlement stores it."""
        self.recent.observe(event)
        if event.user_id not in self.by_user:
            return
        entry = ledger_entry(event, self.catalog)
        if entry is not None:
            self._offer(event.user_id, "", Message(balance_change=entry))

    def _offer(self, user_id: int, symbol: str, message: Message) -> None:
        with self.lock:
            for subscription in list(self.by_user.get(user_id, ())):
                if symbol and subscription.symbols and symbol not in subscription.symbols:
                    continue
                if not subscription.offer(message):  # cut off: its stream ends with RESOURCE_EXHAUSTED
                    self.by_user[user_id].discard(subscription)
                    self.count -= 1
            if user_id in self.by_user and not self.by_user[user_id]:
                del self.by_user[user_id]


def heartbeat(wall_clock_ns: int) -> Message:
    """A heartbeat message of the user stream."""
    return Message(heartbeat=common_pb2.Heartbeat(server_time_ns=wall_clock_ns))
