"""One private infrastructure server (a Kafka broker, a Cassandra node) on free ports under its own directory:
what a crash drill starts, SIGKILLs and starts again on the same data, never touching the shared servers.

Subclasses say how to write the config and argv (`argv()`) and how to tell the server answers (`ready()`);
this class runs the process (tools/infra/process.py: own session, pid file with start time, log file).
"""

from __future__ import annotations

import os
import signal
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self

from tools.infra import process

STOP_TIMEOUT_S = 30.0
POLL_S = 0.2


class PrivateServer(ABC):
    """A server process under `home` (`<name>.log`, `<name>.pid`), started and stopped by its owner."""

    name = "server"
    main_class = ""
    ready_deadline_s = 120.0

    def __init__(self, home: Path) -> None:
        self.home = home
        self.log_file = home / f"{self.name}.log"
        self.record: process.PidRecord | None = None

    @abstractmethod
    def argv(self) -> list[str]:
        """Write the config (and format storage the first time); return the command line."""

    @abstractmethod
    def ready(self) -> bool:
        """True once the server answers its clients."""

    def start(self) -> None:
        """Start the server (on the data it has, if any) and wait until it answers."""
        self.record = process.spawn_detached(self.argv(), main_class=self.main_class, log_file=self.log_file,
                                             pid_file=self.home / f"{self.name}.pid")  # fmt: skip
        deadline_ns = time.monotonic_ns() + int(self.ready_deadline_s * 1e9)
        while not self.ready():
            if not process.is_alive(self.record) or time.monotonic_ns() > deadline_ns:
                raise RuntimeError(f"private {self.name} not ready: {process.log_tail(self.log_file)}")
            time.sleep(POLL_S)

    def kill(self) -> None:
        """SIGKILL the server and wait until it is gone."""
        assert self.record is not None
        os.killpg(self.record.pid, signal.SIGKILL)
        deadline_ns = time.monotonic_ns() + int(STOP_TIMEOUT_S * 1e9)
        while process.is_alive(self.record):
            assert time.monotonic_ns() < deadline_ns, f"{self.name} {self.record.pid} survived SIGKILL"
            time.sleep(POLL_S)

    def stop(self) -> None:
        """SIGTERM (SIGKILL after STOP_TIMEOUT_S) if it runs."""
        if self.record is not None:
            process.stop(self.record, term_timeout_s=STOP_TIMEOUT_S)

    def __enter__(self) -> Self:
        """`with server:` creates its home, starts it and waits until it answers; stops it on the way out."""
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
