"""Snapshots written by a forked child, so a service loop (matcher, UBSCore) pauses only for the fork (copy-on-write).

`os.fork()` gives the child a copy-on-write view of the whole process as it stands between two batches, which is
exactly the state as of the WAL's last lsn. The child encodes and writes the snapshot (common/snapshot.py: temp +
fsync + rename) and exits; the loop goes on at once and calls `poll()` each turn to learn when the snapshot is
durable (only then may the WAL be truncated below it). The pause the loop sees is the fork itself (page tables:
milliseconds per GB), not the 5-7 us per resting order that encoding costs.

The child touches only Python objects and files: no ZeroMQ, no Kafka, no metrics (their threads do not exist in
it), and it leaves with `os._exit`, so no atexit handler or socket teardown runs twice. It asks the kernel to kill
it if its parent dies (PR_SET_PDEATHSIG), so a SIGKILLed service leaves no writer behind. One child at a time: a
snapshot that comes due while one is being written waits for the next turn.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from common.snapshot import write_snapshot

PR_SET_PDEATHSIG = 1
CHILD_FAILED_EXIT = 70

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Running:
    """The child writing the snapshot at `lsn`, started at `started_ns`."""

    pid: int
    lsn: int
    started_ns: int


class ForkedSnapshotWriter:
    """Starts at most one snapshot child at a time and reports when it has finished."""

    def __init__(self, snapshot_dir: os.PathLike[str] | str) -> None:
        self.snapshot_dir = snapshot_dir
        self.running: Running | None = None
        self.failures = 0

    def start(self, lsn: int, encode: Callable[[], bytes]) -> bool:
        """Fork a child that writes `encode()` as the snapshot at `lsn`; False if one is still being written."""
        if self.running is not None:
            return False
        started_ns = time.monotonic_ns()
        pid = os.fork()
        if pid == 0:
            self._child(lsn, encode)  # never returns
        self.running = Running(pid, lsn, started_ns)
        return True

    def _child(self, lsn: int, encode: Callable[[], bytes]) -> None:
        status = CHILD_FAILED_EXIT
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() == 1:  # the parent died before prctl took effect
                os._exit(status)
            write_snapshot(self.snapshot_dir, lsn, encode())
            status = 0
        except BaseException:  # the child must never return into the parent's loop
            traceback.print_exc(file=sys.stderr)
        finally:
            sys.stderr.flush()
            os._exit(status)

    def poll(self) -> int | None:
        """The lsn of the snapshot that just became durable, if the child has finished successfully; else None."""
        if self.running is None:
            return None
        pid, wait_status = os.waitpid(self.running.pid, os.WNOHANG)
        if pid == 0:
            return None
        return self._finished(wait_status)

    def wait(self) -> int | None:
        """Block until the running child (if any) has finished; the lsn written, or None."""
        if self.running is None:
            return None
        _, wait_status = os.waitpid(self.running.pid, 0)
        return self._finished(wait_status)

    def _finished(self, wait_status: int) -> int | None:
        assert self.running is not None
        running, self.running = self.running, None
        elapsed_s = (time.monotonic_ns() - running.started_ns) / 1e9
        if os.waitstatus_to_exitcode(wait_status) != 0:
            self.failures += 1
            log.error("SNAPSHOT FAILED at lsn %d (child exit %d after %.2f s); the next one is tried when due",
                      running.lsn, os.waitstatus_to_exitcode(wait_status), elapsed_s)
            return None
        log.info("snapshot at lsn %d written by pid %d in %.2f s", running.lsn, running.pid, elapsed_s)
        return running.lsn
