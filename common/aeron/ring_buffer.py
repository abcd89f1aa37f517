"""Producer side of the to-driver command buffer (Agrona ManyToOneRingBuffer).

Layout: `capacity` bytes of records (a power of two) followed by a 768-byte trailer of 128-byte slots:

    +128 tail position (long, CAS by producers)      +512 correlation counter (long, get-and-add)
    +256 head cache position (long)                  +640 consumer heartbeat (long, epoch ms, driver-written)
    +384 head position (long, written by the driver)

A record is `[int length][int type][payload]`, aligned to 8. A producer claims space by CAS on the tail, writes
`-length` (release), the type and payload, then `+length` (release): the driver reads a record only once its
length is positive. Wrapping inserts a padding record (type -1) up to the end of the buffer.
"""

from __future__ import annotations

from common.aeron.atomics import AtomicBuffer

TRAILER_LENGTH = 768
TAIL_POSITION_OFFSET = 128
HEAD_CACHE_POSITION_OFFSET = 256
HEAD_POSITION_OFFSET = 384
CORRELATION_COUNTER_OFFSET = 512
CONSUMER_HEARTBEAT_OFFSET = 640
RECORD_HEADER_LENGTH = 8
RECORD_ALIGNMENT = 8
PADDING_MSG_TYPE_ID = -1
INSUFFICIENT_CAPACITY = -2


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) & ~(alignment - 1)


class ManyToOneRingBufferWriter:
    """Writes records into a ManyToOneRingBuffer that lives at `offset` inside `buffer`."""

    __slots__ = ("_buffer", "_capacity", "_head_cache_index", "_head_index", "_offset", "_tail_index",
                 "max_message_length")

    def __init__(self, buffer: AtomicBuffer, *, offset: int, length: int) -> None:
        capacity = length - TRAILER_LENGTH
        assert capacity > 0, length
        assert capacity & (capacity - 1) == 0, f"ring buffer capacity {capacity} is not a power of two"
        self._buffer = buffer
        self._offset = offset
        self._capacity = capacity
        trailer = offset + capacity
        self._tail_index = trailer + TAIL_POSITION_OFFSET
        self._head_cache_index = trailer + HEAD_CACHE_POSITION_OFFSET
        self._head_index = trailer + HEAD_POSITION_OFFSET
        self.max_message_length = capacity // 8

    def next_correlation_id(self) -> int:
        """A driver-wide unique id (shared with every other client of this driver)."""
        return self._buffer.get_and_add_i64(self._trailer(CORRELATION_COUNTER_OFFSET), 1)

    def consumer_heartbeat_time_ms(self) -> int:
        """The driver's last heartbeat (epoch ms); stale means the driver is gone."""
        return self._buffer.get_i64_acquire(self._trailer(CONSUMER_HEARTBEAT_OFFSET))

    def _trailer(self, field_offset: int) -> int:
        return self._offset + self._capacity + field_offset

    def write(self, msg_type_id: int, payload: bytes | bytearray) -> bool:
        """Append one record; False when the buffer is full (the driver is not keeping up or is gone)."""
        assert msg_type_id > 0, msg_type_id
        length = len(payload)
        assert length <= self.max_message_length, length
        record_length = length + RECORD_HEADER_LENGTH
        index = self._claim_capacity(_align(record_length, RECORD_ALIGNMENT))
        if index == INSUFFICIENT_CAPACITY:
            return False
        buffer = self._buffer
        record = self._offset + index
        buffer.put_i32_release(record, -record_length)
        buffer.put_bytes(record + RECORD_HEADER_LENGTH, payload)
        buffer.put_i32(record + 4, msg_type_id)
        buffer.put_i32_release(record, record_length)
        return True

    def _claim_capacity(self, required: int) -> int:
        buffer = self._buffer
        capacity = self._capacity
        mask = capacity - 1
        head = buffer.get_i64_acquire(self._head_cache_index)
        while True:
            tail = buffer.get_i64_acquire(self._tail_index)
            if required > capacity - (tail - head):
                head = buffer.get_i64_acquire(self._head_index)
                if required > capacity - (tail - head):
                    return INSUFFICIENT_CAPACITY
                buffer.put_i64_release(self._head_cache_index, head)
            new_tail = tail + required
            padding = 0
            tail_index = tail & mask
            write_index = tail_index
            to_end = capacity - tail_index
            if required > to_end:
                # The record does not fit before the end: pad to the end and write at index 0 if there is room.
                write_index = 0
                if required > (head & mask):
                    head = buffer.get_i64_acquire(self._head_index)
                    if required > (head & mask):
                        write_index = INSUFFICIENT_CAPACITY
                        new_tail = tail  # claim only the padding
                    buffer.put_i64_release(self._head_cache_index, head)
                padding = to_end
                new_tail += padding
            if buffer.compare_and_set_i64(self._tail_index, tail, new_tail):
                break
        if padding:
            record = self._offset + tail_index
            buffer.put_i32_release(record, -padding)
            buffer.put_i32(record + 4, PADDING_MSG_TYPE_ID)
            buffer.put_i32_release(record, padding)
        return write_index
