"""A private whole exchange for end-to-end tests: started by the stack runner (every service + the REST proxy) with
its own STACK_HOME, free ports, private topics (STACK_TOPIC_SUFFIX), a private keyspace and private Aeron streams;
the shared Kafka, CQL and Aeron driver are declared external, so the runner never starts or stops them.

`Exchange` gives the tests every place a flow must show up in: the gateway (gRPC stubs, REST base URL), the Kafka
topics (`records`), UBSCore's state (`dump`), the database (`queries`, settlement/queries.py) and users with keys.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from cassandra.cluster import Session
from cassandra.query import SimpleStatement

from common.kafka import delete_topic
from common.markets import MarketCatalog, load_catalog
from common.money import parse_units
from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    balance_pb2,
    order_pb2,
    trading_service_pb2_grpc,
)
from gateway.api_keys import ApiKeyStore, parse_roles
from settlement.cql import connect, drop_keyspace, migrate
from settlement.queries import SettlementQueries
from tools.infra.kafka import TOPICS
from tools.invariants import Sources, dump_ubscore, read_topic
from tools.services import lifecycle
from tools.services.catalog import REST_BINARY
from tools.stack_config import StackConfig, from_env

AERON_PRIVATE_STREAM_MIN = 100_000  # above every stream id the stack and the Aeron tests use
AERON_PRIVATE_STREAM_MAX = 1_000_000
WAIT_MS_DEFAULT = 90_000  # one step can take 10+ s on the loaded 2-core CI machine
COPIED_TABLES = ("balance_ledger", "user_balances", "transfers", "settled_trades", "trades_by_user", "engine_outputs",
                 "chain_state")

T = TypeVar("T")


def eventually(read: Callable[[], T], accept: Callable[[T], bool], *, timeout_ms: int = WAIT_MS_DEFAULT,
               poll_ms: int = 100) -> T:
    """Call `read()` until `accept(value)` holds and return that value; fail with the last value after the deadline."""
    deadline_ns = time.monotonic_ns() + timeout_ms * 1_000_000
    while True:
        value = read()
        if accept(value):
            return value
        if time.monotonic_ns() > deadline_ns:
            raise AssertionError(f"not accepted within {timeout_ms} ms; last value: {value!r}")
        time.sleep(poll_ms / 1_000)


@dataclass(frozen=True, slots=True)
class User:
    """An account with its API key and its private stream reader."""

    user_id: int
    key: str

    @property
    def auth(self) -> tuple[tuple[str, str]]:
        """gRPC metadata carrying the key."""
        return (("authorization", f"Bearer {self.key}"),)

    @property
    def rest_headers(self) -> dict[str, str]:
        """HTTP headers carrying the key."""
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Exchange:
    """A running private stack and handles on every place where its state shows."""

    config: StackConfig
    session: Session
    channel: grpc.Channel
    catalog: MarketCatalog = field(default_factory=load_catalog)
    _keys: ApiKeyStore | None = None
    _users: int = 0

    @property
    def rest(self) -> str:
        """Base URL of the REST proxy."""
        return f"http://127.0.0.1:{self.config.ports.rest}"

    @property
    def trading(self) -> trading_service_pb2_grpc.TradingServiceStub:
        """TradingService stub on the gateway."""
        return trading_service_pb2_grpc.TradingServiceStub(self.channel)

    @property
    def account(self) -> account_service_pb2_grpc.AccountServiceStub:
        """AccountService stub on the gateway."""
        return account_service_pb2_grpc.AccountServiceStub(self.channel)

    @property
    def queries(self) -> SettlementQueries:
        """settlement/queries.py on the private keyspace."""
        return SettlementQueries(self.session, keyspace=self.config.cql_keyspace)

    def sources(self) -> Sources:
        """What tools.invariants needs to check this stack."""
        return Sources(session=self.session, kafka_bootstrap=self.config.kafka_bootstrap,
                       orders_topic=self.config.topic("orders"), catalog=self.catalog,
                       ubscore_state_dir=self.config.state_dir("ubscore"))

    @contextmanager
    def keyspace_copy(self) -> Iterator[tuple[str, Session]]:
        """A copy of the tables the invariants checker reads, in another keyspace (dropped afterwards): tests may
        corrupt it freely. (Tampering with the live keyspace would stick: Settlement writes USING TIMESTAMP seq or
        version, far below a plain write's wall-clock timestamp, so its later writes would lose to the restore.)"""
        name = f"{self.config.cql_keyspace}_copy"
        copy = connect(list(self.config.cql_contact_points), self.config.cql_port)
        try:
            migrate(copy, name, out=lambda line: None)
            copy.set_keyspace(name)
            for table in COPIED_TABLES:
                insert = copy.prepare(f"INSERT INTO {table} JSON ?")
                scan = SimpleStatement(f"SELECT JSON * FROM {self.config.cql_keyspace}.{table}", fetch_size=1_000)
                for row in self.session.execute(scan):
                    copy.execute(insert, [row[0]])
            yield name, copy
        finally:
            drop_keyspace(copy, name)
            copy.cluster.shutdown()

    def new_user(self, *roles: str, user_id: int | None = None) -> User:
        """A fresh account (ids from 2000 up, one per call) with a key the gateway accepts (waited on)."""
        if self._keys is None:
            self._keys = ApiKeyStore(self.session, self.config.cql_keyspace)
        if user_id is None:
            self._users += 1
            user_id = 2000 + self._users
        full_key, _ = self._keys.create(user_id=user_id, roles=parse_roles(roles or ("trade", "read")), label="e2e",
                                        now_ns=time.time_ns())
        user = User(user_id, full_key)
        eventually(lambda: self._key_accepted(user), bool)  # the gateway reloads keys every 2 s
        return user

    def _key_accepted(self, user: User) -> bool:
        try:
            self.account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=user.auth)
        except grpc.RpcError as error:  # any answer past authentication (no read role, not served yet) will do
            return error.code() != grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        return True

    def dump(self, scratch: Path) -> dict[tuple[int, str], tuple[int, int]]:
        """UBSCore's balances now (`python -m ubscore dump --json`): (user, asset name) -> (available, frozen)."""
        document = json.loads(dump_ubscore(self.config.state_dir("ubscore"), scratch / "dump.json").read_text())
        names = {asset.asset_id: name for name, asset in self.catalog.assets.items()}
        return {(entry["user_id"], names[entry["asset_id"]]): (entry["available_units"], entry["frozen_units"])
                for entry in document["accounts"]}

    def balance_events(self, user_id: int) -> list[balance_pb2.BalanceEvent]:
        """Every record of the private balance.events topic about `user_id`, in event id order."""
        events = [balance_pb2.BalanceEvent.FromString(value)
                  for records in read_topic(self.config.kafka_bootstrap, self.config.topic("balance.events")).values()
                  for _, value in records]
        return sorted((event for event in events if event.user_id == user_id), key=lambda event: event.event_id)

    def order_commands(self, user_id: int) -> list[order_pb2.OrderCommand]:
        """Every record of the private orders topic placed or canceled by `user_id`."""
        commands = [order_pb2.OrderCommand.FromString(value)
                    for records in read_topic(self.config.kafka_bootstrap, self.config.topic("orders")).values()
                    for _, value in records]
        return [command for command in commands
                if getattr(command, command.WhichOneof("command") or "place").user_id == user_id]


