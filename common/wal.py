"""Write-ahead log: append-only segment files of CRC-framed records, group commit, replay, torn-tail repair.

Every service (matcher, UBSCore, settlement) writes what it decided here *before* any effect is visible, and
rebuilds its state on start from its latest snapshot plus the WAL records after it (DESIGN.md "Never lose,
never double").

On-disk layout (all integers little-endian):

    <dir>/wal-<first_lsn:020d>.seg          one segment; the name carries the LSN of its first record
      segment header (16 bytes):            magic b"EXWAL\\x00\\x01\\x00" (8) | first_lsn u64
      record (20-byte header + payload):    payload_bytes u32 | lsn u64 | payload_crc u32 | header_crc u32 | payload

`lsn` (log sequence number) is dense from 1 over the whole log, so a reader can check it never skips or repeats.
Both CRCs are zlib.crc32 (the IEEE polynomial): `payload_crc` over the payload, `header_crc` over the 16 header
bytes before it. The header has its own CRC so that a flipped bit in a length can never pass for a torn tail
(a grown length would otherwise point past the end of the file and silently swallow the good records after it).

Group commit: `append(payloads)` writes a whole batch with one `write` and one `fsync`; the batch is durable when
it returns (a batch that crosses a segment boundary costs one more fsync, for the new segment and its directory
entry). A crash can leave the last batch partly written, so `open()` checks the *last* segment. A torn tail is:
a header cut short by the end of the file; a valid header whose payload runs past the end of the file; a payload
CRC mismatch in the record that ends exactly at the end of the file; or zeros from the record start to the end
(an extent allocated but never written). It is cut off (the file truncated to the last good record) and logged
as a warning; those records were never acknowledged, since their batch's fsync had not returned. Anything else
(a bad header CRC, a wrong lsn, a bad payload with more data after it, any bad record in an older segment) is
corruption: `WalCorrupt` is raised and the service refuses to start; an operator must look.

Use from a service (UBSCore, Settlement, the matcher):

    wal = Wal.open(state_dir / "wal")                       # checks everything, repairs a torn tail
    snapshot = load_latest_snapshot(state_dir / "snapshots")   # common/snapshot.py
    state = restore(snapshot.payload) if snapshot else empty_state()
    for record in wal.read((snapshot.lsn if snapshot else 0) + 1):
        state.redo(record.payload)                          # payloads are the service's own bytes
    ...
    last_lsn = wal.append([encode(decision) for decision in batch])   # durable: now publish / acknowledge
    write_snapshot(state_dir / "snapshots", wal.last_lsn, state.dump())  # now and then
    wal.truncate_before(oldest_kept_snapshot_lsn(state_dir / "snapshots") + 1)

Seeking: the log keeps, per segment, a sparse index of (lsn, byte offset) for every WAL_INDEX_STRIDE-th record
(built by the scan at open and extended on append), so `read(from_lsn)` seeks to within WAL_INDEX_STRIDE records
of `from_lsn` instead of reading its segment from the start.

Retention: `truncate_before(lsn)` deletes whole segments whose records are all below `lsn` (call it once a
snapshot covering them is durable). The log is single-writer; readers in the same process, in any thread, use
`read()`, which opens its own file handles and stops at the last durable record (a reader racing a truncation may
get FileNotFoundError for a segment that was just deleted).
"""

from __future__ import annotations

import bisect
import logging
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.errors import WalCorrupt
from common.wal_index import index_path, load_segment_index, write_segment_index

SEGMENT_MAGIC = b"EXWAL\x00\x01\x00"
SEGMENT_HEADER = struct.Struct("<8sQ")  # magic, first_lsn
RECORD_HEADER = struct.Struct("<IQII")  # payload_bytes, lsn, payload_crc, header_crc
HEADER_CHECKED = struct.Struct("<IQI")  # the part of the header that header_crc covers
CORRUPT = -1  # "end" of a bad record that can never be a torn tail
SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024
RECORD_PAYLOAD_BYTES_MAX = 16 * 1024 * 1024
BATCH_RECORDS_MAX = 100_000
WAL_INDEX_STRIDE = 64  # records between two entries of a segment's (lsn, byte offset) index

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WalRecord:
    """One record read back from the log."""

    lsn: int
    payload: bytes


def segment_name(first_lsn: int) -> str:
    """File name of the segment whose first record has `first_lsn`."""
    return f"wal-{first_lsn:020d}.seg"


