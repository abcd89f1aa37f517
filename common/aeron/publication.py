"""Publications: append messages to a log the driver sends (UDP) or shares (IPC) with subscribers.

`offer(data)` returns the new stream position (> 0) or a negative `OfferResult`: NOT_CONNECTED (no
subscriber), BACK_PRESSURED (the publication limit, i.e. the slowest subscriber plus the term window, was
reached), ADMIN_ACTION (the term rotated: offer again), CLOSED, MAX_POSITION_EXCEEDED. A negative result means
the message was *not* appended and the caller decides to retry or give up; a positive one that it was appended
to the log, not that it was received (README.md "Delivery guarantee").

Messages longer than one frame (MTU - 32 bytes) are split into fragments flagged BEGIN/END; the subscriber side
reassembles them with `FragmentAssembler`. The largest message is min(term length / 8, 16 MiB).

Write order per frame (the protocol's publication rule): header fields, payload, then the frame length with a
release store, so a reader that acquire-loads a positive length sees the whole frame.

ExclusivePublication: one writer (this object) owns the tail; the tail is advanced with release stores.
ConcurrentPublication (concurrent_publication.py): several writers share the log.
"""

from __future__ import annotations

import enum
import struct
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from common.aeron.atomics import AtomicBuffer
from common.aeron.errors import ClientClosed, MessageTooLong
from common.aeron.idle import BackoffIdleStrategy
from common.aeron.log_buffer import (
    BEGIN_FLAG,
    END_FLAG,
    HDR_TYPE_DATA,
    HDR_TYPE_PAD,
    HEADER_LENGTH,
    LOG_ACTIVE_TERM_COUNT_OFFSET,
    PARTITION_COUNT,
    UNFRAGMENTED,
    LogBuffers,
    align_frame,
    term_begin_position,
    to_int32,
)

if TYPE_CHECKING:
    from common.aeron.client import AeronClient

_HEADER = struct.Struct("<iBBhiiii")  # length, version, flags, type, term offset, session id, stream id, term id
INT32_MASK = 0xFFFF_FFFF
#: Upper bound of one offer_batch block (bounded work per call, and the scratch buffer's size).
BATCH_BYTES_MAX = 64 * 1024


def _frame_struct(payload_length: int) -> struct.Struct:
    """A whole data frame as one Struct: frame length, version/flags/type (4 bytes, see _DATA_VFT), term offset,
    session/stream/term id (12 bytes, packed once per term), zero reserved value, payload, zero padding."""
    padding = align_frame(payload_length + HEADER_LENGTH) - payload_length - HEADER_LENGTH
    return struct.Struct(f"<i4si12s8x{payload_length}s{padding}x")


#: version 0, flags BEGIN|END, type DATA (little-endian short): bytes 4..7 of an unfragmented data frame.
_DATA_VFT = struct.pack("<BBh", 0, UNFRAGMENTED, HDR_TYPE_DATA)


#: Frame Structs by payload length; at most one per length up to the largest MTU payload (bounded).
_FRAME_STRUCTS: dict[int, struct.Struct] = {}


class OfferResult(enum.IntEnum):
    """Negative results of `offer` (io.aeron.Publication constants)."""

    NOT_CONNECTED = -1
    BACK_PRESSURED = -2
    ADMIN_ACTION = -3
    CLOSED = -4
    MAX_POSITION_EXCEEDED = -5


