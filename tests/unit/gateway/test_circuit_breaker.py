"""The UBSCore circuit breaker opens after N failures in a row, refuses at once while open, lets one trial through
after the open period, and closes on its success or reopens on its failure."""

from __future__ import annotations

import pytest

from exchange.v1 import common_pb2
from gateway.errors import Refused
from gateway.ubscore_client import BreakerState, CircuitBreaker


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now_ns = 10**12

    def __call__(self) -> int:
        return self.now_ns


def test_opens_after_consecutive_failures_and_refuses_with_retry_hint() -> None:
    """3 failures open it; a success in between resets the count; open calls get UNAVAILABLE with the rest of
    the open period as retry hint."""
    clock = FakeClock()
    breaker = CircuitBreaker(failures_to_open=3, open_ms=1_000, clock_ns=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN
    clock.now_ns += 400_000_000
    with pytest.raises(Refused) as caught:
        breaker.before_call()
    assert caught.value.reason == common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE
    assert caught.value.retry_after_ms == 600


def test_half_open_allows_one_trial_which_closes_or_reopens() -> None:
    """After the open period one call passes and a second is refused; a failed trial reopens, a good one closes."""
    clock = FakeClock()
    breaker = CircuitBreaker(failures_to_open=1, open_ms=100, clock_ns=clock)
    breaker.record_failure()
    clock.now_ns += 100_000_000
    breaker.before_call()
    with pytest.raises(Refused):
        breaker.before_call()
    breaker.record_failure()
    assert breaker.state == BreakerState.OPEN
    clock.now_ns += 100_000_000
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == BreakerState.CLOSED
    breaker.before_call()
    breaker.before_call()
