"""Where the local infrastructure lives: directories under `.local/` and the loopback ports it listens on.

Everything the runner writes (generated configs, data, logs, pid files) sits under `.local/`, which git
ignores, so `infra reset` can wipe the data without touching the repository.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_DIR = REPO_ROOT / ".local"
LOGS_DIR = LOCAL_DIR / "logs"
RUN_DIR = LOCAL_DIR / "run"
DATA_DIR = LOCAL_DIR / "data"
CONF_DIR = LOCAL_DIR / "conf"

HOST = "127.0.0.1"
KAFKA_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
CQL_PORT = 9042
CASSANDRA_STORAGE_PORT = 7000

KAFKA_BOOTSTRAP = f"{HOST}:{KAFKA_PORT}"
CQL_KEYSPACE = "exchange"

# Ports picked for private servers and stacks lie between this and the kernel's ephemeral range: above every fixed
# port of the infrastructure and the stack, below every port that binding port 0 or connecting out hands out.
RESTARTABLE_PORT_MIN = 20_000
EPHEMERAL_RANGE_PATH = Path("/proc/sys/net/ipv4/ip_local_port_range")
PORT_ATTEMPTS_MAX = 10_000

AERON_DIR_ENV = "AERON_DIR"
CNC_FILE_NAME = "cnc.dat"


def aeron_dir() -> Path:
    """Return the Aeron directory shared by the media driver and its clients (env AERON_DIR wins)."""
    override = os.environ.get(AERON_DIR_ENV)
    if override:
        return Path(override).resolve()
    return LOCAL_DIR / "aeron"


def cnc_path() -> Path:
    """Return the path of the media driver's command-and-control file (`cnc.dat` in the Aeron dir)."""
    return aeron_dir() / CNC_FILE_NAME


def log_path(component: str) -> Path:
    """Return the log file of `component` (stdout and stderr of its JVM)."""
    return LOGS_DIR / f"{component}.log"


def pid_path(component: str) -> Path:
    """Return the pid file of `component`."""
    return RUN_DIR / f"{component}.pid"


def data_dir(component: str) -> Path:
    """Return the data directory of `component` (wiped by `infra reset`)."""
    return DATA_DIR / component


def restartable_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free right now (all held open together), below the ephemeral range.

    A server stopped and started again on its port (a crash drill, an outage test) must find it still free. A port of
    the ephemeral range, what binding port 0 gives, can meanwhile go to any process binding port 0 or connecting out
    (a client retrying the stopped server included); no such process is ever handed a port below that range.
    """
    ephemeral_low = int(EPHEMERAL_RANGE_PATH.read_text().split()[0])
    rng = random.SystemRandom()
    held: list[socket.socket] = []
    try:
        for _ in range(PORT_ATTEMPTS_MAX):
            probe = socket.socket()
            try:
                probe.bind((HOST, rng.randrange(RESTARTABLE_PORT_MIN, ephemeral_low)))
            except OSError:  # in use
                probe.close()
                continue
            held.append(probe)
            if len(held) == count:
                return [probe.getsockname()[1] for probe in held]
        raise RuntimeError(f"no {count} free ports in [{RESTARTABLE_PORT_MIN}, {ephemeral_low})")
    finally:
        for probe in held:
            probe.close()