class PublicationBase:
    """State and helpers shared by both publication kinds."""

    __slots__ = ("_bytes", "_client", "_cnc", "_limit_offset", "_log", "_max_message_length", "_max_payload",
                 "_metadata_offset", "_position_bits", "_term_length", "buffer", "channel", "initial_term_id",
                 "is_closed", "registration_id", "session_id", "stream_id")

    def __init__(self, *, client: AeronClient, log: LogBuffers, cnc: AtomicBuffer, limit_offset: int,
                 registration_id: int, session_id: int, stream_id: int, channel: str) -> None:
        geometry = log.geometry
        self._client = client
        self._log = log
        self.buffer = log.buffer
        self._bytes = log.buffer.bytes
        self._cnc = cnc
        self._limit_offset = limit_offset
        self._term_length = geometry.term_length
        self._position_bits = geometry.position_bits
        self._max_payload = geometry.max_payload_length
        self._max_message_length = geometry.max_message_length
        self._metadata_offset = geometry.metadata_offset
        self.initial_term_id = geometry.initial_term_id
        self.registration_id = registration_id
        self.session_id = session_id
        self.stream_id = stream_id
        self.channel = channel
        self.is_closed = False

    @property
    def max_message_length(self) -> int:
        """Largest message `offer` accepts."""
        return self._max_message_length

    @property
    def max_payload_length(self) -> int:
        """Largest message that fits one frame (larger ones are fragmented)."""
        return self._max_payload

    @property
    def is_connected(self) -> bool:
        """True once at least one subscriber is attached (and the publication is open)."""
        return not self.is_closed and self._log.is_connected()

    def publication_limit(self) -> int:
        """Position up to which `offer` may write (driver-maintained flow control)."""
        return self._cnc.get_i64_acquire(self._limit_offset)

    def wait_connected(self, *, timeout_ms: int) -> None:
        """Drive the client until a subscriber is attached; raises TimeoutError after `timeout_ms`."""
        deadline_ns = time.monotonic_ns() + timeout_ms * 1_000_000
        idle = BackoffIdleStrategy()
        while not self.is_connected:
            if self.is_closed:
                raise ClientClosed("publication closed while waiting for a subscriber")
            if time.monotonic_ns() > deadline_ns:
                raise TimeoutError(f"no subscriber on {self.channel} stream {self.stream_id} after {timeout_ms} ms")
            idle.idle(self._client.do_work())

    def close(self) -> None:
        """Remove the publication from the driver and unmap its log (idempotent)."""
        if not self.is_closed:
            self._client.remove_publication(self)

    def _mark_closed(self) -> None:
        self.is_closed = True
        self._log.close()

    def _back_pressure_status(self, position: int, length: int) -> int:
        if position + align_frame(length + HEADER_LENGTH) >= self._term_length * (1 << 31):
            return OfferResult.MAX_POSITION_EXCEEDED
        if self._log.is_connected():
            return OfferResult.BACK_PRESSURED
        return OfferResult.NOT_CONNECTED

    def _check_length(self, length: int) -> None:
        if length > self._max_message_length:
            raise MessageTooLong(f"message of {length} bytes exceeds max message length {self._max_message_length}")

    def _write_padding(self, frame: int, padding_length: int, term_offset: int, term_id: int) -> None:
        buffer = self.buffer
        _HEADER.pack_into(self._bytes, frame, -padding_length, 0, UNFRAGMENTED, HDR_TYPE_PAD, term_offset,
                          self.session_id, self.stream_id, term_id)
        buffer.put_i32_release(frame, padding_length)

    def _write_frames(self, data: bytes | bytearray | memoryview, length: int, frame: int, term_offset: int,
                      term_id: int) -> None:
        """Write one message as one or more frames starting at absolute offset `frame` (space already claimed)."""
        buffer = self.buffer
        pack_into = _HEADER.pack_into
        session_id, stream_id = self.session_id, self.stream_id
        target = self._bytes
        if length <= self._max_payload:
            frame_length = length + HEADER_LENGTH
            pack_into(target, frame, -frame_length, 0, UNFRAGMENTED, HDR_TYPE_DATA, term_offset, session_id,
                      stream_id, term_id)
            target[frame + HEADER_LENGTH : frame + frame_length] = data
            buffer.put_i32_release(frame, frame_length)
            return
        source = memoryview(data)
        max_payload = self._max_payload
        flags = BEGIN_FLAG
        start = 0
        while start < length:
            chunk = min(length - start, max_payload)
            if start + chunk >= length:
                flags |= END_FLAG
            frame_length = chunk + HEADER_LENGTH
            pack_into(target, frame, -frame_length, 0, flags, HDR_TYPE_DATA, term_offset, session_id, stream_id,
                      term_id)
            target[frame + HEADER_LENGTH : frame + frame_length] = source[start : start + chunk]
            buffer.put_i32_release(frame, frame_length)
            aligned = align_frame(frame_length)
            frame += aligned
            term_offset += aligned
            start += chunk
            flags = 0

    def _required_length(self, length: int) -> int:
        if length <= self._max_payload:
            return align_frame(length + HEADER_LENGTH)
        full_frames, remainder = divmod(length, self._max_payload)
        last = align_frame(remainder + HEADER_LENGTH) if remainder else 0
        return full_frames * (self._max_payload + HEADER_LENGTH) + last


