"""Fixtures: a private CQL keyspace migrated like production (Settlement's tables and api_keys), API keys in it,
and real gateways on free ports.

A gateway here is the real thing built by `gateway.app.build_gateway` (grpcio server, CQL session, Kafka admin
client, ZeroMQ feed), in this process so a test can start two of them and read their metrics registry; the
`python -m gateway` process itself is exercised by test_gateway_process.py. The matcher fixtures (a real matcher
subprocess on a private topic) come from tests/integration/matcher/conftest.py.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from gateway.api_keys import ApiKeyStore, parse_roles
from gateway.app import Gateway, build_gateway
from gateway.config import GatewayConfig
from settlement.cql import drop_keyspace, migrate

from ...contracts import conftest as proxy_fixtures
from ..matcher import conftest as matcher_fixtures
from ..ubscore import conftest as ubscore_fixtures
from .scripted_ubscore import ScriptedUbscore

# The matcher's fixtures, re-exported so the market data tests can use them by name.
orders_topic = matcher_fixtures.orders_topic
matcher_factory = matcher_fixtures.matcher_factory
matcher = matcher_fixtures.matcher
orders_producer = matcher_fixtures.orders_producer
zmq_context = matcher_fixtures.zmq_context
eventually = matcher_fixtures.eventually
free_port = matcher_fixtures.free_port
# UBSCore and a matcher wired together on private topics (the end-to-end test), and the REST proxy binary.
topics = ubscore_fixtures.topics
stack = ubscore_fixtures.stack
proxy_binary = proxy_fixtures.proxy_binary

KEY_REFRESH_MS = 200


@pytest.fixture(scope="module")
def keyspace(cql_session: object) -> Iterator[str]:
    """A keyspace of this test module only, with every migration applied (the tables the queries read and
    api_keys); dropped afterwards."""
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    migrate(cql_session, name, out=lambda line: None)  # type: ignore[arg-type]
    yield name
    drop_keyspace(cql_session, name)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def key_store(cql_session: object, keyspace: str) -> ApiKeyStore:
    """The api_keys table of the private keyspace."""
    return ApiKeyStore(cql_session, keyspace)


@pytest.fixture(scope="module")
def make_key(key_store: ApiKeyStore) -> Callable[..., tuple[str, str]]:
    """Create a key: make_key(user_id, "read", "trade") -> (full key, key id)."""

    def make(user_id: int, *roles: str) -> tuple[str, str]:
        full_key, row = key_store.create(user_id=user_id, roles=parse_roles(roles), label="test", now_ns=time.time_ns())
        return full_key, row.key_id

    return make


@pytest.fixture
def gateway_factory(keyspace: str, kafka_bootstrap: str) -> Iterator[Callable[..., Gateway]]:
    """Build and start gateways on free ports (no market feed unless given endpoints); all stopped afterwards."""
    started: list[Gateway] = []

    def start(**overrides: object) -> Gateway:
        settings: dict[str, object] = {
            "grpc_address": "127.0.0.1:0", "metrics_port": 0, "cql_keyspace": keyspace,
            "kafka_bootstrap": kafka_bootstrap, "key_refresh_ms": KEY_REFRESH_MS, "matcher_pub_endpoint": "",
            "health_interval_ms": 200, "grpc_workers": 8, "ubscore_stream_id": 0,
            "balance_events_topic": "",
        }
        settings.update(overrides)
        gateway = build_gateway(GatewayConfig(**settings))  # type: ignore[arg-type]
        gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def channel_factory() -> Iterator[Callable[[int], grpc.Channel]]:
    """Open insecure channels to local ports; all closed afterwards."""
    channels: list[grpc.Channel] = []

    def open_channel(port: int) -> grpc.Channel:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=10)
        channels.append(channel)
        return channel

    yield open_channel
    for channel in channels:
        channel.close()


@pytest.fixture
def streams() -> tuple[int, int]:
    """(request stream id, response stream id), private to this test."""
    base = random.randrange(30_000, 60_000, 2)
    return base, base + 1


@pytest.fixture
def responder(aeron_directory: Path, streams: tuple[int, int]) -> Iterator[ScriptedUbscore]:
    scripted = ScriptedUbscore(str(aeron_directory), streams[0])
    scripted.start()
    assert scripted.ready.wait(10)
    yield scripted
    scripted.stopping.set()
    scripted.join(10)
    assert not scripted.errors, scripted.errors
