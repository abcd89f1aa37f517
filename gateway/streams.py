"""Server streams fed from another thread: a bounded queue per client, cut off when it overflows.

A producer thread (the market feed, the balance-event follower) `offer`s messages to each client's
`Subscription`; the client's gRPC worker thread runs `follow`, which yields them in order, a heartbeat after
`heartbeat_ms` of silence, and ends the stream:
- RESOURCE_EXHAUSTED (REJECT_REASON_RATE_LIMITED, metadata cause=slow_consumer) when the client fell so far
  behind that its queue overflowed: one slow client never slows the producer or the other clients;
- UNAVAILABLE when the source halted (`halted()` returns why);
- quietly when the client went away.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from exchange.v1 import common_pb2
from gateway.errors import Refused

WAKE_MS = 500  # how often an idle stream looks at its client, its source and the heartbeat clock


@dataclass(slots=True, eq=False)
class Subscription:
    """One stream client: what it follows, its bounded queue, whether it was cut off, its opening messages."""

    messages: queue.Queue[Any]
    symbols: frozenset[str] = frozenset()
    user_id: int = 0
    cut: bool = False
    snapshot: list[Any] = field(default_factory=list)

    def offer(self, message: object) -> bool:
        """Queue a message; on overflow mark the client cut off and return False (drop it from the fan-out)."""
        try:
            self.messages.put_nowait(message)
            return True
        except queue.Full:
            self.cut = True
            return False


def follow(
    subscription: Subscription, context: grpc.ServicerContext, *, heartbeat_ms: int,
    heartbeat: Callable[[], object], halted: Callable[[], str | None],
) -> Iterator[Any]:
    """Yield the subscription's messages until the client leaves; end with a status as the module doc says."""
    idle_since_ns = time.monotonic_ns()
    while context.is_active():
        problem = halted()
        if problem is not None:
            raise Refused(common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE, f"{problem}; reconnect later")
        if subscription.cut:
            raise Refused(
                common_pb2.REJECT_REASON_RATE_LIMITED,
                "client too slow: its queue overflowed; reconnect for a fresh start",
                metadata={"cause": "slow_consumer"},
            )
        try:
            message = subscription.messages.get(timeout=WAKE_MS / 1000)
        except queue.Empty:
            if time.monotonic_ns() - idle_since_ns >= heartbeat_ms * 1_000_000:
                idle_since_ns = time.monotonic_ns()
                yield heartbeat()
            continue
        idle_since_ns = time.monotonic_ns()
        yield message
