"""Publications: append messages to a log the driver sends (UDP) or shares (IPC) with subscribers.

`offer(data)` returns the new stream position (> 0) or a negative `OfferResult`: NOT_CONNECTED (no
subscriber), BACK_PRESSURED (the publication limit, i.e. the slowest subscriber plus the term window, was
reached), ADMIN_ACTION (the term rotated: offer again), CLOSED, MAX_POSITION_EXCEEDED. Nothing is dropped
silently: a negative result means the message was *not* appended and the caller decides to retry or give up.

Messages longer than one frame (MTU - 32 bytes) are split into fragments flagged BEGIN/END; the subscriber side
reassembles them with `FragmentAssembler`. The largest message is min(term length / 8, 16 MiB).

Write order per frame (the protocol's publication rule): header fields, payload, then the frame length with a
release store, so a reader that acquire-loads a positive length sees the whole frame.

ExclusivePublication: one writer (this object) owns the tail; the tail is advanced with release stores.
ConcurrentPublication: several writers (processes or threads) share the log; space is claimed with an atomic
get-and-add on the term tail and terms are rotated with CAS, as in io.aeron.ConcurrentPublication.
"""

from __future__ import annotations

import enum
import struct
import time
from typing import TYPE_CHECKING

from common.aeron.atomics import AtomicBuffer
from common.aeron.errors import ClientClosed, MessageTooLong
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
_INT32_MASK = 0xFFFF_FFFF
_APPEND_FAILED = -1


class OfferResult(enum.IntEnum):
    """Negative results of `offer` (io.aeron.Publication constants)."""

    NOT_CONNECTED = -1
    BACK_PRESSURED = -2
    ADMIN_ACTION = -3
    CLOSED = -4
    MAX_POSITION_EXCEEDED = -5


class _PublicationBase:
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
        while not self.is_connected:
            if self.is_closed:
                raise ClientClosed("publication closed while waiting for a subscriber")
            if time.monotonic_ns() > deadline_ns:
                raise TimeoutError(f"no subscriber on {self.channel} stream {self.stream_id} after {timeout_ms} ms")
            self._client.do_work()
            time.sleep(0.0005)

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


class ExclusivePublication(_PublicationBase):
    """A publication with a single writer: this object (not thread-safe)."""

    __slots__ = ("_partition", "_term_begin_position", "_term_id", "_term_offset")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        term_count = self.buffer.get_i32_acquire(self._metadata_offset + LOG_ACTIVE_TERM_COUNT_OFFSET)
        self._partition = term_count % PARTITION_COUNT
        raw_tail = self.buffer.get_i64_acquire(self._metadata_offset + 8 * self._partition)
        self._term_id = to_int32(raw_tail >> 32)
        self._term_offset = min(raw_tail & _INT32_MASK, self._term_length)
        self._term_begin_position = term_begin_position(self._term_id, self.initial_term_id, self._position_bits)

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
        if position >= self._cnc.get_i64_acquire(self._limit_offset):
            return self._back_pressure_status(position, length)
        if length > self._max_payload:
            self._check_length(length)
        resulting_offset = term_offset + self._required_length(length)
        term_length = self._term_length
        # As the Java client: publish the new tail first (release), then the frames.
        self.buffer.put_i64_release(self._metadata_offset + 8 * self._partition,
                                    (self._term_id << 32) + resulting_offset)
        frame = self._partition * term_length + term_offset
        if resulting_offset > term_length:
            if term_offset < term_length:
                self._write_padding(frame, term_length - term_offset, term_offset, self._term_id)
            return self._rotate()
        self._write_frames(data, length, frame, term_offset, self._term_id)
        self._term_offset = resulting_offset
        return self._term_begin_position + resulting_offset

    def _rotate(self) -> int:
        if self._term_begin_position + self._term_length >= self._term_length * (1 << 31):
            return OfferResult.MAX_POSITION_EXCEEDED
        next_partition = (self._partition + 1) % PARTITION_COUNT
        next_term_id = to_int32(self._term_id + 1)
        self._partition = next_partition
        self._term_offset = 0
        self._term_id = next_term_id
        self._term_begin_position += self._term_length
        self.buffer.put_i64_release(self._metadata_offset + 8 * next_partition, next_term_id << 32)
        self.buffer.put_i32_release(self._metadata_offset + LOG_ACTIVE_TERM_COUNT_OFFSET,
                                    to_int32(next_term_id - self.initial_term_id))
        return OfferResult.ADMIN_ACTION


