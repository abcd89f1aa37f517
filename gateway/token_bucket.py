"""A token bucket: a sustained rate with a burst (the per-key rate limits, and the gateway's reads of unknown keys)."""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import ConfigInvalid


@dataclass(frozen=True, slots=True)
class BucketLimit:
    """Sustained rate (tokens per second) and burst (bucket capacity) of one role class."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0 or self.burst < 1:
            raise ConfigInvalid(f"rate limit {self}: need rate > 0 and burst >= 1")


@dataclass(slots=True)
class TokenBucket:
    """Tokens refill continuously at `limit.rate_per_s` up to `limit.burst`; a call takes one."""

    limit: BucketLimit
    tokens: float
    updated_ns: int

    def take(self, now_ns: int, cost: int = 1) -> int:
        """Take `cost` tokens and return 0, or return the milliseconds until they are there (nothing taken)."""
        assert 1 <= cost <= self.limit.burst, (cost, self.limit)
        elapsed_s = max(0, now_ns - self.updated_ns) / 1e9
        self.tokens = min(float(self.limit.burst), self.tokens + elapsed_s * self.limit.rate_per_s)
        self.updated_ns = now_ns
        if self.tokens >= cost:
            self.tokens -= cost
            return 0
        missing = cost - self.tokens
        return max(1, int(missing / self.limit.rate_per_s * 1000 + 0.999))

    def is_full(self, now_ns: int) -> bool:
        """True if the bucket has refilled to its burst by `now_ns` (it can be forgotten)."""
        elapsed_s = max(0, now_ns - self.updated_ns) / 1e9
        return self.tokens + elapsed_s * self.limit.rate_per_s >= self.limit.burst