class ExclusivePublication(PublicationBase):
    """A publication with a single writer: this object, used by the client's owner thread only (README.md
    "Threading model"; use a ConcurrentPublication to publish from several threads)."""

    __slots__ = ("_get_limit", "_ids", "_limit_index", "_partition", "_partition_base", "_scratch", "_scratch_view",
                 "_set_length", "_set_tail",
                 "_tail_base", "_tail_index", "_term_begin_position", "_term_id", "_term_offset")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._get_limit = self._cnc.i64_acquire_getter()
        self._limit_index = self._limit_offset >> 3
        self._set_tail = self.buffer.i64_release_setter()
        self._set_length = self.buffer.i32_release_setter()
        self._scratch = bytearray(BATCH_BYTES_MAX)
        self._scratch_view = memoryview(self._scratch)
        term_count = self.buffer.get_i32_acquire(self._metadata_offset + LOG_ACTIVE_TERM_COUNT_OFFSET)
        partition = term_count % PARTITION_COUNT
        raw_tail = self.buffer.get_i64_acquire(self._metadata_offset + 8 * partition)
        term_id = to_int32(raw_tail >> 32)
        self._term_offset = min(raw_tail & INT32_MASK, self._term_length)
        self._term_begin_position = term_begin_position(term_id, self.initial_term_id, self._position_bits)
        self._enter_term(partition, term_id)

    def _enter_term(self, partition: int, term_id: int) -> None:
        self._partition = partition
        self._partition_base = partition * self._term_length
        self._term_id = term_id
        self._tail_index = (self._metadata_offset + 8 * partition) >> 3
        self._tail_base = term_id << 32
        self._ids = struct.pack("<iii", self.session_id, self.stream_id, term_id)

    @property
    def position(self) -> int:
        """Stream position after the last appended message."""
        return self._term_begin_position + self._term_offset

    def offer(self, data: bytes | bytearray | memoryview) -> int:
        """Append one message; the new position (> 0) or a negative OfferResult. See the module docstring."""
        if self.is_closed:
            return OfferResult.CLOSED
        length = len(data)
        term_offset = self._term_offset
        position = self._term_begin_position + term_offset
        if position >= self._get_limit(self._limit_index):
            return self._back_pressure_status(position, length)
        if length > self._max_payload:
            return self._offer_fragmented(data, length, term_offset)
        # Hot path, inlined: one unfragmented frame.
        frame_length = length + HEADER_LENGTH
        resulting_offset = term_offset + ((frame_length + 31) & ~31)
        # As the Java client: publish the new tail first (release), then the frame.
        self._set_tail(self._tail_index, self._tail_base + resulting_offset)
        if resulting_offset > self._term_length:
            return self._end_of_term(term_offset)
        frame = self._partition_base + term_offset
        frame_struct = _FRAME_STRUCTS.get(length)
        if frame_struct is not None and type(data) is bytes:
            # Header, payload and alignment padding in one pack (the common case after the first message).
            frame_struct.pack_into(self._bytes, frame, -frame_length, _DATA_VFT, term_offset, self._ids, data)
        else:
            if frame_struct is None:
                _FRAME_STRUCTS[length] = _frame_struct(length)
            target = self._bytes
            _HEADER.pack_into(target, frame, -frame_length, 0, UNFRAGMENTED, HDR_TYPE_DATA, term_offset,
                              self.session_id, self.stream_id, self._term_id)
            target[frame + HEADER_LENGTH : frame + frame_length] = data
        self._set_length(frame >> 2, frame_length)
        self._term_offset = resulting_offset
        return position - term_offset + resulting_offset

    def offer_batch(self, messages: Sequence[bytes | bytearray | memoryview]) -> int:
        """Append as many of `messages` (each at most `max_payload_length`) as fit before the publication limit,
        the end of the term and BATCH_BYTES_MAX, in order; returns how many (> 0), or a negative OfferResult
        when none fit (then retry; on ADMIN_ACTION immediately).

        As Java's `offerBlock`: the frames are formatted into one block with their real lengths except the first
        frame's, which stays 0; the block is copied with one memcpy and then the first length is release-stored.
        Readers scan frames in order, so nothing in the block is visible before that store, and everything is
        after it. Use it for throughput; `offer` is the per-message API.
        """
        if self.is_closed:
            return OfferResult.CLOSED
        term_offset = self._term_offset
        position = self._term_begin_position + term_offset
        limit = self._get_limit(self._limit_index)
        if position >= limit or not messages:
            return self._back_pressure_status(position, len(messages[0]) if messages else 0)
        room = min(limit - position, self._term_length - term_offset, BATCH_BYTES_MAX)
        count, used = self._format_block(messages, term_offset, room)
        if count == 0:
            # The first message alone does not fit the term's rest (offer pads and rotates: ADMIN_ACTION) or the
            # space left below the limit (offer, like Java, still appends it since position < limit).
            result = self.offer(messages[0])
            return 1 if result > 0 else result
        self._set_tail(self._tail_index, self._tail_base + term_offset + used)
        frame = self._partition_base + term_offset
        self._bytes[frame : frame + used] = self._scratch_view[:used]
        self._set_length(frame >> 2, len(messages[0]) + HEADER_LENGTH)
        self._term_offset = term_offset + used
        return count

    def _format_block(self, messages: Sequence[bytes | bytearray | memoryview], term_offset: int,
                      room: int) -> tuple[int, int]:
        """Pack whole frames into the scratch block (the first with length 0); (frames, bytes) packed."""
        block = self._scratch
        structs = _FRAME_STRUCTS
        ids, max_payload = self._ids, self._max_payload
        used = 0
        count = 0
        for message in messages:
            length = len(message)
            frame_struct = structs.get(length)
            if frame_struct is None:
                if length > max_payload:
                    raise MessageTooLong(f"offer_batch takes messages up to {max_payload} bytes, not {length}")
                frame_struct = structs[length] = _frame_struct(length)
            aligned = frame_struct.size
            if used + aligned > room:
                break
            frame_struct.pack_into(block, used, (length + HEADER_LENGTH) if count else 0, _DATA_VFT, term_offset + used,
                                   ids, message)
            used += aligned
            count += 1
        return count, used

    def _offer_fragmented(self, data: bytes | bytearray | memoryview, length: int, term_offset: int) -> int:
        self._check_length(length)
        resulting_offset = term_offset + self._required_length(length)
        self._set_tail(self._tail_index, self._tail_base + resulting_offset)
        if resulting_offset > self._term_length:
            return self._end_of_term(term_offset)
        self._write_frames(data, length, self._partition_base + term_offset, term_offset, self._term_id)
        self._term_offset = resulting_offset
        return self._term_begin_position + resulting_offset

    def _end_of_term(self, term_offset: int) -> int:
        term_length = self._term_length
        if term_offset < term_length:
            self._write_padding(self._partition_base + term_offset, term_length - term_offset, term_offset,
                                self._term_id)
        if self._term_begin_position + term_length >= term_length * (1 << 31):
            return OfferResult.MAX_POSITION_EXCEEDED
        next_partition = (self._partition + 1) % PARTITION_COUNT
        next_term_id = to_int32(self._term_id + 1)
        self._term_offset = 0
        self._term_begin_position += term_length
        self._enter_term(next_partition, next_term_id)
        self.buffer.put_i64_release(self._metadata_offset + 8 * next_partition, next_term_id << 32)
        self.buffer.put_i32_release(self._metadata_offset + LOG_ACTIVE_TERM_COUNT_OFFSET,
                                    to_int32(next_term_id - self.initial_term_id))
        return OfferResult.ADMIN_ACTION
