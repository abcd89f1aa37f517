"""Back-pressure and images coming and going, against the real driver."""

from __future__ import annotations

from common.aeron.client import AeronClient
from common.aeron.image import Image
from common.aeron.publication import OfferResult
from common.aeron.subscription import FragmentAssembler

IPC = "aeron:ipc"
UDP = "aeron:udp?endpoint=127.0.0.1:24327"
WAIT_MS = 10_000


def _fill_until_back_pressured(client: AeronClient, publication, message_bytes: int) -> list[bytes]:
    """Offer numbered messages until BACK_PRESSURED; the accepted ones (at least a window's worth)."""
    for _ in range(10_000_000):  # connected can precede the driver's first publication-limit update
        if publication.publication_limit() > publication.position:
            break
        client.do_work()
    accepted: list[bytes] = []
    for sequence in range(1_000_000):
        message = sequence.to_bytes(8, "little") * (message_bytes // 8)
        result = publication.offer(message)
        if result == OfferResult.BACK_PRESSURED:
            assert len(accepted) >= 10, len(accepted)
            return accepted
        if result == OfferResult.ADMIN_ACTION:
            continue
        assert result > 0, OfferResult(result)
        accepted.append(message)
        client.do_work()
    raise AssertionError("publication never reported back-pressure")


def test_stalled_subscriber_back_pressures_publisher_without_loss(client: AeronClient) -> None:
    """A subscriber that does not poll makes offer return BACK_PRESSURED; once it polls, everything accepted
    arrives in order and offers succeed again."""
    subscription = client.add_subscription(IPC, 4001)
    publication = client.add_exclusive_publication(IPC, 4001)
    publication.wait_connected(timeout_ms=WAIT_MS)
    subscription.wait_connected(timeout_ms=WAIT_MS)

    accepted = _fill_until_back_pressured(client, publication, 200)

    assert publication.position >= publication.publication_limit()
    assert publication.offer(b"more") == OfferResult.BACK_PRESSURED
    received: list[bytes] = []
    handler = FragmentAssembler(lambda payload, header: received.append(bytes(payload)))
    while subscription.poll(handler, 100) > 0:
        pass
    assert received == accepted
    client.do_work()
    # The IPC publication limit follows the subscriber position on the driver's next duty cycle.
    for _ in range(1_000_000):
        if publication.offer(b"after") > 0:
            break
        client.do_work()
    else:
        raise AssertionError("offer still refused after the subscriber caught up")


def test_stalled_subscriber_back_pressures_udp_publisher_without_loss(client: AeronClient) -> None:
    """Over UDP the receiver's window (status messages) back-pressures the sender; nothing is lost."""
    subscription = client.add_subscription(UDP, 4002)
    publication = client.add_exclusive_publication(UDP, 4002)
    publication.wait_connected(timeout_ms=WAIT_MS)
    subscription.wait_connected(timeout_ms=WAIT_MS)
    accepted = _fill_until_back_pressured(client, publication, 1000)
    received: list[bytes] = []
    handler = FragmentAssembler(lambda payload, header: received.append(bytes(payload)))
    for _ in range(10_000_000):
        if len(received) >= len(accepted):
            break
        subscription.poll(handler, 100)
        client.do_work()
    assert received == accepted


def test_images_come_and_go_with_publishers(client_factory) -> None:
    """Closing a publishing client makes its image unavailable to another client's subscription (callbacks)."""
    subscriber_client = client_factory()
    publisher_client = client_factory()
    events: list[tuple[str, int]] = []
    subscription = subscriber_client.add_subscription(
        IPC, 4003,
        on_available_image=lambda image: events.append(("available", image.session_id)),
        on_unavailable_image=lambda image: events.append(("unavailable", image.session_id)))
    publication = publisher_client.add_exclusive_publication(IPC, 4003)
    subscription.wait_connected(timeout_ms=WAIT_MS)
    image: Image = subscription.images[0]
    assert events == [("available", publication.session_id)]
    assert image.join_position == 0

    publisher_client.close()

    for _ in range(10_000_000):
        subscriber_client.do_work()
        if not subscription.images:
            break
    assert events == [("available", publication.session_id), ("unavailable", publication.session_id)]
    assert image.is_closed
    assert publication.offer(b"x") == OfferResult.CLOSED
