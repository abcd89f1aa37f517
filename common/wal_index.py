"""Index files of sealed WAL segments, so opening a log does not have to read every record of every segment.

When `common.wal.Wal` seals a segment (rolls over to a new one) it writes `wal-<first_lsn:020d>.idx` next to it:

    magic b"EXWIDX01" (8) | first_lsn u64 | records u64 | segment_bytes u64 | entries u32 | crc32 u32 | entries
    entry: lsn u64 | byte offset u64                  (every WAL_INDEX_STRIDE-th record: the segment's seek index)

`crc32` covers everything after it. A sealed segment never changes again, so an index file whose CRC verifies and
whose `segment_bytes` equals the segment's size on disk describes it exactly; anything else (missing, damaged, a
size that differs) is ignored and the segment is scanned as before. The file is written without fsync: losing it
in a crash only costs one scan at the next open.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

INDEX_MAGIC = b"EXWIDX01"
INDEX_HEADER = struct.Struct("<8sQQQII")  # magic, first_lsn, records, segment_bytes, entries, crc32
INDEX_ENTRY = struct.Struct("<QQ")  # lsn, byte offset


def index_path(segment_path: Path) -> Path:
    """The index file that belongs to a segment file."""
    return segment_path.with_suffix(".idx")


def write_segment_index(
    segment_path: Path, *, first_lsn: int, records: int, segment_bytes: int, positions: list[tuple[int, int]]
) -> None:
    """Describe a sealed segment: its record count, its size, and its (lsn, byte offset) seek index."""
    body = b"".join(INDEX_ENTRY.pack(lsn, offset) for lsn, offset in positions)
    header = INDEX_HEADER.pack(INDEX_MAGIC, first_lsn, records, segment_bytes, len(positions), zlib.crc32(body))
    index_path(segment_path).write_bytes(header + body)


def load_segment_index(segment_path: Path, first_lsn: int) -> tuple[int, list[tuple[int, int]]] | None:
    """(records, positions) of a sealed segment from its index file; None if there is no exact, intact one."""
    try:
        data = index_path(segment_path).read_bytes()
        segment_bytes_on_disk = segment_path.stat().st_size
    except FileNotFoundError:
        return None
    if len(data) < INDEX_HEADER.size:
        return None
    magic, stored_first_lsn, records, segment_bytes, entries, crc = INDEX_HEADER.unpack_from(data, 0)
    body = data[INDEX_HEADER.size :]
    if (
        magic != INDEX_MAGIC
        or stored_first_lsn != first_lsn
        or segment_bytes != segment_bytes_on_disk
        or len(body) != entries * INDEX_ENTRY.size
        or zlib.crc32(body) != crc
    ):
        return None
    return records, list(INDEX_ENTRY.iter_unpack(body))
