"""RecentBalances: a private stream's snapshot takes, per asset, the newer of the stored row and the last change
the gateway saw; bounded by the pairs changed most recently."""

from __future__ import annotations

from common.markets import load_catalog
from common.money import format_units
from exchange.v1 import account_service_pb2, balance_pb2
from gateway.recent_balances import RecentBalances

CATALOG = load_catalog()
BTC, USDT = CATALOG.assets["BTC"].asset_id, CATALOG.assets["USDT"].asset_id
ALICE, BOB = 1001, 1002


def event(user_id: int, asset_id: int, *, available_units: int, frozen_units: int = 0,
          version: int) -> balance_pb2.BalanceEvent:
    """A balance change as UBSCore writes it."""
    return balance_pb2.BalanceEvent(user_id=user_id, asset_id=asset_id, available_units=available_units,
                                    frozen_units=frozen_units, version=version,
                                    type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED)


def stored(asset: str, available: str, version: int, frozen: str | None = None) -> account_service_pb2.Balance:
    """A balance as the database read gives it (nothing frozen unless told)."""
    zero = format_units(0, CATALOG.assets[asset].scale)
    return account_service_pb2.Balance(asset=asset, available=available, frozen=frozen or zero, version=version)


def test_a_change_not_stored_yet_completes_the_snapshot() -> None:
    recent = RecentBalances(CATALOG)
    recent.observe(event(ALICE, USDT, available_units=100_000_000_000, version=1))

    assert recent.freshest(ALICE, []) == [stored("USDT", "100000.000000", 1)]
    assert recent.freshest(BOB, []) == []


def test_the_higher_version_wins_per_asset_and_the_order_is_by_asset_id() -> None:
    recent = RecentBalances(CATALOG)
    recent.observe(event(ALICE, USDT, available_units=60_000_000_000, frozen_units=40_000_000_000, version=3))
    recent.observe(event(ALICE, BTC, available_units=50_000_000, version=2))
    database = [stored("BTC", "0.70000000", 4), stored("USDT", "100000.000000", 1)]

    assert recent.freshest(ALICE, reversed(database)) == [
        stored("BTC", "0.70000000", 4),  # the database is ahead: kept
        stored("USDT", "60000.000000", 3, frozen="40000.000000"),  # the gateway is ahead: replaced
    ]


def test_an_older_or_refused_event_changes_nothing() -> None:
    recent = RecentBalances(CATALOG)
    recent.observe(event(ALICE, USDT, available_units=7, version=5))
    recent.observe(event(ALICE, USDT, available_units=3, version=4))  # a late, older one
    recent.observe(event(ALICE, BTC, available_units=0, version=0))  # a refusal: no balance changed

    assert recent.freshest(ALICE, []) == [stored("USDT", "0.000007", 5)]
    assert len(recent) == 1


def test_only_the_most_recently_changed_pairs_are_kept() -> None:
    recent = RecentBalances(CATALOG, capacity_max=2)
    recent.observe(event(ALICE, USDT, available_units=1, version=1))
    recent.observe(event(BOB, USDT, available_units=2, version=1))
    recent.observe(event(ALICE, USDT, available_units=3, version=2))  # ALICE's pair is the newest again
    recent.observe(event(BOB, BTC, available_units=4, version=1))  # evicts BOB's USDT, the oldest

    assert len(recent) == 2
    assert recent.freshest(BOB, []) == [stored("BTC", "0.00000004", 1)]
    assert recent.freshest(ALICE, []) == [stored("USDT", "0.000003", 2)]
