"""A private Kafka broker (KRaft, one node) on free ports and its own directories: for drills that kill a broker.

The shared broker (`bin/stack infra up`, port 9092) serves every engineer's tests on this machine; a drill that
SIGKILLs Kafka kills its own broker instead:

    with private_kafka(tmp_path) as broker:        # started, waited until it answers metadata requests
        ...  broker.bootstrap ...                  # e.g. STACK_KAFKA_BOOTSTRAP of a private stack
        broker.kill()                              # SIGKILL
        broker.start()                             # the same data directory: topics and offsets survive
    # stopped (SIGTERM, SIGKILL after 30 s)

Same jars, JVM options and settings as the shared broker (tools/infra/kafka.py), 4 partitions per topic.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.infra import kafka, process
from tools.infra.layout import HOST

READY_DEADLINE_S = 120.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.2


def _free_ports(count: int) -> list[int]:
    held = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind((HOST, 0))
            held.append(probe)
        return [probe.getsockname()[1] for probe in held]
    finally:
        for probe in held:
            probe.close()


class PrivateBroker:
    """One broker process under `home` (conf/, data/, kafka.log, kafka.pid) on `port`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port, self.controller_port = _free_ports(2)
        self.bootstrap = f"{HOST}:{self.port}"
        self.record: process.PidRecord | None = None

    def start(self) -> None:
        """Start the broker (formatting its storage the first time) and wait until it answers."""
        argv = kafka.prepare_broker(conf_dir=self.home / "conf", log_dir=self.home / "data",
                                    log_file=self.home / "kafka.log", port=self.port,
                                    controller_port=self.controller_port)  # fmt: skip
        self.record = process.spawn_detached(argv, main_class=kafka.MAIN_CLASS, log_file=self.home / "kafka.log",
                                             pid_file=self.home / "kafka.pid")  # fmt: skip
        deadline_ns = time.monotonic_ns() + int(READY_DEADLINE_S * 1e9)
        while not kafka.probe_broker(self.port):
            if not process.is_alive(self.record) or time.monotonic_ns() > deadline_ns:
                raise RuntimeError(f"private Kafka not ready: {process.log_tail(self.home / 'kafka.log')}")
            time.sleep(POLL_S)

    def kill(self) -> None:
        """SIGKILL the broker and wait until it is gone."""
        assert self.record is not None
        os.killpg(self.record.pid, signal.SIGKILL)
        deadline_ns = time.monotonic_ns() + int(STOP_TIMEOUT_S * 1e9)
        while process.is_alive(self.record):
            assert time.monotonic_ns() < deadline_ns, f"broker {self.record.pid} survived SIGKILL"
            time.sleep(POLL_S)

    def stop(self) -> None:
        """SIGTERM (SIGKILL after STOP_TIMEOUT_S) if it runs."""
        if self.record is not None:
            process.stop(self.record, term_timeout_s=STOP_TIMEOUT_S)


@contextmanager
def private_kafka(home: Path) -> Iterator[PrivateBroker]:
    """A private broker under `home`, started; stopped afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    broker = PrivateBroker(home)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
