"""The latest balance of each (user, asset) this gateway saw on `balance.events`, so a private stream's opening
snapshot never misses a change Settlement has not stored yet, and GetBalances shows an order's lock as soon as
PlaceOrder answers (UBSCore's answer carries the locked account: `observe_account`).

A stream subscribes first and then reads the snapshot from the database (Settlement's `user_balances`). A change
UBSCore made just before the subscription was already handed to the open streams, and the database may not hold
it yet: the stream would show it neither in the snapshot nor live. The snapshot therefore takes, per asset, the
newer (higher `version`) of the stored row and the last change seen here. The follower records a change before
it offers it to the streams (UserStreams.observe_balance), so every change is in one or the other.

Bounded: the `capacity_max` (user, asset) pairs changed most recently are kept. A pair falls out only after that
many other pairs changed since, long after Settlement has stored it unless Settlement is that far behind. A
starting gateway reads the last HISTORY_MS of the topic into it (gateway/balance_events.py), so a change made
shortly before it started and not yet stored is known too.

Thread-safe: `observe` runs on the follower's thread, `freshest` on gRPC workers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

from common.markets import MarketCatalog
from exchange.v1 import account_service_pb2, balance_pb2
from gateway.row_views import balance_from_row

CAPACITY_MAX_DEFAULT = 100_000  # (user, asset) pairs, ~150 bytes each
HISTORY_MS = 120_000  # Settlement's lag stays well below this (tens of seconds at the pipeline's flat-out rate)


class SeenBalance(NamedTuple):
    """A balance as a BalanceEvent left it."""

    available_units: int
    frozen_units: int
    version: int


class RecentBalances:
    """Last balance per (user, asset) from balance events, most recently changed kept."""

    def __init__(self, catalog: MarketCatalog, *, capacity_max: int = CAPACITY_MAX_DEFAULT) -> None:
        assert capacity_max >= 1, capacity_max
        self.catalog = catalog
        self.capacity_max = capacity_max
        self._seen: OrderedDict[tuple[int, int], SeenBalance] = OrderedDict()
        self._assets_of_user: dict[int, set[int]] = {}
        self._lock = threading.Lock()

    def observe(self, event: balance_pb2.BalanceEvent) -> None:
        """Record the balance an event left (a refusal, version 0, changed none; an older version is ignored)."""
        self.observe_account(event.user_id, event.asset_id,
                             SeenBalance(event.available_units, event.frozen_units, event.version))  # fmt: skip

    def observe_account(self, user_id: int, asset_id: int, balance: SeenBalance) -> None:
        """Record `balance` of (user, asset), as an event or UBSCore's answer to an order left it (version 0: no
        change; an older version is ignored)."""
        if balance.version <= 0:
            return
        key = (user_id, asset_id)
        with self._lock:
            known = self._seen.get(key)
            if known is not None and known.version >= balance.version:
                return
            self._seen[key] = balance
            self._seen.move_to_end(key)
            self._assets_of_user.setdefault(user_id, set()).add(asset_id)
            while len(self._seen) > self.capacity_max:
                (user_id, asset_id), _ = self._seen.popitem(last=False)
                assets = self._assets_of_user[user_id]
                assets.discard(asset_id)
                if not assets:
                    del self._assets_of_user[user_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def freshest(
        self, user_id: int, stored: Iterable[account_service_pb2.Balance]
    ) -> list[account_service_pb2.Balance]:
        """`stored` (the user's balances as the database holds them), each replaced by the change seen here when
        that is newer, plus assets only seen here; in asset id order."""
        with self._lock:
            seen = {asset_id: self._seen[(user_id, asset_id)] for asset_id in self._assets_of_user.get(user_id, ())}
        by_asset_id: dict[int, account_service_pb2.Balance] = {}
        for balance in stored:
            by_asset_id[self.catalog.assets[balance.asset].asset_id] = balance
        for asset_id, balance in seen.items():
            current = by_asset_id.get(asset_id)
            if current is not None and current.version >= balance.version:
                continue
            row = {"asset_id": asset_id, **balance._asdict()}  # shaped like a user_balances row
            try:
                by_asset_id[asset_id] = balance_from_row(row, self.catalog)
            except KeyError:  # an asset this gateway's catalog does not list: the database's rows say the same
                continue
        return [by_asset_id[asset_id] for asset_id in sorted(by_asset_id)]
