"""Python -> Python over UDP on loopback, through the real driver's sender and receiver."""

from __future__ import annotations

import random
from collections.abc import Callable

from common.aeron.client import AeronClient

UDP = "aeron:udp?endpoint=127.0.0.1:24325"
WAIT_MS = 10_000


def test_udp_loopback_small_and_fragmented_messages_arrive_in_order(
    client: AeronClient, offer_all_and_collect: Callable[..., list[bytes]]
) -> None:
    """5k messages of mixed sizes (up to several frames) over UDP arrive complete and in order."""
    rng = random.Random(3)
    print("seed 3")
    messages = [i.to_bytes(4, "little") + rng.randbytes(rng.choice([0, 20, 200, 1500, 5000])) for i in range(5_000)]
    subscription = client.add_subscription(UDP, 2001)
    publication = client.add_exclusive_publication(UDP, 2001)
    publication.wait_connected(timeout_ms=WAIT_MS)
    subscription.wait_connected(timeout_ms=WAIT_MS)
    received = offer_all_and_collect(client, publication, subscription, messages, attempts_max=10_000_000)
    assert received == messages
    assert subscription.images[0].session_id == publication.session_id
    assert subscription.images[0].source_identity.startswith("127.0.0.1:")
