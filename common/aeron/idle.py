"""Idle strategies for poll and retry loops (org.agrona.concurrent.IdleStrategy and its usual implementations).

A duty-cycle loop does some work (`subscription.poll`, `client.do_work`, a retried `offer`) and then calls
`idle.idle(work_count)`: with work done (> 0) the strategy resets and returns at once; with none it waits a
little, more the longer nothing happens. Which one to use:

- `BusySpinIdleStrategy`: never waits; a whole core, no wake-up latency (a dedicated core, benchmarks).
- `YieldingIdleStrategy`: `sched_yield` (releasing the GIL); a whole core, but other threads run.
- `BackoffIdleStrategy`: spin, yield, then park 1 µs doubling to 1 ms; ~2% of a core on an idle
  subscription, no added latency while busy, up to `park_period_ns_max` after a long idle. The default for
  services, examples and the request/response helpers.
- `SleepingIdleStrategy`: a fixed sleep; lowest CPU, latency of the sleep (background work).

Python's `time.sleep` resolution is ~50-60 µs on Linux (timer slack), so the shortest parks last that long.
A strategy instance keeps state: one instance per loop (per thread).
"""

from __future__ import annotations

import os
import time
from typing import Protocol

#: Aeron's defaults (org.agrona.concurrent.BackoffIdleStrategy).
BACKOFF_SPINS_MAX = 10
BACKOFF_YIELDS_MAX = 5
BACKOFF_PARK_PERIOD_NS_MIN = 1_000
BACKOFF_PARK_PERIOD_NS_MAX = 1_000_000


class IdleStrategy(Protocol):
    """What a poll/retry loop calls after each unit of work."""

    def idle(self, work_count: int = 0) -> None:
        """Reset when `work_count` > 0, else wait as the strategy says."""

    def reset(self) -> None:
        """Forget the idle history (work happened)."""


class BusySpinIdleStrategy:
    """Never waits: the loop spins on a core (lowest latency, 100% CPU)."""

    __slots__ = ()

    def idle(self, work_count: int = 0) -> None:
        """Return at once."""

    def reset(self) -> None:
        """Nothing to reset."""


class YieldingIdleStrategy:
    """Yields the CPU (and the GIL) when idle: 100% CPU, but other threads get to run."""

    __slots__ = ()

    def idle(self, work_count: int = 0) -> None:
        """`sched_yield` when there was no work."""
        if work_count <= 0:
            os.sched_yield()

    def reset(self) -> None:
        """Nothing to reset."""


class SleepingIdleStrategy:
    """Sleeps a fixed period when idle."""

    __slots__ = ("_sleep_period_s",)

    def __init__(self, *, sleep_period_ns: int) -> None:
        assert sleep_period_ns > 0, sleep_period_ns
        self._sleep_period_s = sleep_period_ns / 1e9

    def idle(self, work_count: int = 0) -> None:
        """Sleep `sleep_period_ns` when there was no work."""
        if work_count <= 0:
            time.sleep(self._sleep_period_s)

    def reset(self) -> None:
        """Nothing to reset."""


class BackoffIdleStrategy:
    """Spin, then yield, then park with a period doubling from `park_period_ns_min` to `park_period_ns_max`;
    any work resets it (as org.agrona.concurrent.BackoffIdleStrategy)."""

    __slots__ = ("_park_period_ns", "_spins", "_yields", "park_period_ns_max", "park_period_ns_min", "spins_max",
                 "yields_max")

    def __init__(self, *, spins_max: int = BACKOFF_SPINS_MAX, yields_max: int = BACKOFF_YIELDS_MAX,
                 park_period_ns_min: int = BACKOFF_PARK_PERIOD_NS_MIN,
                 park_period_ns_max: int = BACKOFF_PARK_PERIOD_NS_MAX) -> None:
        assert spins_max >= 0, spins_max
        assert yields_max >= 0, yields_max
        assert 0 < park_period_ns_min <= park_period_ns_max, (park_period_ns_min, park_period_ns_max)
        self.spins_max = spins_max
        self.yields_max = yields_max
        self.park_period_ns_min = park_period_ns_min
        self.park_period_ns_max = park_period_ns_max
        self.reset()

    def idle(self, work_count: int = 0) -> None:
        """Reset when there was work; otherwise take the next back-off step."""
        if work_count > 0:
            self.reset()
            return
        if self._spins < self.spins_max:
            self._spins += 1
        elif self._yields < self.yields_max:
            self._yields += 1
            os.sched_yield()
        else:
            time.sleep(self._park_period_ns / 1e9)
            self._park_period_ns = min(self._park_period_ns * 2, self.park_period_ns_max)

    def reset(self) -> None:
        """Back to spinning."""
        self._spins = 0
        self._yields = 0
        self._park_period_ns = self.park_period_ns_min

    @property
    def park_period_ns(self) -> int:
        """The next park's length (for tests and diagnostics)."""
        return self._park_period_ns