def frame_record(lsn: int, payload: bytes) -> bytes:
    """The bytes of one record on disk: header then payload."""
    assert lsn >= 1, lsn
    assert len(payload) <= RECORD_PAYLOAD_BYTES_MAX, len(payload)
    checked = HEADER_CHECKED.pack(len(payload), lsn, zlib.crc32(payload))
    return checked + struct.pack("<I", zlib.crc32(checked)) + payload


def fsync_directory(directory: Path) -> None:
    """Make a create, rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """(first_lsn, path) of every segment in `directory`, oldest first."""
    found: list[tuple[int, Path]] = []
    for path in directory.glob("wal-*.seg"):
        digits = path.name[len("wal-") : -len(".seg")]
        if digits.isdigit():
            found.append((int(digits), path))
    found.sort()
    return found


@dataclass(slots=True)
class _ScanResult:
    records_count: int
    good_bytes: int  # file offset just past the last good record
    torn_reason: str  # "" when the file ends cleanly
    positions: list[tuple[int, int]]  # (lsn, byte offset) of every WAL_INDEX_STRIDE-th record


def _scan_segment(path: Path, first_lsn: int, *, is_last: bool) -> _ScanResult:
    """Read and check every record of one segment; raise WalCorrupt unless a bad record is a torn tail."""
    data = path.read_bytes()
    if len(data) < SEGMENT_HEADER.size:
        if is_last:
            return _ScanResult(0, 0, f"segment header torn ({len(data)} bytes)", [])
        raise WalCorrupt(f"{path}: segment header truncated ({len(data)} bytes) in a segment that is not the last")
    magic, header_lsn = SEGMENT_HEADER.unpack_from(data, 0)
    if magic != SEGMENT_MAGIC or header_lsn != first_lsn:
        raise WalCorrupt(f"{path}: bad segment header (magic {magic!r}, first lsn {header_lsn}, name {first_lsn})")
    records_count = 0
    offset = SEGMENT_HEADER.size
    expected_lsn = first_lsn
    positions: list[tuple[int, int]] = []
    while offset < len(data):
        problem, end = _check_record(data, offset, expected_lsn)
        if problem:
            runs_to_eof = end != CORRUPT and end >= len(data)
            if is_last and runs_to_eof:
                return _ScanResult(records_count, offset, f"lsn {expected_lsn} at byte {offset}: {problem}", positions)
            raise WalCorrupt(f"{path}: record lsn {expected_lsn} at byte {offset}: {problem}")
        if records_count % WAL_INDEX_STRIDE == 0:
            positions.append((expected_lsn, offset))
        records_count += 1
        offset = end
        expected_lsn += 1
    return _ScanResult(records_count, offset, "", positions)


def _check_record(data: bytes, offset: int, expected_lsn: int) -> tuple[str, int]:
    """("", end) for a good record at `offset`, else (what is wrong, where it ends; CORRUPT if never a torn tail)."""
    if offset + RECORD_HEADER.size > len(data):
        return "header cut short", len(data)
    payload_bytes, lsn, payload_crc, header_crc = RECORD_HEADER.unpack_from(data, offset)
    if zlib.crc32(data[offset : offset + HEADER_CHECKED.size]) != header_crc:
        if not data[offset:].strip(b"\0"):
            return "zeros to the end of the file", len(data)
        return "header CRC mismatch", CORRUPT
    if lsn != expected_lsn:
        return f"lsn {lsn} where {expected_lsn} was expected", CORRUPT
    if payload_bytes > RECORD_PAYLOAD_BYTES_MAX:
        return f"length {payload_bytes} over the limit", CORRUPT
    end = offset + RECORD_HEADER.size + payload_bytes
    if end > len(data):
        return f"payload cut short ({len(data) - offset - RECORD_HEADER.size} of {payload_bytes} bytes)", end
    if zlib.crc32(data[offset + RECORD_HEADER.size : end]) != payload_crc:
        return "payload CRC mismatch", end
    return "", end


class Wal:
    """A single-writer write-ahead log in one directory. Build it with `Wal.open(directory)`."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes_max: int,
        next_lsn: int,
        segments: list[tuple[int, Path]],
        positions: dict[int, list[tuple[int, int]]] | None = None,
    ):
        assert segment_bytes_max > SEGMENT_HEADER.size + RECORD_HEADER.size, segment_bytes_max
        self.directory = directory
        self.segment_bytes_max = segment_bytes_max
        self.next_lsn = next_lsn  # the lsn the next appended record gets
        self._segments = segments  # (first_lsn, path), oldest first; the last one is open for appends
        # first_lsn of a segment -> its sparse (lsn, byte offset) index; lists are only appended to, so a reader in
        # another thread can bisect one while the writer extends it.
        self._positions: dict[int, list[tuple[int, int]]] = positions if positions is not None else {}
        self._file = None
        self._file_bytes = 0
        self.fsync_count = 0
        if segments:
            path = segments[-1][1]
            self._file = open(path, "ab", buffering=0)  # noqa: SIM115  (lives as long as the Wal)
            self._file_bytes = path.stat().st_size

    @classmethod
    def open(
        cls, directory: Path | str, *, segment_bytes_max: int = SEGMENT_BYTES_MAX_DEFAULT, verify_sealed: bool = True
    ) -> Wal:
        """Open (or create) the log in `directory`: check every segment, cut a torn tail, raise WalCorrupt else.

        With `verify_sealed=False`, a sealed segment (not the last) that has an exact index file
        (common/wal_index.py) is not read at open: opening costs the last segment only. Its records are still
        CRC-checked by every read, so damage there surfaces (WalCorrupt) when it is read, not at open.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        segments = list_segments(directory)
        next_lsn = 1
        positions: dict[int, list[tuple[int, int]]] = {}
        for index, (first_lsn, path) in enumerate(segments):
            if index > 0 and first_lsn != next_lsn:
                raise WalCorrupt(f"{path}: segment starts at lsn {first_lsn}, the previous one ended at {next_lsn - 1}")
            is_last = index == len(segments) - 1
            indexed = None if verify_sealed or is_last else load_segment_index(path, first_lsn)
            if indexed is not None:
                positions[first_lsn] = indexed[1]
                next_lsn = first_lsn + indexed[0]
                continue
            scan = _scan_segment(path, first_lsn, is_last=is_last)
            if not is_last:
                log.info("WAL %s scanned: %d records", path.name, scan.records_count)
                write_segment_index(
                    path, first_lsn=first_lsn, records=scan.records_count, segment_bytes=scan.good_bytes,
                    positions=scan.positions,
                )
            if scan.torn_reason:
                cls._repair_torn_tail(path, first_lsn, scan)
            positions[first_lsn] = scan.positions
            next_lsn = first_lsn + scan.records_count
        return cls(
            directory, segment_bytes_max=segment_bytes_max, next_lsn=next_lsn, segments=segments, positions=positions
        )

    @staticmethod
    def _repair_torn_tail(path: Path, first_lsn: int, scan: _ScanResult) -> None:
        size_bytes = path.stat().st_size
        log.warning(
            "WAL TORN TAIL in %s: %s; truncating %d -> %d bytes (%d whole records kept)",
            path, scan.torn_reason, size_bytes, max(scan.good_bytes, SEGMENT_HEADER.size), scan.records_count,
        )
        if scan.good_bytes == 0:  # the segment header itself was torn: write it again
            with open(path, "wb") as file:
                file.write(SEGMENT_HEADER.pack(SEGMENT_MAGIC, first_lsn))
                file.flush()
                os.fsync(file.fileno())
            return
        with open(path, "r+b") as file:
            file.truncate(scan.good_bytes)
            os.fsync(file.fileno())

    @property
    def last_lsn(self) -> int:
        """LSN of the last durable record (0 when the log is empty)."""
        return self.next_lsn - 1

    @property
    def first_lsn(self) -> int:
        """LSN of the oldest record still on disk (next_lsn when the log is empty)."""
        return self._segments[0][0] if self._segments else self.next_lsn

    def start_at(self, lsn: int) -> None:
        """On an empty log, make the first record `lsn` (restoring from a snapshot after the old log was lost)."""
        assert not self._segments, "start_at only on an empty log"
        assert lsn >= 1, lsn
        self.next_lsn = lsn

    def append(self, payloads: Sequence[bytes]) -> int:
        """Write a batch of records, fsync once, and return the lsn of the last one (group commit)."""
        assert 0 < len(payloads) <= BATCH_RECORDS_MAX, len(payloads)
        frames: list[bytes] = []
        frames_bytes = 0
        for payload in payloads:
            frame = frame_record(self.next_lsn + len(frames), payload)
            if self._file is None or self._needs_rollover(frames_bytes, len(frame)):
                self._flush(frames)
                frames, frames_bytes = [], 0
                self._roll(self.next_lsn)
                frame = frame_record(self.next_lsn, payload)
            lsn = self.next_lsn + len(frames)
            segment_first_lsn = self._segments[-1][0]
            if (lsn - segment_first_lsn) % WAL_INDEX_STRIDE == 0:
                # Visible to readers at once, but harmless: a reader only seeks to lsns below next_lsn (durable).
                self._positions.setdefault(segment_first_lsn, []).append((lsn, self._file_bytes + frames_bytes))
            frames.append(frame)
            frames_bytes += len(frame)
        self._flush(frames)
        return self.last_lsn

    def _needs_rollover(self, pending_bytes: int, frame_bytes: int) -> bool:
        # A segment always takes at least one record, however big, so rollover cannot loop.
        segment_has_records = self._file_bytes > SEGMENT_HEADER.size or pending_bytes > 0
        return segment_has_records and self._file_bytes + pending_bytes + frame_bytes > self.segment_bytes_max

    def _flush(self, frames: list[bytes]) -> None:
        if not frames:
            return
        assert self._file is not None
        blob = b"".join(frames)
        written = self._file.write(blob)
        assert written == len(blob), (written, len(blob))
        os.fsync(self._file.fileno())
        self.fsync_count += 1
        self._file_bytes += len(blob)
        self.next_lsn += len(frames)

    def _roll(self, first_lsn: int) -> None:
        """Close the current segment and start a new one whose first record will be `first_lsn`."""
        if self._file is not None:
            self._file.close()
            sealed_first_lsn, sealed_path = self._segments[-1]
            write_segment_index(
                sealed_path, first_lsn=sealed_first_lsn, records=first_lsn - sealed_first_lsn,
                segment_bytes=self._file_bytes, positions=self._positions.get(sealed_first_lsn, []),
            )
        path = self.directory / segment_name(first_lsn)
        assert not path.exists(), path
        self._file = open(path, "xb", buffering=0)  # noqa: SIM115  (lives as long as the Wal)
        self._file.write(SEGMENT_HEADER.pack(SEGMENT_MAGIC, first_lsn))
        os.fsync(self._file.fileno())
        fsync_directory(self.directory)
        self._file_bytes = SEGMENT_HEADER.size
        self._positions[first_lsn] = []
        self._segments.append((first_lsn, path))

    def read(self, from_lsn: int = 1) -> Iterator[WalRecord]:
        """Yield every durable record with lsn >= `from_lsn`, in order, checking each CRC again."""
        stop_lsn = self.next_lsn
        segments = list(self._segments)
        for index, (first_lsn, path) in enumerate(segments):
            next_first = segments[index + 1][0] if index + 1 < len(segments) else stop_lsn
            if next_first <= from_lsn:
                continue
            start = self._seek_position(first_lsn, from_lsn)
            yield from _read_segment(path, first_lsn, from_lsn=from_lsn, stop_lsn=stop_lsn, start=start)

    def read_chunk(self, from_lsn: int, *, bytes_max: int) -> list[WalRecord]:
        """Durable records from `from_lsn` on, from one segment, about `bytes_max` payload bytes (at least one record
        when any is durable), read with as few `pread` calls as it takes: the cheap path for a bounded batch (replay).

        Empty when `from_lsn` is past the last durable record or below the oldest kept; CRCs are checked as in read().
        """
        stop_lsn = self.next_lsn
        segments = list(self._segments)
        position = bisect.bisect_right(segments, from_lsn, key=lambda segment: segment[0]) - 1
        if from_lsn >= stop_lsn or position < 0:
            return []
        first_lsn, path = segments[position]
        start = self._seek_position(first_lsn, from_lsn)
        return _read_chunk(path, start=start, from_lsn=from_lsn, stop_lsn=stop_lsn, bytes_max=bytes_max)

    def _seek_position(self, segment_first_lsn: int, from_lsn: int) -> tuple[int, int]:
        """(lsn, byte offset) of the indexed record nearest at or before `from_lsn` in that segment."""
        positions = self._positions.get(segment_first_lsn, [])
        found = bisect.bisect_right(positions, (from_lsn, 1 << 63)) - 1
        if found < 0:
            return segment_first_lsn, SEGMENT_HEADER.size
        return positions[found]

    def truncate_before(self, lsn: int) -> int:
        """Delete whole segments whose records are all below `lsn`; return how many were deleted."""
        deleted = 0
        while len(self._segments) > 1 and self._segments[1][0] <= lsn:
            first_lsn, path = self._segments.pop(0)
            self._positions.pop(first_lsn, None)
            path.unlink()
            index_path(path).unlink(missing_ok=True)
            deleted += 1
        if deleted:
            fsync_directory(self.directory)
        return deleted

    def close(self) -> None:
        """Close the open segment (appends are already durable)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_directory(directory: Path | str, from_lsn: int = 1) -> Iterator[WalRecord]:
    """Read-only scan of a log that another process may be appending to (operator tools, e.g. balance dumps).

    Yields every complete record with lsn >= `from_lsn`, checking each CRC; never repairs or truncates anything.
    A bad record at the end of the last segment is taken for a batch still being written: the scan stops there
    (logged). A bad record anywhere else raises WalCorrupt.
    """
    segments = list_segments(Path(directory))
    for index, (first_lsn, path) in enumerate(segments):
        next_first = segments[index + 1][0] if index + 1 < len(segments) else None
        if next_first is not None and next_first <= from_lsn:
            continue
        try:
            yield from _read_segment(
                path, first_lsn, from_lsn=from_lsn, stop_lsn=next_first or 2**63,
                start=(first_lsn, SEGMENT_HEADER.size),
            )
        except WalCorrupt as error:
            if next_first is not None:
                raise
            log.warning("WAL scan stopped at the tail of %s (being written?): %s", path, error)


