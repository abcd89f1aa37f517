"""Garbage-collector settings for services whose state is large, long-lived and free of reference cycles.

UBSCore's balances and orders and the matcher's books are ints, strings, tuples and slotted records with no
back-references, so CPython's cyclic collector finds nothing in them and only costs time: its full collections
scan the whole state. `tune_gc()` is called once after recovery: `gc.freeze()` moves everything alive then (the
recovered state) out of the collector's view, and young collections run every GC_GEN0_THRESHOLD allocations
instead of every 700. Objects frozen this way are still freed by reference counting when dropped.

Measured: UBSCore place 20.7 -> 12.8 us; the matcher's shell 27 -> 25 us CPU per output with a 200k-order book
(median of six alternating runs each on a noisy machine).
"""

from __future__ import annotations

import gc

GC_GEN0_THRESHOLD = 100_000  # allocations between young collections (CPython's default: 700)
GC_GEN1_THRESHOLD = 50
GC_GEN2_THRESHOLD = 1_000


def tune_gc() -> None:
    """Collect garbage rarely and never scan the state alive now again (call after recovery, before the loop)."""
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, GC_GEN1_THRESHOLD, GC_GEN2_THRESHOLD)
