"""Session fixtures for tests against the real local infrastructure started by `bin/stack infra up`.

Each fixture checks its own component once per session and fails fast, pointing at the command that
starts it, instead of letting a test hang on a connection that will never succeed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.infra import aeron, cassandra, kafka, runner
from tools.infra.layout import CQL_KEYSPACE, KAFKA_BOOTSTRAP, aeron_dir


def _require(component: str) -> None:
    """Fail the requesting test unless `component` runs and passes its readiness probe."""
    [row] = runner.status([component])
    if not row.ready:
        state = "not running" if row.pid is None else f"running (pid {row.pid}) but not ready"
        pytest.fail(
            f"{component} is {state}: start the infrastructure with `bin/stack infra up` "
            f"(check with `bin/stack infra status`, log {row.log_file})",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of the local Kafka broker (`127.0.0.1:9092`), checked to be ready."""
    _require(kafka.NAME)
    return KAFKA_BOOTSTRAP


@pytest.fixture(scope="session")
def cql_session() -> Iterator[object]:
    """A CQL session (scylla-driver) on keyspace `exchange` of the local Cassandra node."""
    _require(cassandra.NAME)
    session = cassandra.connect_session(CQL_KEYSPACE)
    yield session
    session.cluster.shutdown()


@pytest.fixture(scope="session")
def aeron_directory() -> Path:
    """The Aeron directory of the running media driver (holds `cnc.dat`)."""
    _require(aeron.NAME)
    return aeron_dir()
