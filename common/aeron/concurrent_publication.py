"""ConcurrentPublication: a log shared by several writers (other clients of the driver, Java or Python, or threads).

Space is claimed with an atomic get-and-add on the active term's tail; the writer whose claim crosses the end of
the term pads it and rotates to the next term with CAS (the next partition's tail, then the active term count),
as io.aeron.ConcurrentPublication does. Claimed space is always filled: a hole would stall every reader.

Threads: the object that several threads may use at once (README.md "Threading model" says which calls). It
keeps no per-call state, and every read-modify-write of the shared log is one atomic instruction. Closing only
marks it closed and leaves the log mapped until the last reference to it is gone, so an `offer` already under
way on another thread writes into a log nobody reads any more, never into unmapped memory (Java lingers the log
for the same reason).
"""

from __future__ import annotations

from common.aeron.log_buffer import LOG_ACTIVE_TERM_COUNT_OFFSET, PARTITION_COUNT, term_begin_position, to_int32
from common.aeron.publication import INT32_MASK, OfferResult, PublicationBase


class ConcurrentPublication(PublicationBase):
    """A publication whose log may have several writers (other clients of the same driver, or threads)."""

    __slots__ = ()

    def _mark_closed(self) -> None:
        # No unmap: other threads may be inside offer (see the module docstring); the mapping goes with the object.
        self.is_closed = True

    @property
    def position(self) -> int:
        """Current tail position of the shared log (any writer's last append)."""
        term_count = self.buffer.get_i32_acquire(self._metadata_offset + LOG_ACTIVE_TERM_COUNT_OFFSET)
        raw_tail = self.buffer.get_i64_acquire(self._metadata_offset + 8 * (term_count % PARTITION_COUNT))
        term_offset = min(raw_tail & INT32_MASK, self._term_length)
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
        term_offset = raw_tail & INT32_MASK
        position = term_begin_position(term_id, self.initial_term_id, self._position_bits) + term_offset
        if position >= limit:
            return self._back_pressure_status(position, length)
        if length > self._max_payload:
            self._check_length(length)
        required = self._required_length(length)
        claimed_tail = buffer.get_and_add_i64(metadata + 8 * partition, required)
        claimed_term_id = to_int32(claimed_tail >> 32)
        claimed_offset = claimed_tail & INT32_MASK
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
