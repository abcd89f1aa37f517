"""The to-driver ring buffer writer and the to-clients broadcast receiver on plain anonymous memory."""

from __future__ import annotations

import mmap
import threading

import pytest

from common.aeron.atomics import AtomicBuffer
from common.aeron.broadcast import BroadcastLapped, CopyBroadcastReceiver
from common.aeron.ring_buffer import (
    CONSUMER_HEARTBEAT_OFFSET,
    HEAD_POSITION_OFFSET,
    PADDING_MSG_TYPE_ID,
    TAIL_POSITION_OFFSET,
    TRAILER_LENGTH,
    ManyToOneRingBufferWriter,
)

CAPACITY = 1024


def _buffer(length: int) -> AtomicBuffer:
    return AtomicBuffer(mmap.mmap(-1, length))


def _read_records(buffer: AtomicBuffer, start: int, end: int) -> list[tuple[int, bytes]]:
    """What the driver would read between two positions: (type, payload), padding skipped."""
    records = []
    position = start
    while position < end:
        index = position & (CAPACITY - 1)
        length = buffer.get_i32(index)
        type_id = buffer.get_i32(index + 4)
        if type_id != PADDING_MSG_TYPE_ID:
            records.append((type_id, buffer.get_bytes(index + 8, length - 8)))
        position += (length + 7) & ~7
    return records


def test_ring_buffer_records_have_positive_length_type_and_payload() -> None:
    """Each write leaves [length][type][payload] with the final, positive length and advances the tail."""
    buffer = _buffer(CAPACITY + TRAILER_LENGTH)
    writer = ManyToOneRingBufferWriter(buffer, offset=0, length=CAPACITY + TRAILER_LENGTH)
    assert writer.write(6, b"abc")
    assert writer.write(7, b"x" * 20)
    assert buffer.get_i64(CAPACITY + TAIL_POSITION_OFFSET) == 16 + 32
    assert _read_records(buffer, 0, 48) == [(6, b"abc"), (7, b"x" * 20)]


def test_ring_buffer_wraps_with_padding_and_reports_full() -> None:
    """Writes wrap with a padding record; when the driver's head does not move the writer reports full."""
    buffer = _buffer(CAPACITY + TRAILER_LENGTH)
    writer = ManyToOneRingBufferWriter(buffer, offset=0, length=CAPACITY + TRAILER_LENGTH)
    payload = b"p" * 92  # 100-byte records, aligned to 104
    written = 0
    while writer.write(9, payload):
        written += 1
    assert written == CAPACITY // 104
    buffer.put_i64(CAPACITY + HEAD_POSITION_OFFSET, 104 * 3)  # the driver consumed three records
    assert writer.write(9, b"after wrap")
    tail = buffer.get_i64(CAPACITY + TAIL_POSITION_OFFSET)
    records = _read_records(buffer, 104 * 3, tail)
    assert records[-1] == (9, b"after wrap")
    assert len(records) == written - 3 + 1


def test_correlation_ids_are_unique_across_threads() -> None:
    """next_correlation_id is an atomic get-and-add: threads never see the same id."""
    buffer_mapping = mmap.mmap(-1, CAPACITY + TRAILER_LENGTH)
    ids: list[list[int]] = [[] for _ in range(4)]

    def take(bucket: list[int]) -> None:
        writer = ManyToOneRingBufferWriter(AtomicBuffer(buffer_mapping), offset=0, length=CAPACITY + TRAILER_LENGTH)
        bucket.extend(writer.next_correlation_id() for _ in range(2_000))

    threads = [threading.Thread(target=take, args=(bucket,)) for bucket in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [value for bucket in ids for value in bucket]
    assert sorted(everything) == list(range(8_000))


def test_consumer_heartbeat_is_read_from_the_trailer() -> None:
    """The driver heartbeat lives at trailer + 640."""
    buffer = _buffer(CAPACITY + TRAILER_LENGTH)
    buffer.put_i64(CAPACITY + CONSUMER_HEARTBEAT_OFFSET, 1234)
    writer = ManyToOneRingBufferWriter(buffer, offset=0, length=CAPACITY + TRAILER_LENGTH)
    assert writer.consumer_heartbeat_time_ms() == 1234


class Transmitter:
    """A test-side BroadcastTransmitter with the driver's write protocol (tail intent, padding, latest, tail)."""

    def __init__(self, buffer: AtomicBuffer) -> None:
        self.buffer = buffer

    def transmit(self, type_id: int, payload: bytes) -> None:
        buffer = self.buffer
        record_length = len(payload) + 8
        aligned = (record_length + 7) & ~7
        tail = buffer.get_i64(CAPACITY + 8)
        offset = tail & (CAPACITY - 1)
        to_end = CAPACITY - offset
        if to_end < aligned:
            buffer.put_i64(CAPACITY, tail + to_end + aligned)
            buffer.put_i32(offset, to_end)
            buffer.put_i32(offset + 4, PADDING_MSG_TYPE_ID)
            tail += to_end
            offset = 0
        else:
            buffer.put_i64(CAPACITY, tail + aligned)
        buffer.put_i32(offset, record_length)
        buffer.put_i32(offset + 4, type_id)
        buffer.put_bytes(offset + 8, payload)
        buffer.put_i64(CAPACITY + 16, tail)
        buffer.put_i64(CAPACITY + 8, tail + aligned)


def test_broadcast_receiver_reads_in_order_across_wraps() -> None:
    """Records of varying sizes are received in order, across several wraps of the buffer."""
    buffer = _buffer(CAPACITY + 128)
    transmitter = Transmitter(buffer)
    receiver = CopyBroadcastReceiver(buffer, offset=0, length=CAPACITY + 128)
    received: list[tuple[int, bytes]] = []
    sent: list[tuple[int, bytes]] = []
    for i in range(300):
        record = (100 + i % 7, bytes([i % 256]) * (i % 90))
        transmitter.transmit(*record)
        sent.append(record)
        if i % 3 == 0:
            receiver.receive(lambda type_id, payload: received.append((type_id, payload)), messages_max=10)
    while receiver.receive(lambda type_id, payload: received.append((type_id, payload)), messages_max=10):
        pass
    assert received == sent


def test_broadcast_receiver_detects_being_lapped() -> None:
    """A receiver that falls a whole capacity behind raises BroadcastLapped instead of reading garbage."""
    buffer = _buffer(CAPACITY + 128)
    transmitter = Transmitter(buffer)
    receiver = CopyBroadcastReceiver(buffer, offset=0, length=CAPACITY + 128)
    for _ in range(40):
        transmitter.transmit(5, b"z" * 56)
    with pytest.raises(BroadcastLapped):
        receiver.receive(lambda type_id, payload: None, messages_max=1)