def _read_segment(
    path: Path, first_lsn: int, *, from_lsn: int, stop_lsn: int, start: tuple[int, int]
) -> Iterator[WalRecord]:
    """Stream records of one segment through a buffered file, from `start` = (lsn, byte offset) of a record
    boundary at or before `from_lsn`, so a reader never holds a whole segment in memory nor reads its start."""
    with open(path, "rb") as file:
        header = file.read(SEGMENT_HEADER.size)
        magic, header_lsn = SEGMENT_HEADER.unpack(header)
        if magic != SEGMENT_MAGIC or header_lsn != first_lsn:
            raise WalCorrupt(f"{path}: bad segment header on read")
        lsn, offset = start
        file.seek(offset)
        while lsn < stop_lsn:
            record_header = file.read(RECORD_HEADER.size)
            if len(record_header) < RECORD_HEADER.size:
                return  # end of this segment
            payload_bytes, stored_lsn, payload_crc, header_crc = RECORD_HEADER.unpack(record_header)
            if zlib.crc32(record_header[: HEADER_CHECKED.size]) != header_crc:
                raise WalCorrupt(f"{path}: lsn {lsn}: header CRC mismatch on read")
            if stored_lsn != lsn:
                raise WalCorrupt(f"{path}: lsn {stored_lsn} where {lsn} was expected")
            if lsn < from_lsn:
                file.seek(payload_bytes, os.SEEK_CUR)
                lsn += 1
                continue
            payload = file.read(payload_bytes)
            if len(payload) != payload_bytes or zlib.crc32(payload) != payload_crc:
                raise WalCorrupt(f"{path}: lsn {lsn}: payload CRC mismatch or short record on read")
            yield WalRecord(lsn, payload)
            lsn += 1


