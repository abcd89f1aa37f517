"""Launch and stop a Java media driver (io.aeron.driver.MediaDriver) as a child process.

Used by the integration tests and the benchmark; services normally connect to a driver started elsewhere.
The caller supplies the classpath (aeron-all jar) so this package does not depend on how jars are fetched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from common.aeron.cnc import CncFile
from common.aeron.errors import DriverUnavailable

#: Java 17 needs these to let Agrona reach its Unsafe and NIO internals.
JAVA_ADD_OPENS = (
    "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-opens=java.base/java.util.zip=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)
DRIVER_START_TIMEOUT_S = 30.0
DRIVER_STOP_TIMEOUT_S = 10.0


def java_command(classpath: str, main_class: str, properties: Mapping[str, str], *args: str) -> list[str]:
    """Build `java <opens> -D... -cp <classpath> <main_class> <args>`."""
    defines = [f"-D{key}={value}" for key, value in properties.items()]
    return ["java", "-Xms64m", "-Xmx256m", *JAVA_ADD_OPENS, *defines, "-cp", classpath, main_class, *args]


@dataclass(slots=True, kw_only=True)
class MediaDriverProcess:
    """A media driver child process with its own aeron directory.

    `properties` are extra -D system properties (timeouts, term lengths, threading mode).
    """

    classpath: str
    aeron_dir: str
    properties: dict[str, str] = field(default_factory=dict)
    log_path: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = DRIVER_START_TIMEOUT_S) -> None:
        """Start the driver and return once its CnC file is ready; raises DriverUnavailable on failure."""
        assert self.process is None, "already started"
        base = {
            "aeron.dir": self.aeron_dir,
            "aeron.dir.delete.on.start": "true",
            "aeron.dir.delete.on.shutdown": "true",
            "aeron.threading.mode": "SHARED",
            "aeron.shared.idle.strategy": "backoff",
            "aeron.print.configuration": "false",
        }
        command = java_command(self.classpath, "io.aeron.driver.MediaDriver", {**base, **self.properties})
        log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise DriverUnavailable(f"media driver exited with {self.process.returncode} (log: {self.log_path})")
            try:
                CncFile(self.aeron_dir).close()
                return
            except DriverUnavailable as error:
                last_error = error
            time.sleep(0.02)  # polling a child process's start-up, not a test wait
        self.stop()
        raise DriverUnavailable(f"media driver not ready after {timeout_s}s: {last_error}")

    def kill(self) -> None:
        """SIGKILL the driver (simulates a crash: the CnC file and logs stay behind)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(DRIVER_STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Stop the driver (SIGTERM, then SIGKILL after a grace period) and remove its directory."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(DRIVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(DRIVER_STOP_TIMEOUT_S)
        shutil.rmtree(self.aeron_dir, ignore_errors=True)

    @property
    def pid(self) -> int:
        """The driver's process id."""
        assert self.process is not None
        return self.process.pid