class ConcurrentPublication(_PublicationBase):
    """A publication whose log may have several writers (other clients of the same driver, or threads)."""

    __slots__ = ()

    @property
    def position(self) -> int:
        """Current tail position of the shared log (any writer's last append)."""
        term_count = self.buffer.get_i32_acquire(self._metadata_offset + LOG_ACTIVE_TERM_COUNT_OFFSET)
        raw_tail = self.buffer.get_i64_acquire(self._metadata_offset + 8 * (term_count % PARTITION_COUNT))
        term_offset = min(raw_tail & _INT32_MASK, self._term_length)
        return term_begin_position(to_int32(raw_tail >> 32), self.initial_term_id, self._position_bits) + term_offset

    def offer(self, data: bytes | bytearray | memoryview) -> int:
        """Append one message; the new position (> 0) or a negative OfferResult. See the module docstring."""
        if self.is_closed:
            return OfferResult.CLOSED
        length = len(data)
        buffer = self.buffer
        metadata = self._metadata_offset
        limit = self._cnc.get_i64_acquire(self._limit_offset)
        term_count = buffer.get_i32_acquire(metadata + LOG_ACTIVE_TERM_COUNT_OFFSET)
        partition = term_count % PARTITION_COUNT
        raw_tail = buffer.get_i64_acquire(metadata + 8 * partition)
        term_id = to_int32(raw_tail >> 32)
        if term_count != to_int32(term_id - self.initial_term_id):
            return OfferResult.ADMIN_ACTION  # another writer is rotating the term
        term_offset = raw_tail & _INT32_MASK
        position = term_begin_position(term_id, self.initial_term_id, self._position_bits) + term_offset
        if position >= limit:
            return self._back_pressure_status(position, length)
        if length > self._max_payload:
            self._check_length(length)
        required = self._required_length(length)
        claimed_tail = buffer.get_and_add_i64(metadata + 8 * partition, required)
        claimed_term_id = to_int32(claimed_tail >> 32)
        claimed_offset = claimed_tail & _INT32_MASK
        term_length = self._term_length
        frame = partition * term_length + claimed_offset
        if claimed_offset + required > term_length:
            if claimed_offset < term_length:
                self._write_padding(frame, term_length - claimed_offset, claimed_offset, claimed_term_id)
            return self._rotate(term_count, term_id, position)
        # Space is ours once claimed: always fill it (a hole would stall every reader of the log).
        self._write_frames(data, length, frame, claimed_offset, claimed_term_id)
        return position + (claimed_offset - term_offset) + required

    def _rotate(self, term_count: int, term_id: int, position: int) -> int:
        if position + self._term_length >= self._term_length * (1 << 31):
            return OfferResult.MAX_POSITION_EXCEEDED
        buffer = self.buffer
        metadata = self._metadata_offset
        next_term_id = to_int32(term_id + 1)
        next_partition = (term_count + 1) % PARTITION_COUNT
        expected_old_term_id = to_int32(next_term_id - PARTITION_COUNT)
        tail_offset = metadata + 8 * next_partition
        while True:
            raw_tail = buffer.get_i64_acquire(tail_offset)
            if to_int32(raw_tail >> 32) != expected_old_term_id:
                break  # another writer already initialised the next term
            if buffer.compare_and_set_i64(tail_offset, raw_tail, next_term_id << 32):
                break
        buffer.compare_and_set_i32(metadata + LOG_ACTIVE_TERM_COUNT_OFFSET, term_count, to_int32(term_count + 1))
        return OfferResult.ADMIN_ACTION