def units(catalog: MarketCatalog, asset: str, amount: str) -> int:
    """`amount` (a decimal string) of `asset` in its smallest units."""
    return parse_units(amount, catalog.assets[asset].scale, allow_zero=True)


@contextmanager
def private_exchange(kafka_bootstrap: str, home: Path) -> Iterator[Exchange]:
    """Start the whole stack privately, yield it, then stop every service and drop its topics and keyspace."""
    if not REST_BINARY.exists():
        raise AssertionError(f"{REST_BINARY} is missing: run `make setup`")
    token = uuid.uuid4().hex[:12]
    streams = random.Random(token).sample(range(AERON_PRIVATE_STREAM_MIN, AERON_PRIVATE_STREAM_MAX), 2)
    env = {"STACK_HOME": str(home), "STACK_FREE_PORTS": "1", "STACK_TOPIC_SUFFIX": f".e2e.{token}",
           "STACK_KAFKA_BOOTSTRAP": kafka_bootstrap, "STACK_CQL_CONTACT_POINTS": "127.0.0.1",
           "STACK_CQL_KEYSPACE": f"e2e_{token}", "STACK_AERON_EXTERNAL": "1",
           "STACK_AERON_STREAM_ID": str(streams[0]), "STACK_AERON_RESPONSE_STREAM_ID": str(streams[1])}
    config = from_env(env)
    session = connect(list(config.cql_contact_points), config.cql_port)
    channel = None
    try:
        lifecycle.up(config, out=lambda line: None)
        session.set_keyspace(config.cql_keyspace)  # created by `up`; the invariants checker scans unqualified tables
        channel = grpc.insecure_channel(f"127.0.0.1:{config.ports.gateway_grpc}")
        yield Exchange(config=config, session=session, channel=channel)
    finally:
        if channel is not None:
            channel.close()
        lifecycle.down(config, out=lambda line: None)
        for name in TOPICS:
            try:
                delete_topic(kafka_bootstrap, config.topic(name))
            except Exception as error:  # `up` failed before creating it
                print(f"topic {config.topic(name)} not deleted: {error}")
        drop_keyspace(session, config.cql_keyspace)
        session.cluster.shutdown()
