"""Python -> Python over UDP on loopback, through the real driver's sender and receiver."""

from __future__ import annotations

import random

from common.aeron.client import AeronClient
from common.aeron.subscription import FragmentAssembler

UDP = "aeron:udp?endpoint=127.0.0.1:24325"
WAIT_MS = 10_000


def test_udp_loopback_small_and_fragmented_messages_arrive_in_order(client: AeronClient) -> None:
    """5k messages of mixed sizes (up to several frames) over UDP arrive complete and in order."""
    rng = random.Random(3)
    print("seed 3")
    messages = [i.to_bytes(4, "little") + rng.randbytes(rng.choice([0, 20, 200, 1500, 5000])) for i in range(5_000)]
    subscription = client.add_subscription(UDP, 2001)
    publication = client.add_exclusive_publication(UDP, 2001)
    publication.wait_connected(timeout_ms=WAIT_MS)
    subscription.wait_connected(timeout_ms=WAIT_MS)
    received: list[bytes] = []
    assembler = FragmentAssembler(lambda payload, header: received.append(bytes(payload)))
    attempts_max = 10_000_000
    attempts = 0
    for message in messages:
        while publication.offer(message) < 0:
            attempts += 1
            assert attempts < attempts_max, "offer never succeeded"
            subscription.poll(assembler, 64)
            client.do_work()
    while len(received) < len(messages):
        attempts += 1
        assert attempts < attempts_max, f"only {len(received)} of {len(messages)} arrived"
        subscription.poll(assembler, 64)
        client.do_work()
    assert received == messages
    assert subscription.images[0].session_id == publication.session_id
    assert subscription.images[0].source_identity.startswith("127.0.0.1:")
