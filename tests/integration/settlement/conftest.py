"""Fixtures: a private CQL keyspace per test (migrated, dropped afterwards), sessions on it, table dumps.

Keyspaces are named `st_<random>` so tests of several engineers never share tables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Session
from confluent_kafka import Producer

from common.engine_chain import GENESIS_HASH, output_hash
from common.kafka import create_topic, delete_topic, flush_or_raise, make_producer
from exchange.v1 import balance_pb2, engine_pb2
from settlement.cql import PARTITION_KEYS, connect, drop_keyspace, migrate
from settlement.keys import id_block
from tests.integration.matcher.conftest import (  # the matcher's fixtures, shared: a real matcher subprocess
    REPO_ROOT,
    MatcherProcess,
    eventually,
    free_port,
    matcher,  # noqa: F401
    matcher_factory,  # noqa: F401
    orders_producer,  # noqa: F401
    orders_topic,  # noqa: F401
    zmq_context,  # noqa: F401
)
from tests.integration.ubscore.conftest import (  # UBSCore's fixtures: a real UBSCore beside a matcher
    gateway_factory,  # noqa: F401
    stack,  # noqa: F401
    topics,  # noqa: F401
)
from tools.infra.layout import CQL_PORT, HOST


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
    drop_keyspace(admin_session, name)


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
        drop_keyspace(admin_session, name)


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
        columns = [(row.column_name, row.kind) for row in session.execute(
            "SELECT column_name, kind FROM system_schema.columns WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, table))]
        names = [name for name, _ in columns]
        names += [f"WRITETIME({name})" for name, kind in columns if kind in ("regular", "static")]
        cql = f"SELECT {', '.join(names)} FROM {keyspace}.{table}"
        dump[table] = sorted(repr(tuple(row)) for row in session.execute(cql))
    return dump


@pytest.fixture
def balance_topic(kafka_bootstrap: str) -> Iterator[str]:
    """A private 4-partition balance.events topic for this test, deleted afterwards."""
    topic = f"balance.events.test.{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap, topic, partitions=4)
    yield topic
    delete_topic(kafka_bootstrap, topic)


@dataclass(slots=True)
class EventsProducer:
    """Produces BalanceEvents keyed by user, as UBSCore does, and raw garbage when asked."""

    producer: Producer
    topic: str
    sent: int = 0

    def send(self, events: list[tuple[int, balance_pb2.BalanceEvent]]) -> None:
        for user_id, event in events:
            self.send_raw(str(user_id), event.SerializeToString())
        flush_or_raise(self.producer, timeout_s=30.0)

    def send_raw(self, key: str, value: bytes) -> None:
        self.producer.produce(self.topic, key=key.encode(), value=value)
        self.producer.poll(0)
        self.sent += 1


@pytest.fixture
def events_producer(balance_topic: str, kafka_bootstrap: str) -> Iterator[EventsProducer]:
    producer = make_producer(kafka_bootstrap, client_id="settlement-test")
    yield EventsProducer(producer, balance_topic)
    producer.flush(30.0)


@dataclass(slots=True)
class SettlementProcess:
    """`python -m settlement` as a subprocess; start/kill/stop it as often as a test needs."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start and wait for the 'ready' log line of this start."""
        assert self.process is None or self.process.poll() is not None, "already running"
        readies_before = self.log_text().count("settlement ready")
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen([sys.executable, "-m", "settlement"], cwd=REPO_ROOT, env=self.env,
                                            stdout=log_file, stderr=log_file)

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"settlement exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
            return self.log_text().count("settlement ready") > readies_before

        eventually(ready, timeout_ms=60_000)

    def signal(self, signum: int) -> int:
        """Send `signum` and wait for the exit; return the exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=60)

    def wait_exit(self, timeout_s: float) -> int:
        """Wait for the process to end by itself; return its exit code."""
        assert self.process is not None
        return self.process.wait(timeout=timeout_s)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metric(self, name: str, labels: str = "") -> float:
        """Sum of the samples of one Prometheus metric (optionally only those whose labels contain `labels`)."""
        url = f"http://127.0.0.1:{self.env['SETTLEMENT_METRICS_PORT']}/metrics"
        total = 0.0
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if (line.startswith(name + " ") or line.startswith(name + "{")) and labels in line:
                    total += float(line.rsplit(" ", 1)[1])
        return total


@pytest.fixture
def settlement_factory(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Callable[..., SettlementProcess]]:
    """Build settlement processes (not started); every one still running at the end is killed."""
    built: list[SettlementProcess] = []

    def build(*, keyspace: str, shards: str, balance_topic: str = "", group_id: str = "", cql_port: int = CQL_PORT,
              name: str = "settlement", extra: dict[str, str] | None = None) -> SettlementProcess:
        env = dict(os.environ)
        env.update(
            SETTLEMENT_KEYSPACE=keyspace, SETTLEMENT_SHARDS=shards, SETTLEMENT_BALANCE_TOPIC=balance_topic,
            SETTLEMENT_GROUP_ID=group_id or f"settlement-test-{uuid.uuid4().hex[:8]}",
            SETTLEMENT_KAFKA_BOOTSTRAP=kafka_bootstrap, SETTLEMENT_METRICS_PORT=str(free_port()),
            SETTLEMENT_CQL_PORT=str(cql_port), SETTLEMENT_BATCH_INPUTS_MAX="500",
        )
        env.update(extra or {})
        process = SettlementProcess(env=env, log_path=tmp_path / f"{name}-{len(built)}.log")
        built.append(process)
        return process

    yield build
    for process in built:
        if process.process is not None and process.process.poll() is None:
            process.signal(signal.SIGKILL)


def shards_setting(*matchers: MatcherProcess) -> str:
    """SETTLEMENT_SHARDS naming these matcher processes."""
    return ",".join(f"{m.env['MATCHER_SHARD_ID']}={m.pub_endpoint}|{m.replay_endpoint}" for m in matchers)


def chain_seq(session: Session, shard_id: int) -> int:
    row = session.execute("SELECT last_seq FROM chain_state WHERE source = %s", (f"engine.{shard_id}",)).one()
    return row.last_seq if row is not None and row.last_seq is not None else 0


def count_rows(session: Session, table: str) -> int:
    return session.execute(f"SELECT COUNT(*) FROM {table}").one()[0]


def events_checkpointed(session: Session, topic: str) -> int:
    """Events of `topic` whose rows are all acknowledged: the sum of the offsets Settlement records in chain_state
    after a turn's rows (ledger rows alone can be in while the same turn's balance rows are still being retried)."""
    prefix = f"kafka:{topic}:"
    return sum(row.next_offset or 0 for row in session.execute("SELECT source, next_offset FROM chain_state")
               if row.source.startswith(prefix))


def verify_stored_chain(session: Session, shard_id: int, last_seq: int) -> None:
    """engine_outputs holds seq 1..last_seq of the shard, each linking to the one before (hashes recomputed)."""
    previous = GENESIS_HASH
    for seq in range(1, last_seq + 1):
        row = session.execute("SELECT output, hash, prev_hash FROM engine_outputs WHERE shard_id = %s AND "
                              "seq_block = %s AND seq = %s", (shard_id, id_block(seq), seq)).one()
        assert row is not None, f"seq {seq} missing from engine_outputs"
        output = engine_pb2.EngineOutput.FromString(row.output)
        assert row.prev_hash == previous, f"seq {seq} does not link"
        assert output_hash(output) == row.hash == output.hash, f"seq {seq} hash differs"
        previous = row.hash


@dataclass(slots=True)
class ProxyProcess:
    """tcp_proxy.py as a subprocess on a fixed port: start, kill, stop and continue it."""

    listen_port: int
    target: str
    process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start and wait for its 'proxy ready' line."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.settlement.tcp_proxy", "--listen-port", str(self.listen_port),
             "--target", self.target], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "proxy ready"

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing moves (requests time out, as on an overloaded server)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause()."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: every connection is cut and new ones are refused."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def cql_proxy(cql_session: object) -> Iterator[ProxyProcess]:
    """A TCP proxy in front of the shared CQL server (started), killed at the end of the test."""
    proxy = ProxyProcess(free_port(), f"{HOST}:{CQL_PORT}")
    proxy.start()
    yield proxy
    if proxy.process is not None and proxy.process.poll() is None:
        proxy.resume()
        proxy.kill()
