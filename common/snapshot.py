"""Snapshot files: a service's whole state at one WAL position, written atomically and checked on load.

A snapshot is `<dir>/snapshot-<lsn:020d>.snap`, where `lsn` is the last WAL record the state includes; on start a
service loads the newest good snapshot and replays the WAL from `lsn + 1`. The file is

    magic b"EXSNAP01" (8) | lsn u64 | payload_bytes u64 | crc32 u32 | payload

Atomic write: write `<name>.tmp`, fsync it, rename it over the final name, fsync the directory. A crash leaves
either the old set of snapshots or the new one, never a half file under a final name (a stray `.tmp` is
deleted on the next write). The newest `SNAPSHOTS_KEPT` snapshots are kept, so one bad file (a bit flipped on
disk) still leaves an older one to start from (its WAL tail must then still be on disk: services truncate the
WAL only below the *oldest* kept snapshot).
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from common.errors import WalCorrupt
from common.wal import fsync_directory

SNAPSHOT_MAGIC = b"EXSNAP01"
SNAPSHOT_HEADER = struct.Struct("<8sQQI")  # magic, lsn, payload_bytes, crc32
SNAPSHOTS_KEPT = 2

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A loaded snapshot: the state (service-defined bytes) as of WAL record `lsn`."""

    lsn: int
    payload: bytes


def snapshot_path(directory: Path, lsn: int) -> Path:
    """Final file name of the snapshot taken at `lsn`."""
    return directory / f"snapshot-{lsn:020d}.snap"


def list_snapshots(directory: Path) -> list[tuple[int, Path]]:
    """(lsn, path) of every snapshot file in `directory`, oldest first."""
    found: list[tuple[int, Path]] = []
    for path in directory.glob("snapshot-*.snap"):
        digits = path.name[len("snapshot-") : -len(".snap")]
        if digits.isdigit():
            found.append((int(digits), path))
    found.sort()
    return found


def write_snapshot(directory: Path | str, lsn: int, payload: bytes) -> Path:
    """Write the snapshot at `lsn` atomically, drop all but the newest SNAPSHOTS_KEPT, return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    assert lsn >= 0, lsn
    final = snapshot_path(directory, lsn)
    temporary = final.with_name(final.name + ".tmp")
    header = SNAPSHOT_HEADER.pack(SNAPSHOT_MAGIC, lsn, len(payload), zlib.crc32(payload))
    with open(temporary, "wb") as file:
        file.write(header)
        file.write(payload)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, final)
    fsync_directory(directory)
    for _, old in list_snapshots(directory)[:-SNAPSHOTS_KEPT]:
        old.unlink()
    for stray in directory.glob("snapshot-*.snap.tmp"):
        stray.unlink()
    return final


def read_snapshot(path: Path) -> Snapshot:
    """Load one snapshot file; raise WalCorrupt if its header or CRC is wrong."""
    data = path.read_bytes()
    if len(data) < SNAPSHOT_HEADER.size:
        raise WalCorrupt(f"{path}: snapshot shorter than its header ({len(data)} bytes)")
    magic, lsn, payload_bytes, crc = SNAPSHOT_HEADER.unpack_from(data, 0)
    payload = data[SNAPSHOT_HEADER.size :]
    if magic != SNAPSHOT_MAGIC:
        raise WalCorrupt(f"{path}: bad snapshot magic {magic!r}")
    if len(payload) != payload_bytes:
        raise WalCorrupt(f"{path}: snapshot payload is {len(payload)} bytes, header says {payload_bytes}")
    if zlib.crc32(payload) != crc:
        raise WalCorrupt(f"{path}: snapshot CRC mismatch")
    return Snapshot(lsn, payload)


def load_latest_snapshot(directory: Path | str) -> Snapshot | None:
    """The newest snapshot that passes its checks (a bad newer one is logged loudly and passed over), or None."""
    directory = Path(directory)
    if not directory.exists():
        return None
    for _, path in reversed(list_snapshots(directory)):
        try:
            return read_snapshot(path)
        except WalCorrupt as error:
            log.error("SNAPSHOT UNREADABLE, falling back to an older one: %s", error)
    return None


def oldest_kept_snapshot_lsn(directory: Path | str) -> int | None:
    """The lsn of the oldest snapshot kept on disk: the WAL may be truncated below it, never above."""
    snapshots = list_snapshots(Path(directory))
    return snapshots[0][0] if snapshots else None
