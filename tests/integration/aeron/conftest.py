"""Fixtures: a real Java media driver per test, in its own directory under /dev/shm (killed at teardown)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.aeron.client import AeronClient, ClientConfig
from common.aeron.concurrent_publication import ConcurrentPublication
from common.aeron.driver import MediaDriverProcess, java_command
from common.aeron.publication import ExclusivePublication
from common.aeron.subscription import FragmentAssembler, Subscription
from tools.infra.artifacts import classpath

#: Small terms keep /dev/shm use low and make term rotation happen often in tests.
TERM_LENGTH_BYTES = 64 * 1024
DRIVER_TIMEOUT_MS = 2_000


@pytest.fixture(scope="session")
def aeron_classpath() -> str:
    """The aeron-all jar from Maven Central (cached by tools.infra.artifacts)."""
    return classpath("aeron")


def _driver_dir() -> str:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    return tempfile.mkdtemp(prefix="aeron-test-", dir=base)


@pytest.fixture
def driver_factory(aeron_classpath: str, tmp_path) -> Iterator[Callable[..., MediaDriverProcess]]:
    """Start media drivers on demand; every one started is stopped at teardown."""
    started: list[MediaDriverProcess] = []

    def start(aeron_dir: str | None = None, **properties: str) -> MediaDriverProcess:
        props = {
            "aeron.term.buffer.length": str(TERM_LENGTH_BYTES),
            "aeron.ipc.term.buffer.length": str(TERM_LENGTH_BYTES),
            "aeron.client.liveness.timeout": f"{DRIVER_TIMEOUT_MS}ms",
            "aeron.image.liveness.timeout": f"{DRIVER_TIMEOUT_MS}ms",
            "aeron.publication.unblock.timeout": f"{DRIVER_TIMEOUT_MS * 2}ms",
            "aeron.publication.connection.timeout": f"{DRIVER_TIMEOUT_MS}ms",
            "aeron.timer.interval": "100ms",
            **properties,
        }
        driver = MediaDriverProcess(classpath=aeron_classpath, aeron_dir=aeron_dir or _driver_dir(),
                                    properties=props, log_path=str(tmp_path / f"driver-{len(started)}.log"))
        started.append(driver)
        driver.start()
        return driver

    yield start
    for driver in started:
        driver.stop()


@pytest.fixture
def media_driver(driver_factory: Callable[..., MediaDriverProcess]) -> MediaDriverProcess:
    """One running driver."""
    return driver_factory()


@pytest.fixture
def client_factory(media_driver: MediaDriverProcess) -> Iterator[Callable[[], AeronClient]]:
    """Clients connected to `media_driver`, closed at teardown."""
    clients: list[AeronClient] = []

    def connect() -> AeronClient:
        client = AeronClient(ClientConfig(aeron_dir=media_driver.aeron_dir, driver_timeout_ms=DRIVER_TIMEOUT_MS,
                                          keepalive_interval_ms=200, connect_timeout_ms=5_000))
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture
def client(client_factory: Callable[[], AeronClient]) -> AeronClient:
    """One connected client."""
    return client_factory()


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """The polling wait helper below, as a fixture (no sleeps-as-waits in tests: conditions with deadlines)."""
    return _wait_until


def _wait_until(condition: Callable[[], bool], *, timeout_s: float, step: Callable[[], object] | None = None,
               message: str = "condition") -> None:
    """Call `step` (e.g. client.do_work) until `condition()` holds; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {message}")
        if step is not None:
            step()
        time.sleep(0.0005)


@pytest.fixture
def java_sample(aeron_classpath: str, media_driver: MediaDriverProcess, tmp_path
                ) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    """Run io.aeron.samples.<name> against `media_driver`; returns (process, stdout log). Killed at teardown."""
    processes: list[subprocess.Popen[bytes]] = []

    def run(name: str, *, stdin_text: str = "", **properties: str) -> tuple[subprocess.Popen[bytes], Path]:
        props = {"aeron.dir": media_driver.aeron_dir,
                 "aeron.sample.idleStrategy": "org.agrona.concurrent.BackoffIdleStrategy", **properties}
        log_path = tmp_path / f"{name}-{len(processes)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(java_command(aeron_classpath, f"io.aeron.samples.{name}", props),
                                       stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        processes.append(process)
        assert process.stdin is not None
        process.stdin.write(stdin_text.encode())
        process.stdin.close()
        return process, log_path

    yield run
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _offer_all_and_collect(client: AeronClient, publication: ExclusivePublication | ConcurrentPublication,
                           subscription: Subscription, messages: list[bytes], *, attempts_max: int) -> list[bytes]:
    """Offer every message in order (retrying on back-pressure while polling) and poll until all arrived."""
    received: list[bytes] = []
    assembler = FragmentAssembler(lambda payload, header: received.append(bytes(payload)))
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
        client.do_work()
    return received


@pytest.fixture
def offer_all_and_collect() -> Callable[..., list[bytes]]:
    """`offer_all_and_collect(client, publication, subscription, messages, attempts_max=N)` -> what arrived."""
    return _offer_all_and_collect
