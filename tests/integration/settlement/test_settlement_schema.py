"""Migrations against the real CQL server: applied once, recorded, safe twice, edits refused, keys as declared."""

from __future__ import annotations

import uuid

import pytest
from cassandra.cluster import Session

from settlement.cql import PARTITION_KEYS, ROW_KEYS, Migration, drop_keyspace, load_migrations, migrate
from settlement.errors import SchemaMismatch

pytestmark = pytest.mark.integration


def test_migrate_twice_applies_once_and_records_version(admin_session: Session, keyspace: str) -> None:
    """A second run applies nothing; schema_version holds every migration with its checksum."""
    assert migrate(admin_session, keyspace, out=lambda line: None) == []
    recorded = {row.version: row.checksum for row in admin_session.execute(f"SELECT * FROM {keyspace}.schema_version")}
    assert recorded == {migration.version: migration.checksum for migration in load_migrations()}


def test_migrate_refuses_an_edited_migration(admin_session: Session, keyspace: str) -> None:
    """A migration changed after it was applied is refused, naming the version."""
    [first, *_] = load_migrations()
    edited = Migration(first.version, first.name, first.text + "\n-- edited\n")
    with pytest.raises(SchemaMismatch, match="migration 1"):
        migrate(admin_session, keyspace, migrations=[edited], out=lambda line: None)


def test_migrate_adds_a_new_migration_after_the_recorded_ones(admin_session: Session, keyspace: str) -> None:
    """A later version is applied on top of the recorded ones, and recorded too."""
    extra = Migration(9999, "probe", "CREATE TABLE IF NOT EXISTS probe (a int PRIMARY KEY);")
    assert migrate(admin_session, keyspace, migrations=[*load_migrations(), extra], out=lambda line: None) == [9999]
    assert admin_session.execute(f"SELECT version FROM {keyspace}.schema_version WHERE version = 9999").one()


def test_partition_keys_match_the_live_schema(admin_session: Session, keyspace: str) -> None:
    """The writer's partition-key table agrees with what the server created (order of components included)."""
    live: dict[str, list[tuple[int, str]]] = {}
    for row in admin_session.execute(
        "SELECT table_name, column_name, kind, position FROM system_schema.columns WHERE keyspace_name = %s",
        (keyspace,),
    ):
        if row.kind == "partition_key":
            live.setdefault(row.table_name, []).append((row.position, row.column_name))
    for table, columns in PARTITION_KEYS.items():
        assert tuple(name for _, name in sorted(live[table])) == columns, table


def test_row_keys_are_whole_primary_keys_of_the_live_schema(admin_session: Session, keyspace: str) -> None:
    """The keys by which a turn's overwritten rows are dropped (settlement/shadow.py) are whole primary keys: a
    missing clustering column would drop a row that is not overwritten."""
    live: dict[str, list[tuple[int, int, str]]] = {}
    for row in admin_session.execute(
        "SELECT table_name, column_name, kind, position FROM system_schema.columns WHERE keyspace_name = %s",
        (keyspace,),
    ):
        if row.kind in ("partition_key", "clustering"):
            live.setdefault(row.table_name, []).append((row.kind != "partition_key", row.position, row.column_name))
    for table, columns in ROW_KEYS.items():
        assert tuple(name for *_, name in sorted(live[table])) == columns, table


def test_migrate_gives_a_shared_session_its_own_keyspace_back(cql_session: Session) -> None:
    """Migrating another keyspace through the shared session (keyspace `exchange`) must not leave that session on
    the migrated keyspace: other tests use it with unqualified tables, and the keyspace may be dropped later."""
    assert cql_session.keyspace == "exchange"
    name = f"st_{uuid.uuid4().hex[:16]}"
    try:
        assert migrate(cql_session, name, out=lambda line: None) != []
        assert cql_session.keyspace == "exchange"
    finally:
        drop_keyspace(cql_session, name)
