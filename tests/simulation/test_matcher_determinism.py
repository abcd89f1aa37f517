"""Deterministic simulation of the matcher core: a seeded stream of ~10k commands over two markets.

Goal: the same input gives the same output (two fresh engines agree event for event), a snapshot taken mid-way
and restored (through JSON) continues identically, and the fast engine agrees with the reference engine.
The seed is printed on failure (pytest shows the parameter id).
"""

from __future__ import annotations

import json
import random

import pytest

from common.enums import OrderType, SelfTradeMode, Side, TimeInForce
from common.markets import load_catalog
from matcher.book_reference import ReferenceBook
from matcher.commands import CancelOrder, Command, PlaceOrder
from matcher.engine import Engine

MARKETS = load_catalog().markets
SYMBOLS = ("BTC_USDT", "ETH_USDT")
COMMANDS = 10_000


def generate(seed: int, count: int) -> list[Command]:
    """Orders around a mid price per market, cancels of earlier ids (some stale), a few malformed or duplicate."""
    rng = random.Random(seed)
    commands: list[Command] = []
    placed: list[PlaceOrder] = []
    for step in range(count):
        market = MARKETS[rng.choice(SYMBOLS)]
        user = rng.randint(1, 20)
        roll = rng.random()
        if roll < 0.25 and placed:
            target = rng.choice(placed[-300:])
            commands.append(
                CancelOrder(symbol=target.symbol, user_id=target.user_id, order_id=target.order_id, ts_event_ns=step)
            )
            continue
        if roll > 0.99 and placed:  # a redelivered order: must be ignored
            commands.append(rng.choice(placed))
            continue
        side = rng.choice((Side.BUY, Side.SELL))
        common = {
            "symbol": market.symbol, "order_id": step + 1, "user_id": user, "side": side, "ts_event_ns": step,
            "self_trade_mode": rng.choice(list(SelfTradeMode)), "client_order_id": rng.choice(["", f"c{step % 7}"]),
        }  # fmt: skip
        if roll < 0.30:
            if side == Side.BUY:
                order = PlaceOrder(
                    order_type=OrderType.MARKET, quote_budget_units=rng.randint(1, 50_000) * 10**6, **common
                )
            else:
                order = PlaceOrder(
                    order_type=OrderType.MARKET, qty_units=rng.randint(1, 30) * market.lot_units, **common
                )
        else:
            tif = rng.choices((TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK), weights=(8, 2, 1))[0]
            mid = 1_000 * market.tick_units * 100  # 1000.00 in quote units
            away = rng.randint(-5, 40) * (1 if side == Side.SELL else -1)  # mostly passive, sometimes crossing
            offset = away * market.tick_units
            order = PlaceOrder(
                order_type=OrderType.LIMIT, time_in_force=tif, price_units=mid + offset,
                qty_units=rng.randint(1, 20) * market.lot_units,
                post_only=tif == TimeInForce.GTC and rng.random() < 0.1,
                **common,
            )  # fmt: skip
        commands.append(order)
        placed.append(order)
    return commands


def run(engine: Engine, commands: list[Command]) -> list[object]:
    return [engine.apply(cmd) for cmd in commands]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_commands_give_same_outputs_and_snapshot_continues(seed: int) -> None:
    """Two fresh engines agree on every result; a JSON snapshot at the midpoint restores to the same continuation."""
    commands = generate(seed, COMMANDS)
    first, second = Engine(MARKETS.values()), Engine(MARKETS.values())
    half = len(commands) // 2
    assert run(first, commands[:half]) == run(second, commands[:half])
    restored = Engine(MARKETS.values())
    restored.restore(json.loads(json.dumps(first.snapshot())))
    rest_first = run(first, commands[half:])
    assert rest_first == run(second, commands[half:])
    assert rest_first == run(restored, commands[half:])
    assert restored.snapshot() == first.snapshot()
    assert sum(len(r.trades) for r in rest_first) > 100, "the stream should trade a lot"


def test_fast_engine_agrees_with_reference_engine_on_a_long_stream() -> None:
    """The naive reference engine produces the same results on a long seeded stream."""
    commands = generate(seed=42, count=3_000)
    assert run(Engine(MARKETS.values()), commands) == run(
        Engine(MARKETS.values(), book_factory=ReferenceBook), commands
    )
