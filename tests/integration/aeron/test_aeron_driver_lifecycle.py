"""Driver errors, timeouts, restarts and client close: each surfaces as a clear exception, nothing hangs."""

from __future__ import annotations

import os
import signal
import time

import pytest

from common.aeron.client import AeronClient, ClientConfig
from common.aeron.errors import (
    ClientClosed,
    ClientTimeout,
    ConductorTimeout,
    DriverErrorCode,
    DriverTimeout,
    DriverUnavailable,
    InvalidChannel,
)
from common.aeron.publication import OfferResult

IPC = "aeron:ipc"
WAIT_MS = 5_000
DRIVER_TIMEOUT_MS = 2_000


def _connect(aeron_dir: str) -> AeronClient:
    return AeronClient(ClientConfig(aeron_dir=aeron_dir, driver_timeout_ms=DRIVER_TIMEOUT_MS,
                                    keepalive_interval_ms=200, connect_timeout_ms=5_000))


@pytest.mark.parametrize("channel", ["aeron:udp?endpoint=", "aeron:carrier-pigeon", "aeron:udp?endpoint=h:1|x=y"])
def test_bad_channel_raises_invalid_channel(client: AeronClient, channel: str) -> None:
    """The driver's refusal of a channel URI becomes InvalidChannel with the driver's message (not retriable)."""
    with pytest.raises(InvalidChannel) as caught:
        client.add_exclusive_publication(channel, 5001)
    assert caught.value.code == DriverErrorCode.INVALID_CHANNEL
    assert caught.value.driver_message
    assert not caught.value.retriable


def test_bad_subscription_channel_raises_invalid_channel(client: AeronClient) -> None:
    """A refused subscription channel also raises InvalidChannel, and the client stays usable."""
    with pytest.raises(InvalidChannel):
        client.add_subscription("aeron:udp?endpoint=", 5002)
    assert client.add_subscription(IPC, 5002).registration_id > 0


def test_no_driver_raises_driver_unavailable(tmp_path) -> None:
    """Connecting to a directory without a driver fails within the connect timeout as DriverUnavailable."""
    started = time.monotonic()
    with pytest.raises(DriverUnavailable) as caught:
        AeronClient(ClientConfig(aeron_dir=str(tmp_path / "none"), connect_timeout_ms=300))
    assert caught.value.retriable
    assert time.monotonic() - started < 5


def test_stalled_driver_command_raises_conductor_timeout(media_driver, client: AeronClient) -> None:
    """A driver that does not answer (SIGSTOPped) makes add_* raise ConductorTimeout after the given timeout."""
    os.killpg(media_driver.pid, signal.SIGSTOP)
    try:
        with pytest.raises(ConductorTimeout):
            client.add_exclusive_publication(IPC, 5003, timeout_ms=300)
    finally:
        os.killpg(media_driver.pid, signal.SIGCONT)
    assert client.add_exclusive_publication(IPC, 5003).registration_id > 0


def test_killed_driver_raises_driver_timeout_and_restart_works(driver_factory, wait_until) -> None:
    """After the driver is killed, do_work raises DriverTimeout within the driver timeout, publications report
    CLOSED, close() returns; a driver restarted in the same directory serves a new client."""
    driver = driver_factory()
    client = _connect(driver.aeron_dir)
    subscription = client.add_subscription(IPC, 5004)
    publication = client.add_exclusive_publication(IPC, 5004)
    publication.wait_connected(timeout_ms=WAIT_MS)
    driver.kill()
    errors: list[Exception] = []

    def step() -> None:
        try:
            client.do_work()
        except DriverTimeout as error:
            errors.append(error)

    wait_until(lambda: bool(errors), timeout_s=DRIVER_TIMEOUT_MS / 1000 * 3, step=step, message="DriverTimeout")
    assert errors[0].retriable
    assert client.is_closed
    assert publication.offer(b"x") == OfferResult.CLOSED
    assert subscription.poll(lambda payload, header: None, 10) == 0
    with pytest.raises(DriverTimeout):
        client.add_subscription(IPC, 5004)
    client.close()

    restarted = driver_factory(driver.aeron_dir)
    with _connect(restarted.aeron_dir) as fresh:
        subscription = fresh.add_subscription(IPC, 5004)
        publication = fresh.add_exclusive_publication(IPC, 5004)
        publication.wait_connected(timeout_ms=WAIT_MS)
        # Connected does not mean the driver has raised the publication limit yet: retry back-pressure.
        wait_until(lambda: publication.offer(b"after restart") > 0, timeout_s=5, step=fresh.do_work,
                   message="offer accepted after restart")
        got: list[bytes] = []
        wait_until(lambda: subscription.poll(lambda payload, header: got.append(bytes(payload)), 1) > 0,
                   timeout_s=5, step=fresh.do_work, message="message after restart")
        assert got == [b"after restart"]


def test_silent_client_is_timed_out_by_driver(client_factory, wait_until) -> None:
    """A client that stops calling do_work is timed out by the driver: its image disappears for other clients
    and its next do_work raises ClientTimeout."""
    observer = client_factory()
    silent = client_factory()
    subscription = observer.add_subscription(IPC, 5005)
    silent.add_exclusive_publication(IPC, 5005)
    subscription.wait_connected(timeout_ms=WAIT_MS)
    wait_until(lambda: not subscription.images, timeout_s=DRIVER_TIMEOUT_MS / 1000 * 5, step=observer.do_work,
               message="the silent client's image to go away")
    with pytest.raises(ClientTimeout):
        silent.do_work()
    assert silent.is_closed
    with pytest.raises(ClientTimeout):
        silent.add_subscription(IPC, 5005)


def test_close_is_idempotent_and_later_use_raises_client_closed(client: AeronClient) -> None:
    """close() twice is fine; using a closed client raises ClientClosed; its publications report CLOSED."""
    publication = client.add_exclusive_publication(IPC, 5006)
    client.close()
    client.close()
    assert publication.offer(b"x") == OfferResult.CLOSED
    with pytest.raises(ClientClosed):
        client.do_work()


def _heartbeat_counter(client: AeronClient) -> int:
    label = f"client-heartbeat: id={client.client_id}"
    return next(info.value for info in client.counters.allocated() if info.label == label)


def test_keepalive_thread_sends_keepalives_while_owner_is_busy(client: AeronClient, wait_until) -> None:
    """With start_keepalive_thread() the driver's heartbeat counter for this client keeps advancing although
    the owner never calls do_work (the owner only reads the counter). The driver knows a client (and makes its
    heartbeat counter) from its first add command."""
    client.add_subscription(IPC, 5007)
    client.start_keepalive_thread()
    first = _heartbeat_counter(client)
    wait_until(lambda: _heartbeat_counter(client) > first, timeout_s=5, message="a keepalive from the thread")
    client.close()
    assert client.is_closed


def test_keepalive_interval_longer_than_liveness_timeout_is_refused(media_driver) -> None:
    """A keepalive interval the driver would time out (>= its client liveness timeout) is a config error."""
    with pytest.raises(ValueError, match="keepalive interval"):
        AeronClient(ClientConfig(aeron_dir=media_driver.aeron_dir, keepalive_interval_ms=DRIVER_TIMEOUT_MS,
                                 connect_timeout_ms=5_000))
