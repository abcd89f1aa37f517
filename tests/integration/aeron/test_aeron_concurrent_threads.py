"""Several threads offering on ONE ConcurrentPublication against the real driver: nothing lost, reordered per
thread, duplicated or corrupted, through thousands of term rotations claimed by racing threads."""

from __future__ import annotations

import random
import struct
import threading
import time
import zlib

import pytest

from common.aeron.client import AeronClient
from common.aeron.idle import BackoffIdleStrategy
from common.aeron.image import Header
from common.aeron.publication import OfferResult
from common.aeron.subscription import FragmentAssembler

IPC = "aeron:ipc"
STREAM_ID = 7101
THREADS = 4
MESSAGES_PER_THREAD = 250_000
#: thread id, per-thread sequence, body length, CRC-32 of the body
PREFIX = struct.Struct("<IIII")
#: Message sizes cycle through this many seeded lengths; every 25th is fragmented (above the frame payload).
LENGTH_PATTERN_COUNT = 1_009
FRAGMENTED_EVERY = 25
POOL_BYTES = 16 * 1024
DEADLINE_S = 240.0
SEED = 13


def _lengths(max_payload: int, max_message: int) -> list[int]:
    """Body lengths: mostly small, every FRAGMENTED_EVERY-th one up to three frames (or the max message)."""
    rng = random.Random(SEED)
    fragmented_max = min(3 * max_payload, max_message) - PREFIX.size
    return [rng.randrange(max_payload - PREFIX.size + 1, fragmented_max + 1) if index % FRAGMENTED_EVERY == 0
            else rng.randrange(0, 120) for index in range(LENGTH_PATTERN_COUNT)]


class Expectation:
    """What message (thread, sequence) must look like; both sides derive it, nothing is stored per message."""

    def __init__(self, lengths: list[int], pool: bytes) -> None:
        self.lengths = lengths
        self.pool = pool

    def body(self, thread_id: int, sequence: int) -> bytes:
        length = self.lengths[(sequence + thread_id * 101) % LENGTH_PATTERN_COUNT]
        start = (sequence * 7 + thread_id * 13) % (POOL_BYTES // 2)
        return self.pool[start : start + length]

    def message(self, thread_id: int, sequence: int) -> bytes:
        body = self.body(thread_id, sequence)
        return PREFIX.pack(thread_id, sequence, len(body), zlib.crc32(body)) + body


class Checker:
    """Subscriber side: each message intact (length, CRC, exact body) and next in its thread's sequence."""

    def __init__(self, expectation: Expectation) -> None:
        self.expectation = expectation
        self.next_sequence = [0] * THREADS
        self.received = 0

    def on_message(self, message: bytes | memoryview, header: Header) -> None:
        thread_id, sequence, length, crc = PREFIX.unpack_from(message, 0)
        assert thread_id < THREADS, thread_id
        assert sequence == self.next_sequence[thread_id], (thread_id, sequence, self.next_sequence[thread_id])
        assert len(message) == PREFIX.size + length, (thread_id, sequence, len(message), length)
        body = message[PREFIX.size :]
        assert zlib.crc32(body) == crc, (thread_id, sequence, "CRC mismatch")
        assert body == self.expectation.body(thread_id, sequence), (thread_id, sequence, "body differs")
        self.next_sequence[thread_id] = sequence + 1
        self.received += 1


@pytest.mark.timeout(300)
def test_four_threads_offering_on_one_concurrent_publication_deliver_every_message_intact(
        client: AeronClient) -> None:
    """4 threads offer 250k messages each (every 25th fragmented) on one shared ConcurrentPublication over IPC
    with 64 KiB terms, so term rotations are claimed by racing threads thousands of times. The subscriber checks
    every message's length, CRC and exact body, and that each thread's sequence arrives complete and in order."""
    subscription = client.add_subscription(IPC, STREAM_ID)
    publication = client.add_publication(IPC, STREAM_ID)
    publication.wait_connected(timeout_ms=5_000)
    print(f"seed {SEED}")
    expectation = Expectation(_lengths(publication.max_payload_length, publication.max_message_length),
                              random.Random(SEED).randbytes(POOL_BYTES))
    checker = Checker(expectation)
    assembler = FragmentAssembler(checker.on_message)
    errors: list[BaseException] = []
    deadline = time.monotonic() + DEADLINE_S
    admin_actions = [0] * THREADS

    def offer_all(thread_id: int) -> None:
        idle = BackoffIdleStrategy()
        try:
            for sequence in range(MESSAGES_PER_THREAD):
                message = expectation.message(thread_id, sequence)
                while (result := publication.offer(message)) < 0:
                    assert result in (OfferResult.BACK_PRESSURED, OfferResult.ADMIN_ACTION), OfferResult(result)
                    assert time.monotonic() < deadline, f"thread {thread_id} stuck at {sequence}: {result}"
                    if result == OfferResult.ADMIN_ACTION:
                        admin_actions[thread_id] += 1
                        continue  # the term rotated: retry at once
                    idle.idle(0)
                idle.reset()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=offer_all, args=(index,), name=f"offer-{index}") for index in range(THREADS)]
    for thread in threads:
        thread.start()
    idle = BackoffIdleStrategy()
    try:
        while checker.received < THREADS * MESSAGES_PER_THREAD and not errors:
            assert time.monotonic() < deadline, f"received {checker.received}, next {checker.next_sequence}"
            idle.idle(subscription.poll(assembler, 256) + client.do_work())
    finally:
        deadline = 0.0  # stops the offering threads if the subscriber failed
        for thread in threads:
            thread.join()
    assert not errors, errors[0]
    assert checker.next_sequence == [MESSAGES_PER_THREAD] * THREADS
    assert sum(admin_actions) > 0  # the threads really raced through term rotations
    assert subscription.poll(assembler, 256) == 0  # nothing beyond the last message


@pytest.mark.parametrize("closing", ["publication", "client"])
def test_closing_while_threads_offer_turns_their_offers_closed(client: AeronClient, closing: str) -> None:
    """4 threads offer (small and fragmented messages) while the owner polls, then the owner closes the
    publication or the whole client under them: every thread's offers end in CLOSED, none raises (no use of an
    unmapped log or CnC), as the threading model says."""
    subscription = client.add_subscription(IPC, STREAM_ID + 1)
    publication = client.add_publication(IPC, STREAM_ID + 1)
    publication.wait_connected(timeout_ms=5_000)
    messages = [b"s" * 40, b"F" * (publication.max_payload_length * 2 + 5)]
    accepted = [0] * THREADS
    outcomes: list[object] = [None] * THREADS
    deadline = time.monotonic() + 60.0

    def offer_until_closed(thread_id: int) -> None:
        try:
            while time.monotonic() < deadline:
                result = publication.offer(messages[accepted[thread_id] % 2])
                if result == OfferResult.CLOSED:
                    outcomes[thread_id] = OfferResult.CLOSED
                    return
                assert result > 0 or result in (OfferResult.BACK_PRESSURED, OfferResult.ADMIN_ACTION), result
                accepted[thread_id] += result > 0
            outcomes[thread_id] = "deadline"
        except BaseException as error:  # reported by the main thread
            outcomes[thread_id] = error

    threads = [threading.Thread(target=offer_until_closed, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    idle = BackoffIdleStrategy()
    while min(accepted) < 200:
        assert time.monotonic() < deadline, accepted
        idle.idle(subscription.poll(lambda payload, header: None, 256) + client.do_work())
    if closing == "publication":
        publication.close()
    else:
        client.close()
    for thread in threads:
        thread.join()
    assert outcomes == [OfferResult.CLOSED] * THREADS
