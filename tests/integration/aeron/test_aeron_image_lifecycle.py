"""How an image ends, as the subscriber sees it: a publisher's clean close (end of stream) against a crash of the
publisher's driver (the stream is cut short), our own subscription or client closing, and the callbacks of each."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from common.aeron.client import AeronClient, ClientConfig
from common.aeron.driver import MediaDriverProcess
from common.aeron.errors import DriverTimeout
from common.aeron.image import Image
from common.aeron.publication import ExclusivePublication
from common.aeron.subscription import FragmentAssembler, Subscription

IPC = "aeron:ipc"
WAIT_S = 15.0
DRIVER_TIMEOUT_MS = 2_000


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def connect() -> Iterator[Callable[[str], AeronClient]]:
    """Clients on any driver directory, closed at teardown."""
    with ExitStack() as stack:
        def open_client(aeron_dir: str) -> AeronClient:
            return stack.enter_context(AeronClient(ClientConfig(
                aeron_dir=aeron_dir, driver_timeout_ms=DRIVER_TIMEOUT_MS, keepalive_interval_ms=200,
                connect_timeout_ms=5_000)))

        yield open_client


class Watcher:
    """A subscription whose images' arrivals and departures are recorded, with what was received."""

    def __init__(self, client: AeronClient, channel: str, stream_id: int) -> None:
        self.available: list[Image] = []
        self.unavailable: list[Image] = []
        self.received: list[bytes] = []
        self.subscription: Subscription = client.add_subscription(
            channel, stream_id, on_available_image=self.available.append,
            on_unavailable_image=self.unavailable.append)
        self.assembler = FragmentAssembler(lambda payload, header: self.received.append(bytes(payload)))

    def poll(self) -> int:
        return self.subscription.poll(self.assembler, 64)


def _two_drivers_over_udp(driver_factory, connect, wait_until, stream_id: int
                          ) -> tuple[Watcher, AeronClient, MediaDriverProcess, ExclusivePublication]:
    """A subscriber on one driver, a publisher on another, over UDP; three messages delivered."""
    subscriber_driver, publisher_driver = driver_factory(), driver_factory()
    channel = f"aeron:udp?endpoint=127.0.0.1:{_free_udp_port()}"
    subscriber_client, publisher_client = connect(subscriber_driver.aeron_dir), connect(publisher_driver.aeron_dir)
    watcher = Watcher(subscriber_client, channel, stream_id)
    publication = publisher_client.add_exclusive_publication(channel, stream_id)
    publication.wait_connected(timeout_ms=int(WAIT_S * 1000))
    for index in range(3):
        message = f"message {index}".encode()
        wait_until(lambda message=message: publication.offer(message) > 0, timeout_s=WAIT_S,
                   step=publisher_client.do_work, message="offer accepted")

    def step() -> None:
        watcher.poll()
        subscriber_client.do_work()
        publisher_client.do_work()

    wait_until(lambda: len(watcher.received) == 3, timeout_s=WAIT_S, step=step, message="three messages")
    return watcher, subscriber_client, publisher_driver, publication


def test_publisher_close_is_a_clean_end_of_stream(driver_factory, connect, wait_until) -> None:
    """The publisher offers three more messages and closes its publication at once: the subscriber still
    receives them (the drivers drain the stream), then its image is reported unavailable with
    is_end_of_stream True."""
    watcher, subscriber_client, _, publication = _two_drivers_over_udp(driver_factory, connect, wait_until, 7301)
    for index in range(3, 6):
        assert publication.offer(f"message {index}".encode()) > 0
    publication.close()

    def step() -> None:
        watcher.poll()
        subscriber_client.do_work()

    wait_until(lambda: bool(watcher.unavailable), timeout_s=WAIT_S, step=step, message="image unavailable")
    image = watcher.unavailable[0]
    assert image is watcher.available[0]
    assert image.is_closed
    assert image.is_end_of_stream
    assert watcher.received == [f"message {index}".encode() for index in range(6)]


def test_publisher_driver_crash_is_not_end_of_stream(driver_factory, connect, wait_until) -> None:
    """The publisher's driver is killed: the subscriber's image times out and is reported unavailable with
    is_closed True but is_end_of_stream False, so a handler can tell a crash from a clean end."""
    watcher, subscriber_client, publisher_driver, _ = _two_drivers_over_udp(driver_factory, connect, wait_until,
                                                                            7302)
    publisher_driver.kill()

    def step() -> None:
        watcher.poll()
        subscriber_client.do_work()

    wait_until(lambda: bool(watcher.unavailable), timeout_s=WAIT_S, step=step, message="image timed out")
    image = watcher.unavailable[0]
    assert image.is_closed
    assert not image.is_end_of_stream
    assert len(watcher.received) == 3


def test_client_closing_itself_on_driver_timeout_reports_images_unavailable(driver_factory, connect,
                                                                           wait_until) -> None:
    """Our own driver dies: do_work raises DriverTimeout and, before that, every image of every subscription is
    reported to on_unavailable_image (as Java does), closed and not at end of stream."""
    driver = driver_factory()
    client = connect(driver.aeron_dir)
    watcher = Watcher(client, IPC, 7303)
    publication = client.add_exclusive_publication(IPC, 7303)
    publication.wait_connected(timeout_ms=int(WAIT_S * 1000))
    watcher.subscription.wait_connected(timeout_ms=int(WAIT_S * 1000))
    driver.kill()
    errors: list[DriverTimeout] = []

    def step() -> None:
        try:
            client.do_work()
        except DriverTimeout as error:
            errors.append(error)

    wait_until(lambda: bool(errors), timeout_s=DRIVER_TIMEOUT_MS / 1000 * 3, step=step, message="DriverTimeout")
    assert watcher.unavailable == watcher.available
    assert len(watcher.unavailable) == 1
    assert watcher.unavailable[0].is_closed
    assert not watcher.unavailable[0].is_end_of_stream
    assert watcher.subscription.is_closed


def test_subscription_close_reports_its_images_unavailable(connect, media_driver) -> None:
    """Closing a subscription reports each of its images to on_unavailable_image (as Java does): closed, and not
    an end of stream since the publisher is still live."""
    client = connect(media_driver.aeron_dir)
    watcher = Watcher(client, IPC, 7304)
    client.add_exclusive_publication(IPC, 7304).wait_connected(timeout_ms=int(WAIT_S * 1000))
    watcher.subscription.wait_connected(timeout_ms=int(WAIT_S * 1000))
    watcher.subscription.close()
    assert watcher.unavailable == watcher.available
    assert watcher.unavailable[0].is_closed
    assert not watcher.unavailable[0].is_end_of_stream
