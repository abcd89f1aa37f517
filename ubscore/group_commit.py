"""WAL group commits on a dedicated thread, one at a time, so the loop keeps validating while the disk syncs.

The loop applies inputs to the core and gathers their WAL records into the next batch; `GroupCommitter.start`
hands a batch to the thread, which writes it and fsyncs once (common/wal.py `Wal.append`). Only one commit is in
flight: the next batch is whatever arrived while the previous fsync ran, started as soon as that fsync returns
(adaptive group commit: a lone request waits for one fsync, a busy loop shares each fsync among everything that
arrived meanwhile). The loop sends a batch's replies, commands and events only after `finished()` returned its
fsync time, so nothing leaves before it is durable; batches reach the WAL in the order they were applied.

`os.fsync` and the write release the GIL, so the fsync overlaps the loop's own work. The WAL object belongs to
the thread while a commit is in flight: the loop reads or trims it (snapshots) only when `in_flight` is False.
A failed append (disk error) re-raises in the loop at `finished()` and stops the service.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from common.wal import Wal

# The longest the WAL thread, back from fsync, waits for the GIL while the loop runs Python code (CPython's
# default 5 ms would be added to a reply whenever the loop happens not to block in C meanwhile). Set by the service.
GIL_SWITCH_INTERVAL_S = 0.000_2


class GroupCommitter:
    """Appends one batch of WAL records at a time on its own thread; see the module docstring."""

    def __init__(self, wal: Wal) -> None:
        self.wal = wal
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ubscore-wal")
        self._future: Future[float] | None = None

    @property
    def in_flight(self) -> bool:
        """True while a batch is being written and synced."""
        return self._future is not None

    def start(self, records: Sequence[bytes]) -> None:
        """Begin the commit of `records` (only when none is in flight)."""
        assert self._future is None, "one group commit at a time"
        self._future = self._executor.submit(self._append, records)

    def finished(self, timeout_s: float = 0.0) -> float | None:
        """The append + fsync time (ms) of the commit in flight once it is durable (then none is in flight);
        None while it is still running after `timeout_s`."""
        future = self._future
        if future is None:
            return None
        if not future.done():
            if timeout_s <= 0:
                return None
            try:
                return self._take(future.result(timeout=timeout_s))
            except TimeoutError:
                return None
        return self._take(future.result())

    def close(self) -> None:
        """Wait for a commit in flight and stop the thread (the WAL stays open: its owner closes it)."""
        self._executor.shutdown(wait=True)

    def _take(self, fsync_ms: float) -> float:
        self._future = None
        return fsync_ms

    def _append(self, records: Sequence[bytes]) -> float:
        started_ns = time.monotonic_ns()
        self.wal.append(records)
        return (time.monotonic_ns() - started_ns) / 1e6
