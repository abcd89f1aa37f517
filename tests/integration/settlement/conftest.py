"""Fixtures: a private CQL keyspace per test (migrated, dropped afterwards), sessions on it, table dumps.

Keyspaces are named `st_<random>` so tests of several engineers never share tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cassandra.cluster import Session

from settlement.cql import PARTITION_KEYS, connect, migrate
from tools.infra.layout import CQL_PORT, HOST

pytest_plugins = ["tests.integration.matcher.conftest"]


def new_keyspace_name() -> str:
    return f"st_{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="module")
def admin_session(cql_session: object) -> Iterator[Session]:
    """A session with no keyspace (the shared cql_session fixture checks Cassandra is up first)."""
    session = connect([HOST], CQL_PORT)
    yield session
    session.cluster.shutdown()


@pytest.fixture(scope="module")
def module_keyspace(admin_session: Session) -> Iterator[str]:
    """One migrated private keyspace shared by the tests of a module that only read it."""
    name = new_keyspace_name()
    migrate(admin_session, name, out=lambda line: None)
    yield name
    admin_session.execute(f"DROP KEYSPACE IF EXISTS {name}")


@pytest.fixture
def keyspace_factory(admin_session: Session) -> Iterator[Callable[[], str]]:
    """Make migrated private keyspaces; all are dropped at the end of the test."""
    made: list[str] = []

    def make() -> str:
        name = new_keyspace_name()
        made.append(name)
        migrate(admin_session, name, out=lambda line: None)
        return name

    yield make
    for name in made:
        admin_session.execute(f"DROP KEYSPACE IF EXISTS {name}")


@pytest.fixture
def keyspace(keyspace_factory: Callable[[], str]) -> str:
    """One migrated private keyspace."""
    return keyspace_factory()


@pytest.fixture
def session(keyspace: str) -> Iterator[Session]:
    """A session on the private keyspace."""
    session = connect([HOST], CQL_PORT, keyspace)
    yield session
    session.cluster.shutdown()


def dump_tables(session: Session, keyspace: str, *, tables: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Every row of every table (or of `tables`) with each cell's write time, sorted: equal dumps = equal data."""
    dump: dict[str, Any] = {}
    for table in tables or tuple(PARTITION_KEYS):
        columns = [row.column_name for row in session.execute(
            "SELECT column_name, kind FROM system_schema.columns WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, table)) if row.kind == "regular"]
        writetimes = ", ".join(f"WRITETIME({name})" for name in columns)
        cql = f"SELECT *{', ' + writetimes if writetimes else ''} FROM {keyspace}.{table}"
        dump[table] = sorted(repr(sorted(row._asdict().items())) for row in session.execute(cql))
    return dump
