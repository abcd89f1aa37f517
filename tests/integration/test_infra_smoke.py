"""Smoke tests of the local infrastructure: real Kafka, real Cassandra, real Aeron media driver.

Run `bin/stack infra up` first. Tests write only to objects they create with unique names (a topic, a
table) and delete them afterwards, so they never disturb services using the shared topics.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from exchange.v1 import balance_pb2
from tools.infra import aeron, kafka, runner
from tools.infra.component import ComponentSpec
from tools.infra.errors import ComponentError, ComponentExited, ComponentTimeout, PortBusy
from tools.infra.layout import CNC_FILE_NAME, REPO_ROOT, log_path, pid_path
from tools.infra.process import is_alive, java_executable, read_pid_file

pytestmark = pytest.mark.integration

KAFKA_TIMEOUT_S = 30.0
CONSUME_DEADLINE_S = 30.0
STACK = REPO_ROOT / "bin" / "stack"


@pytest.fixture
def scratch_topic(kafka_bootstrap: str) -> Iterator[str]:
    """A new single-partition topic for this test only, deleted afterwards."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topic = f"test.infra-smoke.{uuid.uuid4().hex[:12]}"
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1)], operation_timeout=KAFKA_TIMEOUT_S
    )
    futures[topic].result(timeout=KAFKA_TIMEOUT_S)
    yield topic
    admin.delete_topics([topic], operation_timeout=KAFKA_TIMEOUT_S)[topic].result(timeout=KAFKA_TIMEOUT_S)


def test_exchange_topics_exist_with_four_partitions_and_seven_day_retention(kafka_bootstrap: str) -> None:
    """The three exchange topics exist with 4 partitions each and retention.ms of 7 days: read broker metadata."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topics = admin.list_topics(timeout=KAFKA_TIMEOUT_S).topics

    for name in ("balance.operations", "balance.events", "orders"):
        assert name in topics, sorted(topics)
        assert len(topics[name].partitions) == 4, (name, len(topics[name].partitions))
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in kafka.TOPICS]
    for resource, future in admin.describe_configs(resources, request_timeout=KAFKA_TIMEOUT_S).items():
        config = future.result(timeout=KAFKA_TIMEOUT_S)
        assert config["retention.ms"].value == "604800000", (resource.name, config["retention.ms"].value)


def test_protobuf_message_round_trips_through_kafka_with_idempotent_acks_all_producer(
    kafka_bootstrap: str, scratch_topic: str
) -> None:
    """An idempotent acks=all producer's BalanceRequest is consumed back byte-identical from its offset."""
    sent = balance_pb2.BalanceRequest(
        request_id=f"smoke-{uuid.uuid4().hex}",
        user_id=42,
        asset_id=7,
        amount_units=123_456_789,
        operation=balance_pb2.BALANCE_OPERATION_TRANSFER_IN,
        ts_event_ns=1_700_000_000_000_000_000,
        producer_id="infra-smoke",
        producer_seq=1,
    )
    producer = Producer({
        "bootstrap.servers": kafka_bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        "linger.ms": 5,
        "delivery.timeout.ms": int(KAFKA_TIMEOUT_S * 1000),
    })
    reports: list[tuple[KafkaError | None, int]] = []

    producer.produce(
        scratch_topic, key=b"42", value=sent.SerializeToString(),
        on_delivery=lambda error, message: reports.append((error, message.offset())),
    )
    assert producer.flush(KAFKA_TIMEOUT_S) == 0
    [(error, offset)] = reports
    assert error is None, error
    received = _consume_one(kafka_bootstrap, scratch_topic, offset)

    assert balance_pb2.BalanceRequest.FromString(received) == sent


def _consume_one(bootstrap: str, topic: str, offset: int) -> bytes:
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"infra-smoke-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    })
    try:
        consumer.assign([TopicPartition(topic, 0, offset)])
        deadline = time.monotonic() + CONSUME_DEADLINE_S
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            assert message.key() == b"42"
            return message.value()
        raise AssertionError(f"no message at {topic}[0]@{offset} within {CONSUME_DEADLINE_S} s")
    finally:
        consumer.close()


def test_cql_table_in_keyspace_exchange_can_be_created_written_and_read(cql_session) -> None:
    """A new table in keyspace `exchange` returns the rows written to it with a prepared statement."""
    table = f"infra_smoke_{uuid.uuid4().hex[:12]}"
    cql_session.execute(f"CREATE TABLE {table} (user_id bigint, asset_id int, amount_units bigint, "
                        "PRIMARY KEY (user_id, asset_id))")
    try:
        insert = cql_session.prepare(f"INSERT INTO {table} (user_id, asset_id, amount_units) VALUES (?, ?, ?)")
        for asset_id, amount_units in ((1, 10), (2, 2**62)):
            cql_session.execute(insert, (42, asset_id, amount_units))

        rows = list(cql_session.execute(f"SELECT asset_id, amount_units FROM {table} WHERE user_id = %s", (42,)))

        assert [(row.asset_id, row.amount_units) for row in rows] == [(1, 10), (2, 2**62)]
        assert cql_session.keyspace == "exchange"
    finally:
        cql_session.execute(f"DROP TABLE {table}")


