"""Interop with Aeron's own Java sample programs on the same driver: Java -> Python and Python -> Java."""

from __future__ import annotations

import re
import struct

from common.aeron.client import AeronClient
from common.aeron.subscription import FragmentAssembler

IPC = "aeron:ipc"
UDP = "aeron:udp?endpoint=127.0.0.1:24326"
WAIT_S = 30.0


def test_java_basic_publisher_messages_arrive_in_python(client: AeronClient, java_sample, wait_until) -> None:
    """io.aeron.samples.BasicPublisher's 'Hello World! i' messages are received by a Python subscription."""
    subscription = client.add_subscription(IPC, 3001)
    process, _ = java_sample("BasicPublisher", **{"aeron.sample.channel": IPC, "aeron.sample.streamId": "3001",
                                                  "aeron.sample.messages": "3"})
    received: list[str] = []
    handler = FragmentAssembler(lambda payload, header: received.append(bytes(payload).decode("ascii")))

    def step() -> None:
        subscription.poll(handler, 10)
        client.do_work()

    wait_until(lambda: len(received) >= 3, timeout_s=WAIT_S, step=step, message="3 messages from BasicPublisher")
    assert received == ["Hello World! 0", "Hello World! 1", "Hello World! 2"]
    process.wait(WAIT_S)


def test_java_streaming_publisher_fragmented_messages_arrive_in_python(client: AeronClient, java_sample,
                                                                       wait_until) -> None:
    """StreamingPublisher's 3000-byte (fragmented) messages over UDP are reassembled in order by Python."""
    subscription = client.add_subscription(UDP, 3002)
    java_sample("StreamingPublisher", stdin_text="n\n",
                **{"aeron.sample.channel": UDP, "aeron.sample.streamId": "3002", "aeron.sample.messages": "2000",
                   "aeron.sample.messageLength": "3000"})
    sequence: list[int] = []
    lengths: set[int] = set()

    def on_message(payload: memoryview | bytes, header: object) -> None:
        sequence.append(struct.unpack_from("<q", payload, 0)[0])
        lengths.add(len(payload))

    handler = FragmentAssembler(on_message)

    def step() -> None:
        subscription.poll(handler, 64)
        client.do_work()

    wait_until(lambda: len(sequence) >= 2000, timeout_s=WAIT_S, step=step, message="2000 streamed messages")
    assert sequence == list(range(2000))
    assert lengths == {3000}


def test_python_messages_arrive_in_java_basic_subscriber(client: AeronClient, java_sample, wait_until) -> None:
    """A Python publication's small and fragmented messages are printed by io.aeron.samples.BasicSubscriber."""
    process, log_path = java_sample("BasicSubscriber", **{"aeron.sample.channel": UDP,
                                                          "aeron.sample.streamId": "3003"})
    publication = client.add_exclusive_publication(UDP, 3003)
    publication.wait_connected(timeout_ms=int(WAIT_S * 1000))
    messages = [f"python says {i}".encode() for i in range(50)] + [b"L" * 5000]
    for message in messages:
        wait_until(lambda message=message: publication.offer(message) > 0, timeout_s=WAIT_S, step=client.do_work,
                   message="offer accepted")

    def printed() -> list[tuple[int, str]]:
        text = log_path.read_text(errors="replace")
        return [(int(length), body) for length, body in re.findall(r"\((\d+)@\d+\) <<(.*?)>>", text)]

    wait_until(lambda: len(printed()) >= len(messages), timeout_s=WAIT_S, step=client.do_work,
               message="BasicSubscriber printing every message")
    assert printed() == [(len(message), message.decode()) for message in messages]
    assert process.poll() is None
    assert f"session {publication.session_id}" in log_path.read_text()




def test_python_and_java_write_concurrently_to_one_shared_publication(client: AeronClient, java_sample,
                                                                      wait_until) -> None:
    """A Python ConcurrentPublication and Java's StreamingPublisher (addPublication) on the same IPC stream share
    one log and claim space with atomic get-and-add at the same time; every message of both arrives intact and
    in per-writer order."""
    stream = {"aeron.sample.channel": IPC, "aeron.sample.streamId": "3004"}
    subscription = client.add_subscription(IPC, 3004)
    publication = client.add_publication(IPC, 3004)
    java_sample("StreamingPublisher", stdin_text="n\n",
                **stream, **{"aeron.sample.messages": "100000", "aeron.sample.messageLength": "100"})
    java_sequence: list[int] = []
    python_sequence: list[int] = []

    def on_message(payload: memoryview | bytes, header: object) -> None:
        if len(payload) == 100:
            java_sequence.append(struct.unpack_from("<q", payload, 0)[0])
            assert bytes(payload[8:]) == bytes(92)
        else:
            assert len(payload) == 60, len(payload)
            python_sequence.append(struct.unpack_from("<q", payload, 0)[0])
            assert bytes(payload[8:]) == b"P" * 52

    handler = FragmentAssembler(on_message)
    wait_until(lambda: subscription.image_by_session_id(publication.session_id) is not None and bool(
        java_sequence), timeout_s=WAIT_S, step=lambda: (subscription.poll(handler, 64), client.do_work()),
        message="the Java writer to start on the shared session")
    assert len(subscription.images) == 1  # one session: the log is shared
    sent = 0
    while sent < 5000:
        if publication.offer(struct.pack("<q", sent) + b"P" * 52) > 0:
            sent += 1
        subscription.poll(handler, 64)
    wait_until(lambda: len(java_sequence) >= 100000 and len(python_sequence) >= 5000, timeout_s=WAIT_S,
               step=lambda: (subscription.poll(handler, 256), client.do_work()), message="both writers' messages")
    assert java_sequence == list(range(100000))
    assert python_sequence == list(range(5000))


def test_java_ping_round_trips_through_python_pong(client: AeronClient, java_sample, wait_until) -> None:
    """io.aeron.samples.Ping completes its warm-up and 2000 measured round trips against a Python pong that
    echoes every ping (Java -> Python -> Java, over IPC)."""
    channels = {"aeron.sample.ping.channel": IPC, "aeron.sample.pong.channel": IPC,
                "aeron.sample.ping.streamId": "3005", "aeron.sample.pong.streamId": "3006"}
    pings = client.add_subscription(IPC, 3005)
    pongs = client.add_exclusive_publication(IPC, 3006)
    process, log_path = java_sample("Ping", stdin_text="n\n", **channels,
                                    **{"aeron.sample.messages": "2000", "aeron.sample.messageLength": "64",
                                       "aeron.sample.warmup.iterations": "1",
                                       "aeron.sample.warmup.messages": "200"})
    echoed = [0]

    def echo(payload: memoryview, header: object) -> None:
        while pongs.offer(payload) < 0:
            client.do_work()
        echoed[0] += 1

    def step() -> None:
        pings.poll(echo, 16)
        client.do_work()

    wait_until(lambda: process.poll() is not None, timeout_s=WAIT_S, step=step, message="Ping to finish")
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert "Histogram of RTT latencies in microseconds" in output
    assert echoed[0] == 2200
