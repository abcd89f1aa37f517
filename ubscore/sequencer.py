"""Sequencing: order ids, command sequence numbers, and the idempotency windows of client keys.

- `order_id`: one counter for every market, so ids are positive, dense over UBSCore and increasing per market
  (the matcher ignores an id at or below the last one its book saw). Assigned only after the funds are locked.
- `command_seq`: dense from 1 over every `OrderCommand` UBSCore emits (the matcher skips a sequence it applied).

`IdempotencyWindow` remembers, per key ((user, client order id) for orders, (user, request id) for transfers),
what the request was (a fingerprint) and its first outcome, so a repeat gets that outcome and changes nothing,
and a reuse of the key for a different request is refused (DUPLICATE_REQUEST). Memory is bounded two ways, both
deterministic (they depend only on the inputs, never on a clock): a key is forgotten once the newest input time
seen is `window_ns` past its own time (default 7 days, the retention of the Kafka topics, so every input that
can be redelivered is still remembered), and at most `keys_max` keys are held (the oldest go first). Keys are
held in arrival order, so both evictions pop from the front.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

WINDOW_NS_DEFAULT = 7 * 24 * 3600 * 1_000_000_000  # Kafka retention of balance.operations and orders
KEYS_MAX_DEFAULT = 2_000_000  # per window; ~200 bytes each
_new = tuple.__new__  # a NamedTuple without its Python-level __new__ (see ubscore/codec.py): once per order


@dataclass(slots=True)
class Counters:
    """The last order id and command sequence handed out (0: none yet)."""

    last_order_id: int = 0
    last_command_seq: int = 0

    def next_order_id(self) -> int:
        """A new order id, above every earlier one."""
        self.last_order_id += 1
        return self.last_order_id

    def next_command_seq(self) -> int:
        """The next command sequence number."""
        self.last_command_seq += 1
        return self.last_command_seq


class Remembered(NamedTuple):
    """A key's first request (fingerprint), its outcome, and its input time."""

    fingerprint: tuple[Any, ...]
    outcome: tuple[Any, ...]
    ts_event_ns: int


@dataclass(slots=True)
class IdempotencyWindow:
    """First outcome per key, for a bounded window of keys (see the module docstring)."""

    window_ns: int = WINDOW_NS_DEFAULT
    keys_max: int = KEYS_MAX_DEFAULT
    entries: dict[Hashable, Remembered] = field(default_factory=dict)  # insertion (arrival) order
    newest_ts_ns: int = 0
    evicted: int = 0
    # The input time of the entry that goes first, kept here so that a call that evicts nothing (nearly all) does not
    # build an iterator to find it.
    front_ts_ns: int = 0

    def __post_init__(self) -> None:
        assert self.window_ns > 0, self.window_ns
        assert self.keys_max > 0, self.keys_max

    def get(self, key: Hashable) -> Remembered | None:
        """What was remembered for `key`, if it is still in the window."""
        return self.entries.get(key)

    def remember(self, key: Hashable, fingerprint: tuple[Any, ...], outcome: tuple[Any, ...], ts_event_ns: int) -> None:
        """Record the first outcome of `key`, then forget what has left the window."""
        entries = self.entries
        assert key not in entries, key
        entries[key] = _new(Remembered, (fingerprint, outcome, ts_event_ns))
        if len(entries) == 1:
            self.front_ts_ns = ts_event_ns
        if ts_event_ns > self.newest_ts_ns:
            self.newest_ts_ns = ts_event_ns
        if len(entries) > self.keys_max or self.front_ts_ns < self.newest_ts_ns - self.window_ns:
            self._evict()

    def _evict(self) -> None:
        entries, horizon_ns = self.entries, self.newest_ts_ns - self.window_ns
        while entries and (len(entries) > self.keys_max or next(iter(entries.values())).ts_event_ns < horizon_ns):
            del entries[next(iter(entries))]
            self.evicted += 1
        self._find_front()

    def _find_front(self) -> None:
        for remembered in self.entries.values():
            self.front_ts_ns = remembered.ts_event_ns
            return

    def snapshot(self) -> dict[str, Any]:
        """Plain data, in arrival order (keys are tuples of ints and strings)."""
        return {
            "newest_ts_ns": self.newest_ts_ns,
            "evicted": self.evicted,
            "entries": [
                [list(key), list(r.fingerprint), list(r.outcome), r.ts_event_ns] for key, r in self.entries.items()
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Replace the entries with a `snapshot()`'s (the bounds stay this window's)."""
        self.newest_ts_ns = state["newest_ts_ns"]
        self.evicted = state["evicted"]
        self.entries = {
            tuple(key): Remembered(tuple(fingerprint), tuple(outcome), ts)
            for key, fingerprint, outcome, ts in state["entries"]
        }
        self._find_front()
