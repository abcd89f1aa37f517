"""The media driver's command-and-control file (`<aeron.dir>/cnc.dat`): layout and mapping.

Layout (io.aeron.CncFileDescriptor, CnC version 0.2.x as written by driver 1.51):

    0   int   cnc version (written last, volatile, by the driver: 0 means "not ready yet")
    4   int   to-driver ring buffer length      (including its 768-byte trailer)
    8   int   to-clients broadcast buffer length (including its 128-byte trailer)
    12  int   counters metadata buffer length
    16  int   counters values buffer length
    20  int   error log buffer length
    24  long  client liveness timeout (ns)
    32  long  driver start timestamp (epoch ms)
    40  long  driver pid
    128 ...   the buffers, in the order above
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from common.aeron.atomics import AtomicBuffer, map_file
from common.aeron.errors import DriverUnavailable

CNC_FILE_NAME = "cnc.dat"
CNC_VERSION_MAJOR = 0
CNC_VERSION_MINOR = 2
CNC_VERSION_OFFSET = 0
TO_DRIVER_LENGTH_OFFSET = 4
TO_CLIENTS_LENGTH_OFFSET = 8
COUNTERS_METADATA_LENGTH_OFFSET = 12
COUNTERS_VALUES_LENGTH_OFFSET = 16
ERROR_LOG_LENGTH_OFFSET = 20
CLIENT_LIVENESS_TIMEOUT_OFFSET = 24
START_TIMESTAMP_OFFSET = 32
PID_OFFSET = 40
END_OF_METADATA_OFFSET = 128  # align(48 bytes of fields, 2 cache lines)


def default_aeron_dir() -> str:
    """The directory the Java driver uses by default: /dev/shm/aeron-<user> on Linux, else <tmp>/aeron-<user>."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "default"
    base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    return os.path.join(base, f"aeron-{user}")


def semantic_version(version: int) -> tuple[int, int, int]:
    """Split an Agrona SemanticVersion int into (major, minor, patch)."""
    return (version >> 16) & 0xFF, (version >> 8) & 0xFF, version & 0xFF


@dataclass(slots=True, frozen=True, kw_only=True)
class CncLayout:
    """Absolute offsets and lengths of the buffers inside the CnC file."""

    to_driver_offset: int
    to_driver_length: int
    to_clients_offset: int
    to_clients_length: int
    counters_metadata_offset: int
    counters_metadata_length: int
    counters_values_offset: int
    counters_values_length: int
    client_liveness_timeout_ns: int
    start_timestamp_ms: int
    pid: int


class CncFile:
    """A mapped, validated CnC file. `buffer` is the whole mapping; `layout` says where each part is."""

    __slots__ = ("_mapping", "buffer", "layout", "path", "version")

    def __init__(self, aeron_dir: str) -> None:
        self.path = os.path.join(aeron_dir, CNC_FILE_NAME)
        try:
            if os.path.getsize(self.path) < END_OF_METADATA_OFFSET:
                raise DriverUnavailable(f"{self.path}: CnC file too short (driver still starting?)")
            self._mapping = map_file(self.path)
        except FileNotFoundError as error:
            raise DriverUnavailable(f"{self.path}: no CnC file (is the media driver running?)") from error
        self.buffer = AtomicBuffer(self._mapping)
        self.version = self.buffer.get_i32_acquire(CNC_VERSION_OFFSET)
        if self.version == 0:
            self.close()
            raise DriverUnavailable(f"{self.path}: CnC file not ready (driver still starting)")
        major, minor, patch = semantic_version(self.version)
        if major != CNC_VERSION_MAJOR:
            self.close()
            raise DriverUnavailable(
                f"{self.path}: CnC version {major}.{minor}.{patch} is not compatible with {CNC_VERSION_MAJOR}.x"
            )
        self.layout = _read_layout(self.buffer)

    def close(self) -> None:
        """Unmap the file."""
        self.buffer.release()
        self._mapping.close()


def _read_layout(buffer: AtomicBuffer) -> CncLayout:
    to_driver_length = buffer.get_i32(TO_DRIVER_LENGTH_OFFSET)
    to_clients_length = buffer.get_i32(TO_CLIENTS_LENGTH_OFFSET)
    metadata_length = buffer.get_i32(COUNTERS_METADATA_LENGTH_OFFSET)
    values_length = buffer.get_i32(COUNTERS_VALUES_LENGTH_OFFSET)
    to_clients_offset = END_OF_METADATA_OFFSET + to_driver_length
    metadata_offset = to_clients_offset + to_clients_length
    return CncLayout(
        to_driver_offset=END_OF_METADATA_OFFSET,
        to_driver_length=to_driver_length,
        to_clients_offset=to_clients_offset,
        to_clients_length=to_clients_length,
        counters_metadata_offset=metadata_offset,
        counters_metadata_length=metadata_length,
        counters_values_offset=metadata_offset + metadata_length,
        counters_values_length=values_length,
        client_liveness_timeout_ns=buffer.get_i64(CLIENT_LIVENESS_TIMEOUT_OFFSET),
        start_timestamp_ms=buffer.get_i64(START_TIMESTAMP_OFFSET),
        pid=buffer.get_i64(PID_OFFSET),
    )
