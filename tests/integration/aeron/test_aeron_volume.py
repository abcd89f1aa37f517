"""Volume both ways between Java and Python on the real driver: fragmented sizes, 64 KiB terms rotated thousands of
times, every message checked (sequence, length, CRC, exact body) on the receiving side.

The Java side is java/AeronVolume.java (run by the JDK's source launcher against the aeron-all jar); both sides
derive message `sequence` from the sequence number alone, with the arithmetic below kept in step with the Java.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.aeron.client import AeronClient
from common.aeron.driver import MediaDriverProcess, java_command
from common.aeron.idle import BackoffIdleStrategy
from common.aeron.image import Header
from common.aeron.publication import OfferResult
from common.aeron.subscription import FragmentAssembler

JAVA_SOURCE = Path(__file__).resolve().parent / "java" / "AeronVolume.java"
MESSAGES = 100_000
TERM_LENGTH_BYTES = 64 * 1024  # the conftest driver's terms (the max message is an eighth of a term)
PREFIX = struct.Struct("<qiI")  # sequence, body length, CRC-32 of the body
POOL_BYTES = 16 * 1024
SMALL_BODY_MAX = 1000
FRAGMENTED_BODY_MIN = 1361  # one byte more than a 1408-byte MTU frame carries after the prefix
FRAGMENTED_BODY_MAX = TERM_LENGTH_BYTES // 8 - PREFIX.size  # up to the max message
TERM_ROTATIONS_MIN = 2_000
DEADLINE_S = 180.0


def _pool() -> bytes:
    pool = bytearray(POOL_BYTES)
    x = 20261124
    for index in range(POOL_BYTES):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFF_FFFF_FFFF_FFFF
        pool[index] = x >> 56
    return bytes(pool)


POOL = _pool()


def body_length(sequence: int) -> int:
    """A quarter of the messages fragmented (two to seven frames), the rest 0-1000 bytes of body."""
    h = ((sequence + 1) * 2654435761) & 0xFFFF_FFFF
    if h % 4 == 0:
        return FRAGMENTED_BODY_MIN + (h >> 2) % (FRAGMENTED_BODY_MAX - FRAGMENTED_BODY_MIN + 1)
    return (h >> 2) % (SMALL_BODY_MAX + 1)


def body(sequence: int) -> bytes:
    """The exact body of message `sequence`."""
    start = (sequence * 7) % (POOL_BYTES // 2)
    return POOL[start : start + body_length(sequence)]


def message(sequence: int) -> bytes:
    """The whole message `sequence` as both sides send it."""
    payload = body(sequence)
    return PREFIX.pack(sequence, len(payload), zlib.crc32(payload)) + payload


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["ipc", "udp"])
def channel(request: pytest.FixtureRequest) -> str:
    """The IPC channel, or UDP on a free local port."""
    return "aeron:ipc" if request.param == "ipc" else f"aeron:udp?endpoint=127.0.0.1:{_free_udp_port()}"


@pytest.fixture
def java_volume(aeron_classpath: str, media_driver: MediaDriverProcess, tmp_path: Path
                ) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    """Run AeronVolume.java (publish|subscribe) against `media_driver`; killed at teardown if still running."""
    processes: list[subprocess.Popen[bytes]] = []

    def run(mode: str, channel: str, stream_id: int) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = tmp_path / f"java-{mode}.log"
        command = java_command(aeron_classpath, str(JAVA_SOURCE), {"aeron.dir": media_driver.aeron_dir}, mode,
                               channel, str(stream_id), str(MESSAGES))
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        processes.append(process)
        return process, log_path

    yield run
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


class Checker:
    """Python receiving side: message `next_sequence` must arrive next, whole and exact."""

    def __init__(self) -> None:
        self.next_sequence = 0
        self.received_bytes = 0

    def on_message(self, payload: bytes | memoryview, header: Header) -> None:
        sequence, length, crc = PREFIX.unpack_from(payload, 0)
        assert sequence == self.next_sequence, (sequence, self.next_sequence)
        assert length == body_length(sequence), (sequence, length)
        assert len(payload) == PREFIX.size + length, (sequence, len(payload))
        received_body = payload[PREFIX.size :]
        assert zlib.crc32(received_body) == crc, (sequence, "CRC mismatch")
        assert received_body == body(sequence), (sequence, "body differs")
        self.next_sequence += 1
        self.received_bytes += len(payload)


def test_message_arithmetic_covers_small_and_fragmented_sizes() -> None:
    """The derived sizes include empty bodies, single-frame ones and fragmented ones up to the max message."""
    lengths = [body_length(sequence) for sequence in range(MESSAGES)]
    assert min(lengths) == 0
    assert max(lengths) == FRAGMENTED_BODY_MAX
    fragmented = sum(length >= FRAGMENTED_BODY_MIN for length in lengths)
    assert MESSAGES // 5 < fragmented < MESSAGES // 3
    assert zlib.crc32(body(5)) == PREFIX.unpack_from(message(5), 0)[2]


@pytest.mark.timeout(300)
def test_java_publisher_to_python_subscriber_volume(client: AeronClient, java_volume, channel: str) -> None:
    """Java's Publication offers 100k messages (a quarter fragmented, ~158 MB) through 64 KiB terms; Python's
    subscription + FragmentAssembler receives every one in order, intact, through thousands of term rotations."""
    stream_id = 7201
    subscription = client.add_subscription(channel, stream_id)
    process, log_path = java_volume("publish", channel, stream_id)
    checker = Checker()
    assembler = FragmentAssembler(checker.on_message)
    idle = BackoffIdleStrategy()
    deadline = time.monotonic() + DEADLINE_S
    while checker.next_sequence < MESSAGES:
        assert time.monotonic() < deadline, f"{checker.next_sequence} of {MESSAGES}: {log_path.read_text()}"
        assert process.poll() is None, log_path.read_text()
        idle.idle(subscription.poll(assembler, 256) + client.do_work())
    assert len(subscription.images) == 1
    position = subscription.images[0].position
    subscription.close()  # the Java publisher leaves once its subscriber is gone
    assert process.wait(DEADLINE_S) == 0, log_path.read_text()
    assert f"SENT {MESSAGES} {checker.received_bytes} " in log_path.read_text()
    assert position // TERM_LENGTH_BYTES >= TERM_ROTATIONS_MIN, position


@pytest.mark.timeout(300)
def test_python_publisher_to_java_subscriber_volume(client: AeronClient, java_volume, channel: str) -> None:
    """A Python ExclusivePublication offers 100k messages (a quarter fragmented, ~158 MB) through 64 KiB terms; Java's
    Subscription + FragmentAssembler checks every one (sequence, length, CRC, exact body) and reports OK."""
    stream_id = 7202
    process, log_path = java_volume("subscribe", channel, stream_id)
    publication = client.add_exclusive_publication(channel, stream_id)
    publication.wait_connected(timeout_ms=int(DEADLINE_S * 1000))  # includes the JVM compiling the source
    assert publication.max_message_length == PREFIX.size + FRAGMENTED_BODY_MAX
    idle = BackoffIdleStrategy()
    deadline = time.monotonic() + DEADLINE_S
    sent_bytes = 0
    for sequence in range(MESSAGES):
        data = message(sequence)
        while (result := publication.offer(data)) < 0:
            assert result in (OfferResult.BACK_PRESSURED, OfferResult.ADMIN_ACTION), (sequence, OfferResult(result))
            assert time.monotonic() < deadline, (sequence, log_path.read_text())
            idle.idle(client.do_work())
        idle.reset()
        sent_bytes += len(data)
    while process.poll() is None:
        assert time.monotonic() < deadline, log_path.read_text()
        idle.idle(client.do_work())
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert f"OK {MESSAGES} {sent_bytes}" in output
    assert publication.position // TERM_LENGTH_BYTES >= TERM_ROTATIONS_MIN, publication.position
