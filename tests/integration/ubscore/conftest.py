"""Fixtures: private Kafka topics, UBSCore and a matcher shard as real subprocesses, an Aeron requester on the
shared media driver (private stream ids), and readers of the output topics.

Nothing here touches the shared topics, the default ports, the default state dirs or another test's stream ids.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from common.aeron.client import AeronClient, ClientConfig
from common.aeron.request_response import RequestClient
from common.kafka import assign_from, create_topic, delete_topic, flush_or_raise, make_consumer, make_producer
from exchange.v1 import balance_pb2, order_pb2, ubscore_pb2

from ..matcher import conftest as matcher_fixtures

REPO_ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 4
START_TIMEOUT_MS = 60_000
FLUSH_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_MS = 10_000


# One eventually and one free-port helper for the integration fixtures.
eventually = matcher_fixtures.eventually
free_port = matcher_fixtures.free_port


@dataclass(frozen=True, slots=True)
class Topics:
    operations: str
    events: str
    orders: str


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[Topics]:
    """Fresh 4-partition topics for this test only, deleted afterwards."""
    tag = uuid.uuid4().hex[:12]
    names = Topics(f"balance.operations.test.{tag}", f"balance.events.test.{tag}", f"orders.test.{tag}")
    for name in (names.operations, names.events, names.orders):
        create_topic(kafka_bootstrap, name, partitions=PARTITIONS)
    yield names
    for name in (names.operations, names.events, names.orders):
        delete_topic(kafka_bootstrap, name)


@dataclass(slots=True)
class ServiceProcess:
    """A service (`python -m <module>`) as a subprocess; start/kill/stop it as often as a test needs."""

    module: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start and wait for the 'ready' log line of this start."""
        assert self.process is None or self.process.poll() is not None, "already running"
        readies_before = self.log_text().count(" ready: ")
        log_file = open(self.log_path, "ab")  # noqa: SIM115  (handed to the child)
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], cwd=REPO_ROOT, env=self.env, stdout=log_file, stderr=log_file
        )
        log_file.close()

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.module} exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
            return self.log_text().count(" ready: ") > readies_before

        eventually(ready, timeout_ms=START_TIMEOUT_MS)

    def signal(self, signum: int) -> int:
        """Send `signum` and wait for the exit; return the exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=60)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metric(self, name: str, labels: str = "") -> float:
        """Sum of the Prometheus samples `name{...labels...}` (0 if absent)."""
        port = self.env.get("UBSCORE_METRICS_PORT") or self.env["MATCHER_METRICS_PORT"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            total = 0.0
            for line in response.read().decode().splitlines():
                if (line.startswith(name + " ") or line.startswith(name + "{")) and labels in line:
                    total += float(line.rsplit(" ", 1)[1])
            return total

    def dump(self) -> dict:
        """`python -m ubscore dump --json` on this service's state dir (it may be running)."""
        result = subprocess.run(
            [sys.executable, "-m", "ubscore", "dump", "--json"], cwd=REPO_ROOT, env=self.env, capture_output=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode()[-3000:]
        return json.loads(result.stdout)


@dataclass(slots=True)
class Stack:
    """A matcher shard and UBSCore wired to each other on private topics, ports and stream ids."""

    topics: Topics
    matcher: ServiceProcess
    ubscore: ServiceProcess
    aeron_dir: str
    request_stream_id: int


@pytest.fixture
def stack(topics: Topics, kafka_bootstrap: str, aeron_directory: Path, tmp_path: Path) -> Iterator[Stack]:
    """Both services built (not started): the matcher owns all partitions of the private `orders` topic."""
    pub, replay = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    base = dict(os.environ, PYTHONPATH=f"{REPO_ROOT}:{REPO_ROOT / 'gen' / 'python'}")
    matcher_env = dict(
        base, MATCHER_SHARD_ID="0", MATCHER_TOPIC=topics.orders, MATCHER_PARTITIONS="0,1,2,3",
        MATCHER_KAFKA_BOOTSTRAP=kafka_bootstrap, MATCHER_PUB_ENDPOINT=pub, MATCHER_REPLAY_ENDPOINT=replay,
        MATCHER_METRICS_PORT=str(free_port()), MATCHER_STATE_DIR=str(tmp_path / "matcher-state"),
    )  # fmt: skip
    request_stream_id = random.randint(100_000_000, 900_000_000)
    ubscore_env = dict(
        base, UBSCORE_KAFKA_BOOTSTRAP=kafka_bootstrap, UBSCORE_OPERATIONS_TOPIC=topics.operations,
        UBSCORE_EVENTS_TOPIC=topics.events, UBSCORE_ORDERS_TOPIC=topics.orders, UBSCORE_AERON_DIR=str(aeron_directory),
        UBSCORE_AERON_CHANNEL="aeron:ipc", UBSCORE_AERON_STREAM_ID=str(request_stream_id),
        UBSCORE_FEEDS=f"0={pub}|{replay}", UBSCORE_STATE_DIR=str(tmp_path / "ubscore-state"),
        UBSCORE_METRICS_PORT=str(free_port()), UBSCORE_SNAPSHOT_INPUTS="500", UBSCORE_BATCH_RECORDS_MAX="200",
    )  # fmt: skip
    built = Stack(
        topics,
        ServiceProcess("matcher", matcher_env, tmp_path / "matcher.log"),
        ServiceProcess("ubscore", ubscore_env, tmp_path / "ubscore.log"),
        str(aeron_directory),
        request_stream_id,
    )
    yield built
    for service in (built.ubscore, built.matcher):
        if service.running():
            service.signal(signal.SIGKILL)


@dataclass(slots=True)
class Gateway:
    """What a gateway does towards UBSCore: Aeron requests and transfers on Kafka."""

    client: AeronClient
    requester: RequestClient
    producer: Producer
    operations_topic: str
    next_request: int = 0

    def request(self, body: ubscore_pb2.UbscoreRequest) -> ubscore_pb2.UbscoreResponse:
        reply = self.requester.request(body.SerializeToString(), timeout_ms=REQUEST_TIMEOUT_MS)
        return ubscore_pb2.UbscoreResponse.FromString(reply)

    def place(self, **fields: object) -> ubscore_pb2.UbscoreResponse:
        return self.request(ubscore_pb2.UbscoreRequest(place_order=ubscore_pb2.OrderRequest(**fields)))

    def cancel(self, **fields: object) -> ubscore_pb2.UbscoreResponse:
        return self.request(ubscore_pb2.UbscoreRequest(cancel_order=ubscore_pb2.CancelRequest(**fields)))

    def transfer(self, user_id: int, asset_id: int, amount_units: int, *, deposit: bool, request_id: str = "") -> str:
        self.next_request += 1
        request_id = request_id or f"t-{uuid.uuid4().hex[:8]}-{self.next_request}"
        operation = balance_pb2.BALANCE_OPERATION_TRANSFER_IN if deposit else balance_pb2.BALANCE_OPERATION_TRANSFER_OUT
        message = balance_pb2.BalanceRequest(request_id=request_id, user_id=user_id, asset_id=asset_id,
                                             amount_units=amount_units, operation=operation)  # fmt: skip
        self.producer.produce(self.operations_topic, key=str(user_id).encode(), value=message.SerializeToString())
        flush_or_raise(self.producer, timeout_s=FLUSH_TIMEOUT_S)
        return request_id


@pytest.fixture
def gateway_factory(stack: Stack, kafka_bootstrap: str) -> Iterator[Callable[[], Gateway]]:
    """Connect a gateway to the running UBSCore (call after stack.ubscore.start())."""
    made: list[Gateway] = []

    def connect() -> Gateway:
        client = AeronClient(ClientConfig(aeron_dir=stack.aeron_dir))
        requester = RequestClient(
            client, request_channel="aeron:ipc", request_stream_id=stack.request_stream_id,
            response_channel="aeron:ipc", response_stream_id=stack.request_stream_id + 1 + len(made),
            connect_timeout_ms=START_TIMEOUT_MS,
        )  # fmt: skip
        gateway = Gateway(client, requester, make_producer(kafka_bootstrap, client_id="gateway-test"),
                          stack.topics.operations)  # fmt: skip
        made.append(gateway)
        return gateway

    yield connect
    for gateway in made:
        gateway.requester.close()
        gateway.client.close()


@dataclass(slots=True)
class TopicReader:
    """Reads a whole private topic from the beginning, all partitions."""

    consumer: Consumer
    records: list[bytes] = field(default_factory=list)

    def poll(self) -> list[bytes]:
        for message in self.consumer.consume(num_messages=1000, timeout=0.05):
            assert message.error() is None, message.error()
            self.records.append(message.value())
        return self.records


def topic_reader(kafka_bootstrap: str, topic: str) -> TopicReader:
    consumer = make_consumer(kafka_bootstrap, client_id=f"reader-{uuid.uuid4().hex[:6]}")
    assign_from(consumer, topic, {p: -1 for p in range(PARTITIONS)})
    return TopicReader(consumer)


@pytest.fixture
def events_reader(stack: Stack, kafka_bootstrap: str) -> Iterator[Callable[[], list[balance_pb2.BalanceEvent]]]:
    """Every BalanceEvent produced so far (duplicates included), parsed."""
    reader = topic_reader(kafka_bootstrap, stack.topics.events)

    def read() -> list[balance_pb2.BalanceEvent]:
        return [balance_pb2.BalanceEvent.FromString(raw) for raw in reader.poll()]

    yield read
    reader.consumer.close()


@pytest.fixture
def orders_reader(stack: Stack, kafka_bootstrap: str) -> Iterator[Callable[[], list[order_pb2.OrderCommand]]]:
    """Every OrderCommand produced so far (duplicates included), parsed."""
    reader = topic_reader(kafka_bootstrap, stack.topics.orders)

    def read() -> list[order_pb2.OrderCommand]:
        return [order_pb2.OrderCommand.FromString(raw) for raw in reader.poll()]

    yield read
    reader.consumer.close()
