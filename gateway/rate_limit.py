"""Per-key rate limits: a token bucket per (API key, role class), refused with RESOURCE_EXHAUSTED and a retry hint.

A method's role class is the role it requires (read, trade, transfer) or `market` for market data (any key), so
a client polling its balances does not eat the budget of its order entry. Each class has its own rate and burst
(GATEWAY_RATE_LIMITS="read=50/100,trade=1000/2000,..."). A call costs one token; each order of a PlaceOrders
batch and each command of a StreamOrders stream costs one more (gateway.trading charges them), so a batch or a
stream is no way around the limit. A refused call carries google.rpc.RetryInfo with the exact time until the
bucket holds enough tokens again (grpc-gateway turns it into 429 and Retry-After).

A token bucket is a few lines of arithmetic and gives that exact retry time; the `limits` library's window
strategies would only give the end of a window. Buckets are kept per key in a bounded table; a bucket that has
refilled to full is indistinguishable from a new one, so those are what gets dropped when the table is full.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc

from common.errors import ConfigInvalid
from exchange.v1 import common_pb2
from gateway.auth import current_principal
from gateway.errors import Refused
from gateway.interceptors import AroundInterceptor, Invoke
from gateway.token_bucket import BucketLimit, TokenBucket

BUCKETS_MAX = 100_000
ROLE_CLASSES = ("read", "trade", "transfer", "market")


DEFAULT_RATE_LIMITS: Mapping[str, BucketLimit] = {
    "read": BucketLimit(50, 100),
    "trade": BucketLimit(1_000, 2_000),  # orders per second: a burst holds a full batch (1000)
    "transfer": BucketLimit(10, 20),
    "market": BucketLimit(50, 100),
}


def parse_rate_limits(text: str) -> dict[str, BucketLimit]:
    """Parse "read=50/100,trade=200/400" (rate per second / burst); classes not named keep their default."""
    limits = dict(DEFAULT_RATE_LIMITS)
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        rate, _, burst = value.partition("/")
        if name not in ROLE_CLASSES:
            raise ConfigInvalid(f"GATEWAY_RATE_LIMITS: unknown class {name!r} (one of {', '.join(ROLE_CLASSES)})")
        try:
            limits[name] = BucketLimit(float(rate), int(burst))
        except ValueError as error:
            raise ConfigInvalid(f"GATEWAY_RATE_LIMITS: {part!r} is not class=rate/burst") from error
    return limits


class RateLimiter:
    """Buckets per (key id, role class), safe to call from every gRPC worker thread."""

    def __init__(
        self, limits: Mapping[str, BucketLimit], *, clock_ns: Callable[[], int] = time.monotonic_ns,
        buckets_max: int = BUCKETS_MAX,
    ) -> None:
        missing = set(ROLE_CLASSES) - set(limits)
        assert not missing, missing
        self.limits = dict(limits)
        self.clock_ns = clock_ns
        self.buckets_max = buckets_max
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self.lock = threading.Lock()

    def check(self, key_id: str, role_class: str, cost: int = 1) -> None:
        """Take `cost` tokens (one per call, one per order of a batch or stream); raise Refused(RATE_LIMITED) with
        the retry delay if the bucket lacks them, or Refused(INVALID_REQUEST) if `cost` exceeds the burst."""
        burst = self.limits[role_class].burst
        if cost > burst:
            raise Refused(
                common_pb2.REJECT_REASON_INVALID_REQUEST,
                f"{cost} {role_class} requests at once exceed this key's burst of {burst}; send smaller batches",
            )
        now_ns = self.clock_ns()
        with self.lock:
            bucket = self.buckets.get((key_id, role_class))
            if bucket is None:
                if len(self.buckets) >= self.buckets_max:
                    self._forget_full(now_ns)
                limit = self.limits[role_class]
                bucket = TokenBucket(limit, float(limit.burst), now_ns)
                self.buckets[(key_id, role_class)] = bucket
            wait_ms = bucket.take(now_ns, cost)
        if wait_ms:
            raise Refused(
                common_pb2.REJECT_REASON_RATE_LIMITED,
                f"rate limit of {role_class} calls for this key exceeded; retry in {wait_ms} ms",
                retry_after_ms=wait_ms,
                metadata={"role_class": role_class},
            )

    def _forget_full(self, now_ns: int) -> None:
        full = [key for key, bucket in self.buckets.items() if bucket.is_full(now_ns)]
        for key in full:
            del self.buckets[key]
        if len(self.buckets) >= self.buckets_max:  # every bucket is in use: refuse to grow without bound
            raise Refused(common_pb2.REJECT_REASON_RATE_LIMITED, "too many active keys", retry_after_ms=1_000)


class RateLimitInterceptor(AroundInterceptor):
    """Charges each authenticated call to its key's bucket for the method's role class (inside the auth layer)."""

    def __init__(self, limiter: RateLimiter, role_class_of: Callable[[str], str | None]) -> None:
        self.limiter = limiter
        self.role_class_of = role_class_of
        self._role_classes: dict[str, str | None] = {}  # by method: role_class_of reads an enum's value per call

    def applies(self, method: str) -> bool:
        """Only methods with a role class (the exchange services)."""
        return self.role_class_of(method) is not None

    def around_unary(self, method: str, invoke: Invoke, context: grpc.ServicerContext) -> Any:
        """Refuse before the call if the bucket is empty."""
        self._charge(method)
        return invoke()

    def around_stream(
        self, method: str, invoke: Callable[[], Iterator[Any]], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        """Refuse before the stream opens if the bucket is empty (opening a stream costs one token)."""
        self._charge(method)
        yield from invoke()

    def _charge(self, method: str) -> None:
        role_class = self._role_classes.get(method)
        if role_class is None:
            role_class = self._role_classes[method] = self.role_class_of(method)
        assert role_class is not None, method
        self.limiter.check(current_principal().key_id, role_class)
