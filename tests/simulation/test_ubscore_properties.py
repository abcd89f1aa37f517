"""Property tests of UBSCore with the real matcher core: random mixes keep every money rule after every step.

Hypothesis draws a sequence of deposits, withdrawals, limit and market orders of every time in force (post-only,
self-trade modes included), cancels by id and by client id, matcher runs of a random number of queued commands
(fills, expiries, rejections), redeliveries of old matcher outputs and restarts from a snapshot. After every
step: per asset the accounts (fee account included) sum to deposits minus withdrawals, no balance is negative,
and every frozen balance is exactly what the user's open orders hold (so it is 0 with no open orders). At the
end the event ids are dense, each account's versions are dense, and order ids only grew.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from common.enums import BalanceEventType, FundsUnlockCause, OrderType, SelfTradeMode, Side, TimeInForce

from .ubscore_exchange import BTC, ETH, USDT, Exchange

USERS = (1001, 1002, 1003)
MARKETS = {  # symbol: (center price units, tick units, lot units)
    "BTC_USDT": (45_000_000_000, 10_000, 10_000),
    "ETH_BTC": (5_000_000, 100, 1_000_000),
}
ASSETS = {BTC: 10**8, USDT: 10**6 * 100_000, ETH: 10**9}  # a large deposit per asset


@st.composite
def steps(draw: st.DrawFn) -> tuple:
    kind = draw(st.sampled_from(["deposit", "deposit", "withdraw", "order", "order", "order", "order", "cancel",
                                 "match", "match", "redeliver", "restart"]))  # fmt: skip
    user = draw(st.sampled_from(USERS))
    if kind in ("deposit", "withdraw"):
        asset = draw(st.sampled_from(sorted(ASSETS)))
        # Mostly large amounts (small ones would refuse nearly every order), now and then an odd or tiny one.
        amount = ASSETS[asset] * draw(st.integers(1, 20)) // draw(st.sampled_from([1, 1, 3, 10**6]))
        return (kind, user, asset, max(amount, 1))
    if kind == "order":
        symbol = draw(st.sampled_from(sorted(MARKETS)))
        center, tick, lot = MARKETS[symbol]
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        order_type = draw(st.sampled_from([OrderType.LIMIT, OrderType.LIMIT, OrderType.MARKET]))
        stp = draw(st.sampled_from(list(SelfTradeMode)))
        qty = lot * draw(st.integers(1, 50))
        coid = draw(st.sampled_from(["", "", "", "", "k1", "k2", "k3"]))  # "": a fresh one; else repeats and reuses
        if order_type == OrderType.MARKET:
            budget = 10**5 * draw(st.integers(1, 100_000)) if side == Side.BUY else 0
            return (kind, user, symbol, side, order_type, 0, 0 if budget else qty, budget, TimeInForce.UNSPECIFIED,
                    False, stp, coid)  # fmt: skip
        price = center + tick * draw(st.integers(-20, 20)) * 100
        tif = draw(st.sampled_from(list(TimeInForce)))
        post_only = draw(st.booleans()) and tif in (TimeInForce.GTC, TimeInForce.UNSPECIFIED)
        return (kind, user, symbol, side, order_type, price, qty, 0, tif, post_only, stp, coid)
    if kind == "cancel":
        return (kind, user, draw(st.integers(0, 40)), f"k{draw(st.integers(0, 30))}")
    if kind == "match":
        return (kind, draw(st.integers(1, 10)))
    if kind == "redeliver":
        return (kind, draw(st.integers(0, 10_000)))
    return (kind,)


def run_step(exchange: Exchange, step: tuple) -> None:
    kind = step[0]
    if kind in ("deposit", "withdraw"):
        _, user, asset, amount = step
        exchange.transfer(user, asset, amount, deposit=kind == "deposit")
    elif kind == "order":
        _, user, symbol, side, order_type, price, qty, budget, tif, post_only, stp, coid = step
        exchange.place(user, symbol, side, price=price, qty=qty, budget=budget, order_type=order_type, tif=tif,
                       post_only=post_only, stp=stp, coid=coid)  # fmt: skip
    elif kind == "cancel":
        _, user, order_id, coid = step
        exchange.cancel(user, order_id=order_id, coid="" if order_id else coid)
    elif kind == "match":
        exchange.match(step[1])
    elif kind == "redeliver":
        if exchange.outputs:
            assert not exchange.settle(exchange.outputs[step[1] % len(exchange.outputs)]).events
    else:
        exchange.restart()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps(), min_size=5, max_size=80))
def test_random_mix_keeps_money_conserved_non_negative_and_frozen_explained(mix: list[tuple]) -> None:
    exchange = Exchange()
    for user in USERS:  # everyone starts funded, so most orders get through to the matcher
        for asset, amount in ASSETS.items():
            exchange.transfer(user, asset, amount, deposit=True)
    for step in mix:
        run_step(exchange, step)
        assert not exchange.problems(), (step, exchange.problems())
    exchange.match()  # drain: every accepted order reaches a state the matcher decided
    assert not exchange.problems()
    assert [e.event_id for e in exchange.events] == list(range(1, len(exchange.events) + 1))
    versions: dict[tuple[int, int], list[int]] = {}
    for event in exchange.events:
        if event.version:
            versions.setdefault((event.user_id, event.asset_id), []).append(event.version)
    for key, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), key
    for order in exchange.core.orders:  # what is still open rests on the matcher's book, holding its lock
        assert order.order_type == OrderType.LIMIT
        assert order.held_units > 0
    resting = {o.order_id for book in exchange.engine.books.values() for o in book.orders.values()}
    assert resting == set(exchange.core.orders.by_id)
    trades = (
        sum(1 for e in exchange.events if e.type == BalanceEventType.TRADE_DEBITED) // 2
    )  # TRADE_DEBITED: two per trade
    target(trades, label="trades")  # steer hypothesis towards mixes that trade (`--hypothesis-show-statistics`)
    locks = [e.order_id for e in exchange.events if e.type == BalanceEventType.FUNDS_LOCKED]  # one per accepted order
    assert locks == sorted(set(locks))


def random_step(rng: random.Random) -> tuple:
    """One step of the same vocabulary as `steps()`, drawn uniformly (deep runs that trade a lot)."""
    kind = rng.choice(["deposit", "withdraw", "order", "order", "order", "order", "order", "cancel", "match",
                       "match", "redeliver"])  # fmt: skip
    user = rng.choice(USERS)
    if kind in ("deposit", "withdraw"):
        asset = rng.choice(sorted(ASSETS))
        return (kind, user, asset, rng.randint(1, ASSETS[asset]))
    if kind == "order":
        symbol = rng.choice(sorted(MARKETS))
        center, tick, lot = MARKETS[symbol]
        side = rng.choice([Side.BUY, Side.SELL])
        stp = rng.choice(list(SelfTradeMode))
        coid = rng.choice(["", "", "", "", "", "", "", "", "k1", "k2"])
        qty = lot * rng.randint(1, 200)
        if rng.random() < 0.2:
            budget = 10**5 * rng.randint(10, 50_000) if side == Side.BUY else 0
            return (kind, user, symbol, side, OrderType.MARKET, 0, 0 if budget else qty, budget,
                    TimeInForce.UNSPECIFIED, False, stp, coid)  # fmt: skip
        tif = rng.choice([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.UNSPECIFIED])
        post_only = tif == TimeInForce.GTC and rng.random() < 0.1
        price = center + tick * rng.randint(-10, 10) * 100
        return (kind, user, symbol, side, OrderType.LIMIT, price, qty, 0, tif, post_only, stp, coid)
    if kind == "cancel":
        return (kind, user, rng.randint(0, 3000), rng.choice(["k1", "k2"]))
    if kind == "match":
        return (kind, rng.randint(1, 20))
    return (kind, rng.randint(0, 10**6))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seeded_long_run_keeps_every_money_rule(seed: int) -> None:
    """3,000 uniformly drawn steps per seed (many trades, partial fills, improvements, expiries), then a restart."""
    rng = random.Random(seed)
    exchange = Exchange()
    for user in USERS:
        for asset, amount in ASSETS.items():
            exchange.transfer(user, asset, amount * 10, deposit=True)
    for index in range(3_000):
        step = random_step(rng)
        run_step(exchange, step)
        assert not exchange.problems(), (seed, index, step, exchange.problems())
    exchange.restart()
    exchange.match()
    assert not exchange.problems(), seed
    trades = sum(1 for e in exchange.events if e.type == BalanceEventType.TRADE_DEBITED) // 2
    improvements = sum(1 for e in exchange.events if e.unlock_cause == FundsUnlockCause.PRICE_IMPROVEMENT)
    assert trades > 300, (seed, trades)  # the run really exercised settlement
    assert improvements > 10, (seed, improvements)
