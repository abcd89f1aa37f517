"""Fixtures: a private `orders` topic per test, the matcher as a real subprocess, a producer, a verified feed.

The matcher runs as `python -m matcher` with its own temp state dir and free ports, so tests never touch the
shared topic, the default ports or .local/matcher-0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zmq
from confluent_kafka import Producer

from common.engine_chain import Chain
from common.engine_feed import EngineFeed
from common.kafka import create_topic, delete_topic, flush_or_raise, make_producer
from common.markets import load_catalog
from exchange.v1 import engine_pb2, order_pb2
from matcher.codec import build_output, decode_command
from matcher.engine import Engine
from tools.infra.layout import restartable_ports

REPO_ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 4
START_TIMEOUT_MS = 60_000  # a process start (imports, Kafka assignment) can take 10+ s on the loaded CI machine
FLUSH_TIMEOUT_S = 30.0


def eventually(condition: Callable[[], bool], *, timeout_ms: int = 30_000, poll_ms: int = 20) -> None:
    """Wait until `condition()` is true; fail after `timeout_ms`."""
    deadline_ns = time.monotonic_ns() + timeout_ms * 1_000_000
    while not condition():
        if time.monotonic_ns() > deadline_ns:
            raise AssertionError(f"not true within {timeout_ms} ms: {condition}")
        time.sleep(poll_ms / 1_000)


def free_port() -> int:
    """A free port for a test's server, below the ephemeral range (tools/infra/layout.py `restartable_ports`): a
    server killed and started again on it (a matcher's feed, a proxy) finds it still free."""
    [port] = restartable_ports(1)
    return port


@pytest.fixture
def orders_topic(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh 4-partition topic for this test only, deleted afterwards."""
    topic = f"orders.test.{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap, topic, partitions=PARTITIONS)
    yield topic
    delete_topic(kafka_bootstrap, topic)


@dataclass(slots=True)
class MatcherProcess:
    """One matcher shard run as a subprocess; start/kill/stop it as often as a test needs."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def pub_endpoint(self) -> str:
        return self.env["MATCHER_PUB_ENDPOINT"]

    @property
    def replay_endpoint(self) -> str:
        return self.env["MATCHER_REPLAY_ENDPOINT"]

    def start(self) -> None:
        """Start and wait for the 'ready' log line of this start."""
        assert self.process is None or self.process.poll() is not None, "already running"
        readies_before = self.log_text().count(" ready: ")
        log_file = open(self.log_path, "ab")  # noqa: SIM115  (handed to the child)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "matcher"], cwd=REPO_ROOT, env=self.env, stdout=log_file, stderr=log_file
        )
        log_file.close()
        self.starts += 1

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"matcher exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
            return self.log_text().count(" ready: ") > readies_before

        eventually(ready, timeout_ms=START_TIMEOUT_MS)

    def signal(self, signum: int) -> int:
        """Send `signum` and wait for the exit; return the exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=30)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metric(self, name: str) -> float | None:
        """Current value of one Prometheus sample (None if absent)."""
        url = f"http://127.0.0.1:{self.env['MATCHER_METRICS_PORT']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return None


@pytest.fixture
def matcher_factory(
    orders_topic: str, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[Callable[..., MatcherProcess]]:
    """Build matcher shards (not started) on the private topic, each with its own state dir and free ports."""
    built: list[MatcherProcess] = []

    def build(*, shard_id: int = 3, partitions: str = "0,1,2,3") -> MatcherProcess:
        env = dict(os.environ)
        env.update(
            MATCHER_SHARD_ID=str(shard_id),
            MATCHER_TOPIC=orders_topic,
            MATCHER_PARTITIONS=partitions,
            MATCHER_KAFKA_BOOTSTRAP=kafka_bootstrap,
            MATCHER_PUB_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
            MATCHER_REPLAY_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
            MATCHER_METRICS_PORT=str(free_port()),
            MATCHER_STATE_DIR=str(tmp_path / f"matcher-state-{shard_id}"),
            MATCHER_BATCH_RECORDS_MAX="50",
            MATCHER_SNAPSHOT_OUTPUTS="300",
        )
        process = MatcherProcess(env=env, log_path=tmp_path / f"matcher-{shard_id}.log")
        built.append(process)
        return process

    yield build
    for process in built:
        if process.process is not None and process.process.poll() is None:
            process.signal(signal.SIGKILL)


@pytest.fixture
def matcher(matcher_factory: Callable[..., MatcherProcess]) -> MatcherProcess:
    """One matcher shard (id 3, not started) owning all four partitions, with small batches."""
    return matcher_factory()


@dataclass(slots=True)
class OrdersProducer:
    """Produces OrderCommands keyed by symbol and remembers where each one landed."""

    producer: Producer
    topic: str
    positions: dict[tuple[int, int], int] = field(default_factory=dict)  # (partition, offset) -> command_seq

    def send(self, commands: list[tuple[str, order_pb2.OrderCommand]]) -> None:
        for symbol, command in commands:
            self.send_raw(symbol, command.SerializeToString(), command.command_seq)
        flush_or_raise(self.producer, timeout_s=FLUSH_TIMEOUT_S)

    def send_raw(self, key: str, value: bytes, command_seq: int = 0) -> None:
        def delivered(error: object, message: object) -> None:
            assert error is None, error
            self.positions[(message.partition(), message.offset())] = command_seq  # type: ignore[attr-defined]

        self.producer.produce(self.topic, key=key.encode(), value=value, on_delivery=delivered)
        self.producer.poll(0)


@pytest.fixture
def orders_producer(orders_topic: str, kafka_bootstrap: str) -> Iterator[OrdersProducer]:
    producer = make_producer(kafka_bootstrap, client_id="matcher-test")
    yield OrdersProducer(producer, orders_topic)
    producer.flush(FLUSH_TIMEOUT_S)


@pytest.fixture
def zmq_context() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)  # term() would wait forever on a socket a failed test left open


def open_feed(context: zmq.Context, matcher: MatcherProcess, **kwargs: object) -> EngineFeed:
    return EngineFeed(
        context, sub_endpoint=matcher.pub_endpoint, replay_endpoint=matcher.replay_endpoint,
        shard_id=int(matcher.env["MATCHER_SHARD_ID"]), idle_check_ms=100, **kwargs,  # type: ignore[arg-type]
    )


def collect(feed: EngineFeed, until_seq: int, *, timeout_ms: int = 60_000) -> list[engine_pb2.EngineOutput]:
    """Verified outputs until `until_seq` has arrived."""
    outputs: list[engine_pb2.EngineOutput] = []
    deadline_ns = time.monotonic_ns() + timeout_ms * 1_000_000
    while feed.last_seq < until_seq:
        if time.monotonic_ns() > deadline_ns:
            raise AssertionError(f"feed reached seq {feed.last_seq}, not {until_seq}, within {timeout_ms} ms")
        outputs.extend(feed.poll(timeout_ms=50))
    return outputs


def assert_fresh_engine_reproduces(outputs: list[engine_pb2.EngineOutput], shard_id: int) -> None:
    """A fresh engine fed the same inputs in the same order produces the same chain, hash for hash."""
    engine = Engine(load_catalog().markets.values())
    chain = Chain(shard_id=shard_id)
    for output in outputs:
        message = output.input.command
        result = engine.apply(decode_command(message))
        rebuilt = chain.seal(
            build_output(
                message, partition=output.input.kafka_partition, offset=output.input.kafka_offset, result=result
            )
        )
        assert rebuilt.seq == output.seq
        assert rebuilt.hash == output.hash, f"seq {output.seq} differs from a fresh replay"
