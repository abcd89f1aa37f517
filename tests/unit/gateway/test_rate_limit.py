"""Token buckets refuse with an exact retry hint and refill at their rate; each key and role class is separate."""

from __future__ import annotations

import pytest

from common.errors import ConfigInvalid
from exchange.v1 import common_pb2
from gateway.errors import Refused
from gateway.rate_limit import DEFAULT_RATE_LIMITS, BucketLimit, RateLimiter, parse_rate_limits


class FakeClock:
    """A monotonic clock the test moves by hand (the bucket arithmetic is pure)."""

    def __init__(self) -> None:
        self.now_ns = 1_000_000_000

    def __call__(self) -> int:
        return self.now_ns


def limiter(clock: FakeClock, **limits: BucketLimit) -> RateLimiter:
    return RateLimiter({**DEFAULT_RATE_LIMITS, **limits}, clock_ns=clock)


def test_burst_is_allowed_then_refused_with_retry_hint_then_refilled() -> None:
    """10/s with burst 3: three calls pass, the fourth waits 100 ms, and passes after 100 ms."""
    clock = FakeClock()
    rates = limiter(clock, trade=BucketLimit(10, 3))
    for _ in range(3):
        rates.check("k1", "trade")
    with pytest.raises(Refused) as caught:
        rates.check("k1", "trade")
    assert caught.value.reason == common_pb2.REJECT_REASON_RATE_LIMITED
    assert caught.value.retry_after_ms == 100
    clock.now_ns += 100_000_000
    rates.check("k1", "trade")


def test_keys_and_role_classes_have_separate_buckets() -> None:
    """An exhausted trade bucket of one key leaves its read bucket and other keys alone."""
    clock = FakeClock()
    rates = limiter(clock, trade=BucketLimit(1, 1))
    rates.check("k1", "trade")
    with pytest.raises(Refused):
        rates.check("k1", "trade")
    rates.check("k1", "read")
    rates.check("k2", "trade")


def test_full_buckets_are_forgotten_when_the_table_is_full() -> None:
    """The table stays bounded: refilled buckets are dropped to make room."""
    clock = FakeClock()
    rates = RateLimiter(DEFAULT_RATE_LIMITS, clock_ns=clock, buckets_max=2)
    rates.check("k1", "read")
    rates.check("k2", "read")
    clock.now_ns += 10_000_000_000
    rates.check("k3", "read")
    assert len(rates.buckets) == 1


def test_parse_rate_limits_overrides_named_classes_and_refuses_unknown() -> None:
    """"trade=5/10" changes trade only; an unknown class or a bad number is a config error."""
    limits = parse_rate_limits("trade=5/10")
    assert limits["trade"] == BucketLimit(5, 10)
    assert limits["read"] == DEFAULT_RATE_LIMITS["read"]
    for bad in ("nope=1/1", "trade=x/1", "trade=0/1"):
        with pytest.raises(ConfigInvalid):
            parse_rate_limits(bad)


def test_a_batch_costs_one_token_per_order_and_more_than_the_burst_is_refused_outright() -> None:
    """Cost 3 from a burst of 5 leaves 2; a cost of 6 can never fit: INVALID_REQUEST, not a retry hint."""
    clock = FakeClock()
    rates = limiter(clock, trade=BucketLimit(10, 5))
    rates.check("k1", "trade", 3)
    with pytest.raises(Refused) as caught:
        rates.check("k1", "trade", 3)
    assert caught.value.retry_after_ms == 100
    with pytest.raises(Refused) as too_big:
        rates.check("k1", "trade", 6)
    assert too_big.value.reason == common_pb2.REJECT_REASON_INVALID_REQUEST