def test_aeron_cnc_header_is_readable_and_names_the_running_driver(aeron_directory: Path) -> None:
    """cnc.dat in the Aeron dir has a non-zero CnC version, sane buffer sizes and the running driver's pid."""
    header = aeron.read_cnc_header(aeron_directory / CNC_FILE_NAME)
    record = read_pid_file(pid_path(aeron.NAME))

    assert header is not None
    assert header.version != 0
    assert header.to_driver_buffer_bytes > 0
    assert header.counters_values_buffer_bytes > 0
    assert header.client_liveness_timeout_ns > 0
    assert record is not None
    assert header.pid == record.pid
    assert is_alive(record)


def test_infra_up_when_already_up_keeps_every_process(kafka_bootstrap: str, cql_session, aeron_directory) -> None:
    """`bin/stack infra up` on running infra is a no-op: exit 0, "already up", the same pids as before."""
    pids_before = {name: read_pid_file(pid_path(name)) for name in ("aeron", "kafka", "cassandra")}

    result = subprocess.run([str(STACK), "infra", "up", "--no-go-tools"], capture_output=True, text=True,
                            timeout=120, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("already up") == 3, result.stdout
    assert {name: read_pid_file(pid_path(name)) for name in pids_before} == pids_before


@pytest.fixture
def scratch_component(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A component name unknown to the real stack; its log and pid files are removed afterwards."""
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    yield name
    if name in runner.COMPONENTS:
        runner.down([name], out=lambda line: None)
    for path in (log_path(name), pid_path(name), pid_path(name).with_suffix(".argv")):
        path.unlink(missing_ok=True)


def _register(monkeypatch: pytest.MonkeyPatch, spec: ComponentSpec) -> None:
    monkeypatch.setitem(runner.COMPONENTS, spec.name, spec)


def test_up_reports_a_jvm_that_exits_early_with_its_log_file(
    monkeypatch: pytest.MonkeyPatch, scratch_component: str
) -> None:
    """A component whose JVM cannot start fails `up` with ComponentExited naming its log and quoting the error."""
    spec = ComponentSpec(
        name=scratch_component, main_class="does.not.Exist", port=None, ready_deadline_s=60.0, stop_timeout_s=5.0,
        prepare=lambda: [java_executable(), "-cp", "/nonexistent", "does.not.Exist"],
        probe=lambda: False, bootstrap=lambda: None,
    )
    _register(monkeypatch, spec)

    with pytest.raises(ComponentExited) as caught:
        runner.up([scratch_component], out=lambda line: None)

    assert caught.value.log_file == log_path(scratch_component)
    assert str(log_path(scratch_component)) in str(caught.value)
    assert "does.not.Exist" in str(caught.value)


def test_up_gives_up_at_the_deadline_and_down_stops_the_process(
    monkeypatch: pytest.MonkeyPatch, scratch_component: str
) -> None:
    """A process that never passes its probe fails `up` with ComponentTimeout; `down` then stops it."""
    spec = ComponentSpec(
        name=scratch_component, main_class="infra-smoke-sleeper", port=None, ready_deadline_s=1.0, stop_timeout_s=5.0,
        prepare=lambda: [sys.executable, "-c", "import signal; signal.pause()", "infra-smoke-sleeper"],
        probe=lambda: False, bootstrap=lambda: None,
    )
    _register(monkeypatch, spec)

    with pytest.raises(ComponentTimeout):
        runner.up([scratch_component], out=lambda line: None)
    record = read_pid_file(pid_path(scratch_component))
    assert record is not None
    assert is_alive(record)
    runner.down([scratch_component], out=lambda line: None)

    assert not is_alive(record)
    assert not pid_path(scratch_component).exists()


def test_up_refuses_a_port_taken_by_a_process_it_did_not_start(
    monkeypatch: pytest.MonkeyPatch, scratch_component: str
) -> None:
    """A component whose port already listens fails `up` with PortBusy and starts nothing (no pid file)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        spec = ComponentSpec(
            name=scratch_component, main_class="infra-smoke-never", port=listener.getsockname()[1],
            ready_deadline_s=5.0, stop_timeout_s=5.0, prepare=lambda: ["false", "infra-smoke-never"],
            probe=lambda: False, bootstrap=lambda: None,
        )
        _register(monkeypatch, spec)

        with pytest.raises(PortBusy):
            runner.up([scratch_component], out=lambda line: None)

    assert not pid_path(scratch_component).exists()


def test_up_reports_a_failing_bootstrap_as_a_component_error_naming_the_log(
    monkeypatch: pytest.MonkeyPatch, scratch_component: str
) -> None:
    """A component that starts but whose set-up step raises fails `up` with ComponentError, not a bare exception."""
    def failing_bootstrap() -> None:
        raise RuntimeError("topic creation refused")

    spec = ComponentSpec(
        name=scratch_component, main_class="infra-smoke-sleeper", port=None, ready_deadline_s=30.0, stop_timeout_s=5.0,
        prepare=lambda: [sys.executable, "-c", "import signal; signal.pause()", "infra-smoke-sleeper"],
        probe=lambda: True, bootstrap=failing_bootstrap,
    )
    _register(monkeypatch, spec)

    with pytest.raises(ComponentError) as caught:
        runner.up([scratch_component], out=lambda line: None)

    assert "topic creation refused" in str(caught.value)
    assert caught.value.log_file == log_path(scratch_component)
