"""Publications and images on a synthetic log file (no driver): framing, fragmentation, rotation, limits."""

from __future__ import annotations

import mmap
import random
import struct
from pathlib import Path

import pytest

from common.aeron.atomics import AtomicBuffer
from common.aeron.concurrent_publication import ConcurrentPublication
from common.aeron.errors import MessageTooLong
from common.aeron.image import Image
from common.aeron.log_buffer import (
    LOG_INITIAL_TERM_ID_OFFSET,
    LOG_IS_CONNECTED_OFFSET,
    LOG_META_DATA_LENGTH,
    LOG_MTU_LENGTH_OFFSET,
    LOG_TERM_LENGTH_OFFSET,
    LogBuffers,
    to_int32,
)
from common.aeron.publication import ExclusivePublication, OfferResult
from common.aeron.subscription import FragmentAssembler

TERM_LENGTH = 64 * 1024
MTU = 1408
LIMIT_OFFSET = 0
POSITION_OFFSET = 128


def _make_log(path: Path, *, initial_term_id: int) -> str:
    """A log file as the driver would create it: three zeroed terms and the metadata the client reads."""
    data = bytearray(TERM_LENGTH * 3 + LOG_META_DATA_LENGTH)
    metadata = TERM_LENGTH * 3
    struct.pack_into("<q", data, metadata, initial_term_id << 32)
    for partition in (1, 2):  # as the driver: the other partitions hold "three terms ago" ids
        struct.pack_into("<q", data, metadata + 8 * partition, to_int32(initial_term_id + partition - 3) << 32)
    struct.pack_into("<i", data, metadata + LOG_IS_CONNECTED_OFFSET, 1)
    struct.pack_into("<i", data, metadata + LOG_INITIAL_TERM_ID_OFFSET, initial_term_id)
    struct.pack_into("<i", data, metadata + LOG_MTU_LENGTH_OFFSET, MTU)
    struct.pack_into("<i", data, metadata + LOG_TERM_LENGTH_OFFSET, TERM_LENGTH)
    path.write_bytes(bytes(data))
    return str(path)


