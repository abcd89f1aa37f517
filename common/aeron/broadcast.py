"""Receiver side of the to-clients buffer (Agrona BroadcastBuffer / CopyBroadcastReceiver).

The driver is the only writer and never waits for readers. Layout: `capacity` bytes of records followed by a
128-byte trailer: `+0 tail intent counter`, `+8 tail counter`, `+16 latest counter` (longs). Records are
`[int length][int type][payload]`, aligned to 8, type -1 is padding at the wrap.

Before writing a record the driver advances the *tail intent*; after, the *tail*. A reader copies the record
out and then checks the tail intent has not moved a whole capacity past the record (it would have been
overwritten): only then is the copy trusted. A reader that falls that far behind is "lapped" and must rebuild
its state from scratch (the Java client then closes itself; so do we, with a clear error).
"""

from __future__ import annotations

from collections.abc import Callable

from common.aeron.atomics import AtomicBuffer, acquire_fence

TRAILER_LENGTH = 128
TAIL_INTENT_COUNTER_OFFSET = 0
TAIL_COUNTER_OFFSET = 8
LATEST_COUNTER_OFFSET = 16
RECORD_HEADER_LENGTH = 8
RECORD_ALIGNMENT = 8
PADDING_MSG_TYPE_ID = -1

MessageHandler = Callable[[int, bytes], None]


class BroadcastLapped(Exception):
    """The driver overwrote records this receiver had not read yet."""


class CopyBroadcastReceiver:
    """Reads driver-to-client records in order, copying each out before validating it."""

    __slots__ = ("_buffer", "_capacity", "_latest_index", "_next_record", "_offset", "_tail_index",
                 "_tail_intent_index")

    def __init__(self, buffer: AtomicBuffer, *, offset: int, length: int) -> None:
        capacity = length - TRAILER_LENGTH
        assert capacity > 0, length
        assert capacity & (capacity - 1) == 0, f"broadcast capacity {capacity} is not a power of two"
        self._buffer = buffer
        self._offset = offset
        self._capacity = capacity
        trailer = offset + capacity
        self._tail_intent_index = trailer + TAIL_INTENT_COUNTER_OFFSET
        self._tail_index = trailer + TAIL_COUNTER_OFFSET
        self._latest_index = trailer + LATEST_COUNTER_OFFSET
        # A new receiver starts at the latest record: older ones are not addressed to it.
        self._next_record = buffer.get_i64_acquire(self._latest_index)

    def receive(self, handler: MessageHandler, *, messages_max: int) -> int:
        """Deliver up to `messages_max` records to `handler(type_id, payload)`; returns how many."""
        received = 0
        while received < messages_max and self._receive_one(handler):
            received += 1
        return received

    def _receive_one(self, handler: MessageHandler) -> bool:
        buffer = self._buffer
        tail = buffer.get_i64_acquire(self._tail_index)
        cursor = self._next_record
        if tail <= cursor:
            return False
        mask = self._capacity - 1
        if not self._still_valid(cursor):
            raise BroadcastLapped("unable to keep up with the driver's broadcast buffer")
        record_offset = cursor & mask
        length = buffer.get_i32(self._offset + record_offset)
        next_record = cursor + _align(length)
        if buffer.get_i32(self._offset + record_offset + 4) == PADDING_MSG_TYPE_ID:
            cursor = next_record
            record_offset = 0
            length = buffer.get_i32(self._offset)
            next_record = cursor + _align(length)
        start = self._offset + record_offset
        type_id = buffer.get_i32(start + 4)
        payload = buffer.get_bytes(start + RECORD_HEADER_LENGTH, length - RECORD_HEADER_LENGTH)
        if not self._still_valid(cursor):
            raise BroadcastLapped("unable to keep up with the driver's broadcast buffer")
        self._next_record = next_record
        handler(type_id, payload)
        return True

    def _still_valid(self, cursor: int) -> bool:
        # The fence keeps the copy's plain loads before the validating load (Java: VarHandle.acquireFence()).
        acquire_fence()
        return cursor + self._capacity > self._buffer.get_i64_acquire(self._tail_intent_index)


def _align(length: int) -> int:
    return (length + RECORD_ALIGNMENT - 1) & ~(RECORD_ALIGNMENT - 1)
