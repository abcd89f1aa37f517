"""Python -> Python over IPC against the real media driver: small, fragmented and many messages."""

from __future__ import annotations

import random

from common.aeron.client import AeronClient
from common.aeron.publication import OfferResult
from common.aeron.subscription import FragmentAssembler

IPC = "aeron:ipc"
WAIT_MS = 5_000


def _exchange(client: AeronClient, channel: str, stream_id: int, messages: list[bytes], *,
              exclusive: bool) -> list[bytes]:
    """Offer every message (retrying on back-pressure) while polling; return what the subscriber received."""
    subscription = client.add_subscription(channel, stream_id)
    if exclusive:
        publication = client.add_exclusive_publication(channel, stream_id)
    else:
        publication = client.add_publication(channel, stream_id)
    publication.wait_connected(timeout_ms=WAIT_MS)
    subscription.wait_connected(timeout_ms=WAIT_MS)
    received: list[bytes] = []
    assembler = FragmentAssembler(lambda payload, header: received.append(bytes(payload)))
    attempts_max = len(messages) * 1000
    attempts = 0
    for message in messages:
        while publication.offer(message) < 0:
            attempts += 1
            assert attempts < attempts_max, "offer never succeeded"
            subscription.poll(assembler, 64)
            client.do_work()
        subscription.poll(assembler, 64)
    while len(received) < len(messages):
        attempts += 1
        assert attempts < attempts_max, f"only {len(received)} of {len(messages)} arrived"
        subscription.poll(assembler, 64)
    publication.close()
    subscription.close()
    return received


def test_ipc_small_messages_arrive_in_order(client: AeronClient) -> None:
    """10k small messages through several term rotations arrive complete and in order."""
    messages = [i.to_bytes(8, "little") + b"x" * (i % 40) for i in range(10_000)]
    assert _exchange(client, IPC, 1001, messages, exclusive=True) == messages


def test_ipc_fragmented_messages_are_reassembled(client: AeronClient) -> None:
    """Messages from 0 bytes to the max message length are fragmented and reassembled byte for byte."""
    rng = random.Random(7)
    print("seed 7")
    lengths = [0, 1, 1376, 1377, 2 * 1376, 8192, *[rng.randrange(0, 8193) for _ in range(300)]]
    messages = [rng.randbytes(length) for length in lengths]
    assert _exchange(client, IPC, 1002, messages, exclusive=True) == messages


def test_concurrent_publication_ipc_round_trip(client: AeronClient) -> None:
    """The concurrent (shared-log) publication delivers mixed sizes in order through term rotations."""
    rng = random.Random(11)
    messages = [rng.randbytes(rng.randrange(1, 3000)) for _ in range(2_000)]
    assert _exchange(client, IPC, 1003, messages, exclusive=False) == messages


def test_offer_without_subscriber_reports_not_connected(client: AeronClient) -> None:
    """With no subscriber, offer returns NOT_CONNECTED instead of dropping the message silently."""
    publication = client.add_exclusive_publication(IPC, 1004)
    assert publication.offer(b"hello") == OfferResult.NOT_CONNECTED
    assert not publication.is_connected
