"""Where the local infrastructure lives: directories under `.local/` and the loopback ports it listens on.

Everything the runner writes (generated configs, data, logs, pid files) sits under `.local/`, which git
ignores, so `infra reset` can wipe the data without touching the repository.
"""

from __future__ import annotations

import os
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
