"""A publication/image log file (io.aeron.logbuffer.LogBufferDescriptor, FrameDescriptor, DataHeaderFlyweight).

File: three term buffers of `term_length` bytes (partitions), then a 4096-byte metadata section:

    +0   long[3] raw tail per partition: (term id << 32) | term offset
    +24  int     active term count (which partition is active: count % 3)
    +128 long    end-of-stream position         +136 int is-connected (1 when a subscriber is attached)
    +264 int     initial term id                 +268 int default frame header length
    +272 int     MTU length                      +276 int term length          +280 int page size
    +320 bytes   default frame header (version, flags, type, session id, stream id)

A frame is a 32-byte header followed by the payload, aligned to 32:

    +0 int frame length (0 = not yet written; <0 = being written)   +4 byte version  +5 byte flags
    +6 short type (0 padding, 1 data)   +8 int term offset   +12 int session id   +16 int stream id
    +20 int term id   +24 long reserved value   +32 payload

Position = (term id - initial term id) << log2(term length) + term offset; it only grows.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from common.aeron.atomics import AtomicBuffer, map_file

PARTITION_COUNT = 3
LOG_META_DATA_LENGTH = 4096
TERM_TAIL_COUNTERS_OFFSET = 0
LOG_ACTIVE_TERM_COUNT_OFFSET = 24
LOG_END_OF_STREAM_POSITION_OFFSET = 128
LOG_IS_CONNECTED_OFFSET = 136
LOG_INITIAL_TERM_ID_OFFSET = 264
LOG_MTU_LENGTH_OFFSET = 272
LOG_TERM_LENGTH_OFFSET = 276
LOG_PAGE_SIZE_OFFSET = 280

HEADER_LENGTH = 32
FRAME_ALIGNMENT = 32
VERSION_OFFSET = 4
FLAGS_OFFSET = 5
TYPE_OFFSET = 6
TERM_OFFSET_OFFSET = 8
SESSION_ID_OFFSET = 12
STREAM_ID_OFFSET = 16
TERM_ID_OFFSET = 20
RESERVED_VALUE_OFFSET = 24
HDR_TYPE_PAD = 0
HDR_TYPE_DATA = 1
BEGIN_FLAG = 0x80
END_FLAG = 0x40
UNFRAGMENTED = BEGIN_FLAG | END_FLAG
MAX_MESSAGE_LENGTH = 16 * 1024 * 1024
INT32_MASK = 0xFFFF_FFFF


def align_frame(length: int) -> int:
    """Round a frame length up to the 32-byte frame alignment."""
    return (length + FRAME_ALIGNMENT - 1) & ~(FRAME_ALIGNMENT - 1)


def to_int32(value: int) -> int:
    """Wrap an int to Java's 32-bit signed range (term ids wrap like Java ints)."""
    value &= INT32_MASK
    return value - (1 << 32) if value & 0x8000_0000 else value


def max_message_length(term_length: int) -> int:
    """FrameDescriptor.computeMaxMessageLength: min(term length / 8, 16 MiB)."""
    return min(term_length // 8, MAX_MESSAGE_LENGTH)


def term_begin_position(term_id: int, initial_term_id: int, position_bits: int) -> int:
    """Stream position at which term `term_id` starts."""
    return to_int32(term_id - initial_term_id) << position_bits


@dataclass(slots=True, frozen=True, kw_only=True)
class LogGeometry:
    """The immutable facts of one log, read once from its metadata."""

    term_length: int
    position_bits: int
    initial_term_id: int
    mtu_length: int
    metadata_offset: int

    @property
    def max_payload_length(self) -> int:
        """Largest payload carried by one frame."""
        return self.mtu_length - HEADER_LENGTH

    @property
    def max_message_length(self) -> int:
        """Largest message (fragmented across frames if needed)."""
        return max_message_length(self.term_length)

    @property
    def max_possible_position(self) -> int:
        """Position at which the stream is exhausted (2^31 terms)."""
        return self.term_length * (1 << 31)


class LogBuffers:
    """A mapped log file shared with the driver (and, over IPC, with the other side)."""

    __slots__ = ("_mapping", "buffer", "geometry", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._mapping = map_file(path)
        self.buffer = AtomicBuffer(self._mapping)
        file_length = os.path.getsize(path)
        metadata_offset = file_length - LOG_META_DATA_LENGTH
        term_length = self.buffer.get_i32(metadata_offset + LOG_TERM_LENGTH_OFFSET)
        assert term_length & (term_length - 1) == 0, term_length
        assert term_length * PARTITION_COUNT == metadata_offset, (term_length, file_length)
        self.geometry = LogGeometry(
            term_length=term_length,
            position_bits=term_length.bit_length() - 1,
            initial_term_id=self.buffer.get_i32(metadata_offset + LOG_INITIAL_TERM_ID_OFFSET),
            mtu_length=self.buffer.get_i32(metadata_offset + LOG_MTU_LENGTH_OFFSET),
            metadata_offset=metadata_offset,
        )

    def is_connected(self) -> bool:
        """True when the driver reports at least one subscriber attached to this publication."""
        return self.buffer.get_i32_acquire(self.geometry.metadata_offset + LOG_IS_CONNECTED_OFFSET) == 1

    def end_of_stream_position(self) -> int:
        """Position at which the publisher ended the stream (max long while it is live)."""
        return self.buffer.get_i64_acquire(self.geometry.metadata_offset + LOG_END_OF_STREAM_POSITION_OFFSET)

    def close(self) -> None:
        """Unmap the log (idempotent)."""
        if self._mapping.closed:
            return
        self.buffer.release()
        # If a caller kept a memoryview from a fragment handler, the mapping is freed when that view dies.
        with contextlib.suppress(BufferError):
            self._mapping.close()
