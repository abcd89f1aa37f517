"""Aeron: the Java media driver, with its directory (and CnC file) under `.local/aeron` or $AERON_DIR.

Clients find the driver through the command-and-control file `cnc.dat` in the Aeron directory. The
driver writes the CnC version field last, once the file is fully laid out, so "the header's version is
non-zero and its pid is our driver's" is the readiness signal.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from tools.infra import artifacts
from tools.infra.component import ComponentSpec
from tools.infra.layout import aeron_dir, cnc_path, pid_path
from tools.infra.process import java_executable, read_pid_file

NAME = "aeron"
MAIN_CLASS = "io.aeron.driver.MediaDriver"
THREADING_MODE = "SHARED"
# The shared agent backs off from spinning to parking (1 us .. 1 ms), so an idle driver costs little CPU.
SHARED_IDLE_STRATEGY = "backoff"

# CnC header layout (io.aeron.CncFileDescriptor): little-endian, 128 bytes of metadata.
CNC_METADATA_BYTES = 128
_CNC_HEADER = struct.Struct("<iiiiiiqqqq")  # version, 5 buffer lengths, liveness timeout, start ts, pid, page size


@dataclass(frozen=True, slots=True, kw_only=True)
class CncHeader:
    """The metadata at the start of `cnc.dat`."""

    version: int
    to_driver_buffer_bytes: int
    to_clients_buffer_bytes: int
    counters_metadata_buffer_bytes: int
    counters_values_buffer_bytes: int
    error_log_buffer_bytes: int
    client_liveness_timeout_ns: int
    start_timestamp_ms: int
    pid: int

    @property
    def version_major(self) -> int:
        """Major part of the semantic version (Aeron packs major.minor.patch into one int)."""
        return (self.version >> 16) & 0xFF

    @property
    def version_text(self) -> str:
        """The version as `major.minor.patch`."""
        return f"{self.version_major}.{(self.version >> 8) & 0xFF}.{self.version & 0xFF}"


def read_cnc_header(path: Path | None = None) -> CncHeader | None:
    """Return the CnC header of the driver at `path` (default: `cnc_path()`), or None if it is absent/short."""
    path = path if path is not None else cnc_path()
    try:
        with path.open("rb") as handle:
            raw = handle.read(CNC_METADATA_BYTES)
    except FileNotFoundError:
        return None
    if len(raw) < _CNC_HEADER.size:
        return None
    fields = _CNC_HEADER.unpack_from(raw)
    return CncHeader(
        version=fields[0],
        to_driver_buffer_bytes=fields[1],
        to_clients_buffer_bytes=fields[2],
        counters_metadata_buffer_bytes=fields[3],
        counters_values_buffer_bytes=fields[4],
        error_log_buffer_bytes=fields[5],
        client_liveness_timeout_ns=fields[6],
        start_timestamp_ms=fields[7],
        pid=fields[8],
    )


def prepare() -> list[str]:
    """Return the media driver's argv (the driver creates, or cleans, its Aeron directory itself)."""
    directory = aeron_dir()
    directory.parent.mkdir(parents=True, exist_ok=True)
    return [
        java_executable(),
        "-Xms64m",
        "-Xmx256m",
        "-XX:+UseG1GC",
        "-Djava.net.preferIPv4Stack=true",
        # Agrona and Aeron reach into the JDK for Unsafe-backed buffers and CRC32C.
        "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
        "--add-opens=java.base/java.util.zip=ALL-UNNAMED",
        "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
        f"-Daeron.dir={directory}",
        f"-Daeron.threading.mode={THREADING_MODE}",
        f"-Daeron.shared.idle.strategy={SHARED_IDLE_STRATEGY}",
        # A driver killed with SIGKILL leaves its directory behind: start clean, and clean up on shutdown.
        "-Daeron.dir.delete.on.start=true",
        "-Daeron.dir.delete.on.shutdown=true",
        "-cp",
        artifacts.classpath(NAME),
        MAIN_CLASS,
    ]


def probe() -> bool:
    """Return True once cnc.dat is laid out (version set) by the driver whose pid is in our pid file."""
    header = read_cnc_header()
    record = read_pid_file(pid_path(NAME))
    return header is not None and header.version != 0 and record is not None and header.pid == record.pid


def bootstrap() -> None:
    """Nothing to set up: clients create their publications and subscriptions themselves."""


SPEC = ComponentSpec(
    name=NAME,
    main_class=MAIN_CLASS,
    port=None,
    ready_deadline_s=30.0,
    stop_timeout_s=15.0,
    prepare=prepare,
    probe=probe,
    bootstrap=bootstrap,
)
