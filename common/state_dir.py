"""A service's state directory: its WAL under `wal/`, its snapshots under `snapshots/` (the recovery recipe in
common/wal.py). One place for that layout, for the services and for tools that read a stopped service's state."""

from __future__ import annotations

from pathlib import Path


def wal_dir_of(state_dir: Path) -> Path:
    """Where the WAL segments of the service whose state lives in `state_dir` are."""
    return state_dir / "wal"


def snapshot_dir_of(state_dir: Path) -> Path:
    """Where the snapshots of the service whose state lives in `state_dir` are."""
    return state_dir / "snapshots"


class StateDirLayout:
    """Mixin for a service config that has a `state_dir`: where its WAL and snapshots live."""

    __slots__ = ()
    state_dir: Path

    @property
    def wal_dir(self) -> Path:
        """Where the WAL segments live."""
        return wal_dir_of(self.state_dir)

    @property
    def snapshot_dir(self) -> Path:
        """Where the snapshots live."""
        return snapshot_dir_of(self.state_dir)