def _read_chunk(
    path: Path, *, start: tuple[int, int], from_lsn: int, stop_lsn: int, bytes_max: int
) -> list[WalRecord]:
    """Records of one segment from `from_lsn` (reading from `start`, a record boundary at or before it) until about
    `bytes_max` payload bytes, the end of the segment, or `stop_lsn`."""
    lsn, offset = start
    records: list[WalRecord] = []
    payload_total = 0
    read_bytes = max(bytes_max, 4_096)
    with open(path, "rb") as file:
        while lsn < stop_lsn and payload_total < bytes_max:
            data = os.pread(file.fileno(), read_bytes, offset)
            position = 0
            while lsn < stop_lsn and payload_total < bytes_max and position + RECORD_HEADER.size <= len(data):
                payload_bytes, stored_lsn, payload_crc, header_crc = RECORD_HEADER.unpack_from(data, position)
                if zlib.crc32(data[position : position + HEADER_CHECKED.size]) != header_crc:
                    raise WalCorrupt(f"{path}: lsn {lsn}: header CRC mismatch on read")
                if stored_lsn != lsn:
                    raise WalCorrupt(f"{path}: lsn {stored_lsn} where {lsn} was expected")
                end = position + RECORD_HEADER.size + payload_bytes
                if end > len(data):
                    break  # the rest of this record is in the next read
                if lsn >= from_lsn:
                    payload = data[position + RECORD_HEADER.size : end]
                    if zlib.crc32(payload) != payload_crc:
                        raise WalCorrupt(f"{path}: lsn {lsn}: payload CRC mismatch on read")
                    records.append(WalRecord(lsn, payload))
                    payload_total += payload_bytes
                position = end
                lsn += 1
            if position == 0:
                if len(data) < RECORD_HEADER.size:
                    return records  # end of this segment
                read_bytes = RECORD_HEADER.size + RECORD_HEADER.unpack_from(data, 0)[0]  # one record over the buffer
            offset += position
    return records
