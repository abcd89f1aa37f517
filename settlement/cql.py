"""Settlement's CQL side: connecting (token-aware), versioned migrations, and the prepared write statements.

Migrations are the files `settlement/migrations/NNNN_name.cql`, applied in version order into a configurable
keyspace and recorded in its `schema_version` table (version, name, SHA-256 of the file, when). Every statement in
them is idempotent (`IF NOT EXISTS`), so `migrate` is safe to run twice, and a run cut short is completed by the
next one. A recorded migration whose file changed since is refused (SchemaMismatch): migrations are append-only.

    python -m settlement migrate [--keyspace exchange]   # the tool command; `make up` / bin/stack run it before
                                                         # the first Settlement instance (tools/services/catalog.py)
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import PreparedStatement

from common.cql import reconnection_policy
from common.errors import ConfigInvalid
from settlement.errors import SchemaMismatch

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_FILE_RE = re.compile(r"(\d{4})_([a-z0-9_]+)\.cql")
KEYSPACE_RE = re.compile(r"[a-z][a-z0-9_]{0,47}")
REPLICATION_DEFAULT = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
# A schema change waits for every table it touches to be created or flushed and for schema agreement: seconds on
# a busy node (a keyspace drop timed out at 10 s under load), so schema statements get a timeout of their own.
SCHEMA_TIMEOUT_S = 120.0
SCHEMA_AGREEMENT_WAIT_S = 30

# The partition key of every table Settlement writes (checked against the live schema by the tests).
PARTITION_KEYS: dict[str, tuple[str, ...]] = {
    "balance_ledger": ("event_block",),
    "ledger_by_user": ("user_id", "bucket"),
    "user_balances": ("user_id",),
    "transfers": ("user_id", "request_id"),
    "settled_trades": ("trade_block",),
    "market_trades": ("symbol", "bucket"),
    "trades_by_user": ("user_id", "bucket"),
    "orders": ("order_block",),
    "order_history": ("user_id", "client_order_id"),
    "orders_by_user_time": ("user_id", "bucket"),
    "open_orders": ("user_id",),
    "time_buckets": ("scope", "owner"),
    "engine_outputs": ("shard_id", "seq_block"),
    "chain_state": ("source",),
    "malformed_inputs": ("source", "position_block"),
}
# The whole primary key (partition + clustering) of the tables rows are deleted from.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {"open_orders": ("user_id", "symbol", "order_id")}
# The whole primary key of the tables whose rows are written again by later inputs (a balance per event, an order
# per fill): a turn's earlier writes of such a row that later ones cover are not sent (settlement/shadow.py).
ROW_KEYS: dict[str, tuple[str, ...]] = {
    **PRIMARY_KEYS,
    "user_balances": ("user_id", "asset_id"),
    "orders": ("order_block", "order_id"),
    "orders_by_user_time": ("user_id", "bucket", "created_ns", "order_id", "client_order_id"),
}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def statements(self) -> list[str]:
        """The CQL statements of the file (`--` comments dropped, split on `;`)."""
        lines = [line.split("--", 1)[0] for line in self.text.splitlines()]
        return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


def check_keyspace(keyspace: str) -> str:
    """`keyspace` if it is a plain CQL name we accept, else ConfigInvalid (it is spliced into DDL)."""
    if not KEYSPACE_RE.fullmatch(keyspace):
        raise ConfigInvalid(f"keyspace {keyspace!r}: need [a-z][a-z0-9_]{{0,47}}")
    return keyspace


def connect(hosts: Sequence[str], port: int, keyspace: str | None = None, *, compression: bool = False) -> Session:
    """A session with token-aware routing, explicit timeouts and fast reconnection; shut down its cluster after.

    Frame compression is off unless asked for: the driver's LZ4 of every frame was 14 % of Settlement's write CPU
    (py-spy, tools/bench/settlement_service), and client CPU is what bounds the write rate on this kind of machine
    (CEILINGS.md); a CQL cluster across a slow network may want it (SETTLEMENT_CQL_COMPRESSION=1).
    """
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        request_timeout=REQUEST_TIMEOUT_S,
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
    )
    cluster = Cluster(
        list(hosts), port=port, connect_timeout=CONNECT_TIMEOUT_S,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        reconnection_policy=reconnection_policy(),
        max_schema_agreement_wait=SCHEMA_AGREEMENT_WAIT_S, compression=compression,
    )
    try:
        return cluster.connect(check_keyspace(keyspace) if keyspace else None)
    except Exception:
        cluster.shutdown()
        raise


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file in version order; ConfigInvalid on a misnamed file or a repeated version."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.cql")):
        match = MIGRATION_FILE_RE.fullmatch(path.name)
        if match is None:
            raise ConfigInvalid(f"{path}: migration files are named NNNN_name.cql")
        migrations.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise ConfigInvalid(f"{directory}: two migrations share a version: {versions}")
    return migrations


def migrate(
    session: Session, keyspace: str, *, replication: str = REPLICATION_DEFAULT,
    migrations: Sequence[Migration] | None = None, out: Callable[[str], None] = log.info,
) -> list[int]:
    """Create `keyspace` if needed and apply the migrations it has not recorded; return the versions applied."""
    check_keyspace(keyspace)
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}",
                    timeout=SCHEMA_TIMEOUT_S)  # fmt: skip
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_version "
        "(version int PRIMARY KEY, name text, checksum text, applied_ns bigint)",
        timeout=SCHEMA_TIMEOUT_S,
    )
    recorded = {row.version: row for row in session.execute(f"SELECT * FROM {keyspace}.schema_version")}
    # Migration files name tables unqualified, so they run on a session of their own bound to `keyspace`: the
    # caller's session (often shared, bound to another keyspace) is never switched.
    migration_session = session.cluster.connect(keyspace)
    try:
        return _apply(migration_session, keyspace, recorded,
                      migrations if migrations is not None else load_migrations(), out)
    finally:
        migration_session.shutdown()


def _apply(
    session: Session, keyspace: str, recorded: dict[int, Any], migrations: Sequence[Migration],
    out: Callable[[str], None],
) -> list[int]:
    """Apply, in order, the migrations `recorded` lacks (checking the checksums of those it has)."""
    applied: list[int] = []
    for migration in migrations:
        known = recorded.get(migration.version)
        if known is not None:
            if known.checksum != migration.checksum:
                raise SchemaMismatch(
                    f"{keyspace}: migration {migration.version} ({migration.name}) was applied with checksum "
                    f"{known.checksum[:12]}.. but the file now has {migration.checksum[:12]}..; add a new migration"
                )
            continue
        for statement in migration.statements():
            session.execute(statement, timeout=SCHEMA_TIMEOUT_S)
        session.execute(
            f"INSERT INTO {keyspace}.schema_version (version, name, checksum, applied_ns) VALUES (%s, %s, %s, %s)",
            (migration.version, migration.name, migration.checksum, time.time_ns()),
        )
        out(f"{keyspace}: applied migration {migration.version:04d}_{migration.name}")
        applied.append(migration.version)
    return applied


def drop_keyspace(session: Session, keyspace: str) -> None:
    """Drop `keyspace` if it exists (private keyspaces of tests, benchmarks and private stacks)."""
    session.execute(f"DROP KEYSPACE IF EXISTS {check_keyspace(keyspace)}", timeout=SCHEMA_TIMEOUT_S)


class Statements:
    """Prepared write statements, one per (table, columns written) and per delete, prepared on first use."""

    def __init__(self, session: Session, keyspace: str) -> None:
        self.session = session
        self.keyspace = check_keyspace(keyspace)
        self.prepared: dict[tuple[str, tuple[str, ...], bool], PreparedStatement] = {}

    def for_row(self, table: str, columns: tuple[str, ...], *, delete: bool) -> PreparedStatement:
        """The statement writing `columns` of `table` (values bound in that order, then the timestamp)."""
        assert not delete or columns == PRIMARY_KEYS[table], (table, columns)
        key = (table, columns, delete)
        statement = self.prepared.get(key)
        if statement is None:
            statement = self.session.prepare(_cql(f"{self.keyspace}.{table}", columns, delete=delete))
            self.prepared[key] = statement
        return statement


def _cql(table: str, columns: tuple[str, ...], *, delete: bool) -> str:
    if delete:
        where = " AND ".join(f"{name} = ?" for name in columns)
        return f"DELETE FROM {table} USING TIMESTAMP ? WHERE {where}"
    names = ", ".join(columns)
    markers = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({markers}) USING TIMESTAMP ?"


def bind_values(columns: tuple[str, ...], values: dict[str, Any], timestamp: int, *, delete: bool) -> list[Any]:
    """Bind order of `_cql`: a delete takes the timestamp first, an insert last."""
    ordered = [values[name] for name in columns]
    return [timestamp, *ordered] if delete else [*ordered, timestamp]