class Harness:
    """A publication and an image on the same log, with a fake counters area for limit and position."""

    def __init__(self, tmp_path: Path, *, concurrent: bool = False, initial_term_id: int = 17) -> None:
        log_path = _make_log(tmp_path / "pub.logbuffer", initial_term_id=initial_term_id)
        self.counters = AtomicBuffer(mmap.mmap(-1, 4096))
        self.counters.put_i64(LIMIT_OFFSET, 1 << 62)
        kind = ConcurrentPublication if concurrent else ExclusivePublication
        self.publication = kind(client=None, log=LogBuffers(log_path), cnc=self.counters, limit_offset=LIMIT_OFFSET,
                                registration_id=1, session_id=77, stream_id=9, channel="aeron:ipc")
        self.image = Image(log=LogBuffers(log_path), cnc=self.counters, position_offset=POSITION_OFFSET,
                           correlation_id=2, session_id=77, stream_id=9, subscription_registration_id=3,
                           source_identity="aeron:ipc")
        self.cleaned_position = 0
        self.received: list[bytes] = []
        self.assembler = FragmentAssembler(lambda payload, header: self.received.append(bytes(payload)))

    def send_all(self, messages: list[bytes]) -> None:
        for message in messages:
            for _ in range(10):
                result = self.publication.offer(message)
                if result > 0:
                    break
                assert result == OfferResult.ADMIN_ACTION, result
            else:
                raise AssertionError("offer kept failing")
            self.image.poll(self.assembler, 100)
            self.clean_behind()
        while self.image.poll(self.assembler, 100):
            pass

    def clean_behind(self) -> None:
        """Zero whole terms the image has left, as the driver does before a partition is reused."""
        term_start = self.image.position - self.image.position % TERM_LENGTH
        while self.cleaned_position < term_start:
            partition = (self.cleaned_position // TERM_LENGTH) % 3
            self.image.buffer.put_bytes(partition * TERM_LENGTH, bytes(TERM_LENGTH))
            self.cleaned_position += TERM_LENGTH


@pytest.mark.parametrize("concurrent", [False, True])
@pytest.mark.parametrize("initial_term_id", [17, -5, 2**31 - 2])
def test_messages_round_trip_through_rotations_and_fragmentation(tmp_path: Path, concurrent: bool,
                                                                 initial_term_id: int) -> None:
    """Random sizes (empty to several frames) over many term rotations arrive intact and in order, including
    when the term id wraps past 2^31."""
    rng = random.Random(initial_term_id)
    print(f"seed {initial_term_id}")
    harness = Harness(tmp_path, concurrent=concurrent, initial_term_id=initial_term_id)
    messages = [rng.randbytes(rng.choice([0, 1, 31, 32, 100, 1376, 1377, 5000, 8192])) for _ in range(600)]
    harness.send_all(messages)
    assert harness.received == messages
    assert harness.image.position == harness.publication.position
    assert harness.counters.get_i64(POSITION_OFFSET) == harness.image.position
    assert harness.image.position > 3 * TERM_LENGTH


def test_offer_stops_at_publication_limit_with_back_pressure(tmp_path: Path) -> None:
    """At the limit offer returns BACK_PRESSURED (connected) or NOT_CONNECTED, and writes nothing."""
    harness = Harness(tmp_path)
    harness.counters.put_i64(LIMIT_OFFSET, 64)
    assert harness.publication.offer(b"a" * 10) == 64
    assert harness.publication.offer(b"b") == OfferResult.BACK_PRESSURED
    metadata = harness.publication._metadata_offset
    harness.publication.buffer.put_i32(metadata + LOG_IS_CONNECTED_OFFSET, 0)
    assert harness.publication.offer(b"b") == OfferResult.NOT_CONNECTED
    assert harness.image.poll(harness.assembler, 10) == 1
    assert harness.received == [b"a" * 10]


def test_too_long_message_raises(tmp_path: Path) -> None:
    """Messages beyond min(term/8, 16 MiB) raise MessageTooLong instead of being truncated."""
    harness = Harness(tmp_path)
    with pytest.raises(MessageTooLong):
        harness.publication.offer(b"x" * (TERM_LENGTH // 8 + 1))


def test_offer_batch_appends_in_order_and_respects_limit(tmp_path: Path) -> None:
    """offer_batch writes a block of frames that the image reads like single offers; it stops at the limit."""
    harness = Harness(tmp_path)
    publication = harness.publication
    assert isinstance(publication, ExclusivePublication)
    messages = [b"%05d" % i * (1 + i % 5) for i in range(3000)]
    sent = 0
    while sent < len(messages):
        result = publication.offer_batch(messages[sent : sent + 100])
        if result > 0:
            sent += result
        else:
            assert result == OfferResult.ADMIN_ACTION
        harness.image.poll(harness.assembler, 1000)
        harness.clean_behind()
    while harness.image.poll(harness.assembler, 1000):
        pass
    assert harness.received == messages
    harness.counters.put_i64(LIMIT_OFFSET, publication.position + 64)
    assert publication.offer_batch([b"y" * 20] * 10) == 1
    assert publication.offer_batch([b"y"]) == OfferResult.BACK_PRESSURED
    harness.counters.put_i64(LIMIT_OFFSET, publication.position + 32)  # less room than one frame, yet below
    assert publication.offer_batch([b"z" * 20] * 10) == 1  # the limit: one message goes, as with offer


def test_header_flyweight_reports_frame_fields(tmp_path: Path) -> None:
    """The Header passed to handlers exposes session, stream, term id, flags and the position after the frame."""
    harness = Harness(tmp_path)
    harness.publication.offer(b"hello")
    seen = []
    harness.image.poll(lambda payload, header: seen.append((bytes(payload), header.session_id, header.stream_id,
                                                            header.term_id, header.flags, header.position)), 1)
    assert seen == [(b"hello", 77, 9, 17, 0xC0, 64)]


def test_to_int32_wraps_like_java() -> None:
    """Term ids wrap as Java ints."""
    assert to_int32(2**31) == -(2**31)
    assert to_int32(-1) == -1
    assert to_int32(2**32 + 5) == 5
