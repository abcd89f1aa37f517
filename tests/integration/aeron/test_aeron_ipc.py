"""Python -> Python over IPC against the real media driver: small, fragmented and many messages."""

from __future__ import annotations

import random
from collections.abc import Callable

from common.aeron.client import AeronClient
from common.aeron.publication import OfferResult

IPC = "aeron:ipc"
WAIT_MS = 5_000


def _exchange(client: AeronClient, channel: str, stream_id: int, messages: list[bytes], *, exclusive: bool,
              collect: Callable[..., list[bytes]]) -> list[bytes]:
    """Offer every message (retrying on back-pressure) while polling; return what the subscriber received."""
    subscription = client.add_subscription(channel, stream_id)
    if exclusive:
        publication = client.add_exclusive_publication(channel, stream_id)
    else:
        publication = client.add_publication(channel, stream_id)
    publication.wait_connected(timeout_ms=WAIT_MS)
    subscription.wait_connected(timeout_ms=WAIT_MS)
    received = collect(client, publication, subscription, messages, attempts_max=len(messages) * 1000)
    publication.close()
    subscription.close()
    return received


def test_ipc_small_messages_arrive_in_order(
    client: AeronClient, offer_all_and_collect: Callable[..., list[bytes]]
) -> None:
    """10k small messages through several term rotations arrive complete and in order."""
    messages = [i.to_bytes(8, "little") + b"x" * (i % 40) for i in range(10_000)]
    # Stream 1101, not 1001: 1001 is UBSCore's request stream, subscribed on this driver while `make up` runs.
    assert _exchange(client, IPC, 1101, messages, exclusive=True, collect=offer_all_and_collect) == messages


def test_ipc_fragmented_messages_are_reassembled(
    client: AeronClient, offer_all_and_collect: Callable[..., list[bytes]]
) -> None:
    """Messages from 0 bytes to the max message length are fragmented and reassembled byte for byte."""
    rng = random.Random(7)
    print("seed 7")
    lengths = [0, 1, 1376, 1377, 2 * 1376, 8192, *[rng.randrange(0, 8193) for _ in range(300)]]
    messages = [rng.randbytes(length) for length in lengths]
    assert _exchange(client, IPC, 1002, messages, exclusive=True, collect=offer_all_and_collect) == messages


def test_concurrent_publication_ipc_round_trip(
    client: AeronClient, offer_all_and_collect: Callable[..., list[bytes]]
) -> None:
    """The concurrent (shared-log) publication delivers mixed sizes in order through term rotations."""
    rng = random.Random(11)
    messages = [rng.randbytes(rng.randrange(1, 3000)) for _ in range(2_000)]
    assert _exchange(client, IPC, 1003, messages, exclusive=False, collect=offer_all_and_collect) == messages


def test_offer_without_subscriber_reports_not_connected(client: AeronClient) -> None:
    """With no subscriber, offer returns NOT_CONNECTED instead of dropping the message silently."""
    publication = client.add_exclusive_publication(IPC, 1004)
    assert publication.offer(b"hello") == OfferResult.NOT_CONNECTED
    assert not publication.is_connected
