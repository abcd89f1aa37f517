"""The forked snapshot writer with real fork(), files and waitpid (no matcher)."""

from __future__ import annotations

from pathlib import Path

from common.snapshot import list_snapshots, load_latest_snapshot
from common.snapshot_writer import ForkedSnapshotWriter


def test_child_writes_the_state_as_of_the_fork_and_one_child_at_a_time(tmp_path: Path) -> None:
    """The child encodes the state as it was at fork time (later changes in the parent do not leak into it), a
    second start while it runs is refused, and wait() reports the lsn once the file is durable."""
    state = {"value": b"at-fork"}
    writer = ForkedSnapshotWriter(tmp_path)

    assert writer.start(7, lambda: state["value"])
    state["value"] = b"changed-after-fork"
    refused = writer.start(8, lambda: b"second")
    finished = writer.wait()

    assert not refused
    assert finished == 7
    snapshot = load_latest_snapshot(tmp_path)
    assert snapshot is not None
    assert (snapshot.lsn, snapshot.payload) == (7, b"at-fork")
    assert writer.poll() is None  # nothing running any more


def test_a_failing_child_is_reported_and_leaves_no_snapshot(tmp_path: Path) -> None:
    """An exception while encoding in the child becomes a failure the parent counts; no file appears, and the next
    snapshot can start."""
    writer = ForkedSnapshotWriter(tmp_path)

    def broken() -> bytes:
        raise ValueError("encode failed")

    assert writer.start(3, broken)
    assert writer.wait() is None
    assert writer.start(4, lambda: b"ok")
    assert writer.wait() == 4

    assert writer.failures == 1
    assert [lsn for lsn, _ in list_snapshots(tmp_path)] == [4]
