"""Idle strategies: the back-off steps (spin, yield, park doubling to a cap) and the reset on work."""

from __future__ import annotations

import pytest

from common.aeron.idle import (
    BackoffIdleStrategy,
    BusySpinIdleStrategy,
    IdleStrategy,
    SleepingIdleStrategy,
    YieldingIdleStrategy,
)


def test_backoff_spins_then_yields_then_parks_doubling_up_to_the_cap() -> None:
    """After spins_max spins and yields_max yields, each idle parks for a period that doubles from the minimum
    and stops at the maximum."""
    idle = BackoffIdleStrategy(spins_max=3, yields_max=2, park_period_ns_min=1_000, park_period_ns_max=8_000)
    for _ in range(3 + 2):
        idle.idle(0)
        assert idle.park_period_ns == 1_000  # not parking yet
    periods = []
    for _ in range(6):
        idle.idle(0)
        periods.append(idle.park_period_ns)
    assert periods == [2_000, 4_000, 8_000, 8_000, 8_000, 8_000]


def test_backoff_resets_when_work_was_done() -> None:
    """Any work (> 0) puts the strategy back to spinning: the next idles do not park."""
    idle = BackoffIdleStrategy(spins_max=2, yields_max=1, park_period_ns_min=1_000, park_period_ns_max=4_000)
    for _ in range(6):
        idle.idle(0)
    assert idle.park_period_ns == 4_000
    idle.idle(5)
    assert idle.park_period_ns == 1_000
    for _ in range(3):
        idle.idle(0)
    assert idle.park_period_ns == 1_000  # spun twice and yielded once: still no park


def test_backoff_refuses_a_minimum_park_above_the_maximum() -> None:
    """A misconfigured back-off is a bug caught at construction."""
    with pytest.raises(AssertionError):
        BackoffIdleStrategy(park_period_ns_min=2_000, park_period_ns_max=1_000)


@pytest.mark.parametrize("idle", [BusySpinIdleStrategy(), YieldingIdleStrategy(),
                                  SleepingIdleStrategy(sleep_period_ns=1_000), BackoffIdleStrategy()])
def test_every_strategy_takes_work_counts_and_resets(idle: IdleStrategy) -> None:
    """All strategies share the IdleStrategy shape: idle(work) with and without work, and reset()."""
    idle.idle(0)
    idle.idle(3)
    idle.reset()
    idle.idle()
