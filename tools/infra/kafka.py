"""Kafka: a single-node KRaft broker (broker and controller in one JVM) on 127.0.0.1:9092, and its topics.

One node means replication factor 1 everywhere, including the internal offsets and transaction-state
topics, and `min.insync.replicas=1`, so idempotent producers with `acks=all` work. Topics are not
auto-created: a misspelt topic name fails fast instead of silently creating an empty topic.
"""

from __future__ import annotations

import base64
import concurrent.futures
import subprocess
import time
import uuid
from pathlib import Path

from tools.infra import artifacts
from tools.infra.component import ComponentSpec, port_open
from tools.infra.layout import (
    CONF_DIR,
    HOST,
    KAFKA_BOOTSTRAP,
    KAFKA_CONTROLLER_PORT,
    KAFKA_PORT,
    data_dir,
    log_path,
)
from tools.infra.process import java_executable

NAME = "kafka"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
HEAP = "512m"
TOPIC_PARTITIONS = 4
TOPIC_RETENTION_MS = 7 * 24 * 60 * 60 * 1000
TOPICS = ("balance.operations", "balance.events", "orders")
ADMIN_TIMEOUT_S = 10.0
FORMAT_TIMEOUT_S = 120
COORDINATOR_PROBE_GROUP = "exchange-infra-readiness"
COORDINATOR_DEADLINE_S = 60.0
COORDINATOR_RETRY_S = 0.2
COORDINATOR_REQUEST_S = 2.0

JVM_OPTIONS = (
    f"-Xms{HEAP}",
    f"-Xmx{HEAP}",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
)

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
"""

# Kafka logs through slf4j 1.7 + reload4j (LOG4J_PROPERTIES); log4j2 is on the classpath too and reports
# "No configuration found" unless it is given one.
LOG4J2_PROPERTIES = """\
status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
"""


def _server_properties(*, port: int, controller_port: int, log_dir: Path) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": str(TOPIC_PARTITIONS),
        "auto.create.topics.enable": "false",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.ms": str(TOPIC_RETENTION_MS),
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def cluster_id() -> str:
    """A new KRaft cluster id: 16 random bytes in unpadded URL-safe base64 (what `kafka-storage random-uuid` prints).

    One id in 64 would start with '-', which the storage tool's argument parser takes for an option ("format
    --cluster-id -z2v..." fails); Kafka's own `Uuid.randomUuid` draws again in that case, and so does this.
    """
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not candidate.startswith("-"):
            return candidate


def prepare() -> list[str]:
    """Write server.properties and log4j config, format the KRaft storage on first start; return the argv."""
    return prepare_broker(conf_dir=CONF_DIR / NAME, log_dir=data_dir(NAME), log_file=log_path(NAME), port=KAFKA_PORT,
                          controller_port=KAFKA_CONTROLLER_PORT)


def prepare_broker(*, conf_dir: Path, log_dir: Path, log_file: Path, port: int, controller_port: int) -> list[str]:
    """prepare() for a broker with these directories and ports (the shared one, or a private one for a drill)."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    server_properties = conf_dir / "server.properties"
    server_properties.write_text(_server_properties(port=port, controller_port=controller_port, log_dir=log_dir))
    log4j = conf_dir / "log4j.properties"
    log4j.write_text(LOG4J_PROPERTIES)
    log4j2 = conf_dir / "log4j2.properties"
    log4j2.write_text(LOG4J2_PROPERTIES)
    java = java_executable()
    classpath = artifacts.classpath(NAME)
    base = [java, *JVM_OPTIONS, f"-Dlog4j.configuration=file:{log4j}",
            f"-Dlog4j2.configurationFile={log4j2}", "-cp", classpath]
    if not (log_dir / "meta.properties").exists():
        log_dir.mkdir(parents=True, exist_ok=True)
        # The format step logs before the broker is spawned (which is what creates the logs directory otherwise).
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            subprocess.run(
                [*base, STORAGE_TOOL_CLASS, "format", "--cluster-id", cluster_id(),
                 "--config", str(server_properties), "--ignore-formatted"],
                check=True, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=FORMAT_TIMEOUT_S,
            )
    return [*base, MAIN_CLASS, str(server_properties)]


def probe() -> bool:
    """Return True once the broker answers a metadata request and lists itself."""
    return probe_broker(KAFKA_PORT)


def probe_broker(port: int) -> bool:
    """probe() of the broker listening on `port`."""
    if not port_open(port):
        return False
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": f"{HOST}:{port}", "socket.timeout.ms": 2000})
    try:
        metadata = admin.list_topics(timeout=2.0)
    except Exception:  # KafkaException while the broker is still starting up
        return False
    return len(metadata.brokers) == 1


def bootstrap() -> None:
    """Create the exchange topics if missing (4 partitions, RF 1, 7-day retention); check existing ones."""
    from confluent_kafka.admin import AdminClient

    from common.kafka import create_topic

    admin = AdminClient({"bootstrap.servers": KAFKA_BOOTSTRAP})
    existing = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    config = {"retention.ms": str(TOPIC_RETENTION_MS), "min.insync.replicas": "1"}
    for topic in TOPICS:
        if topic not in existing:
            create_topic(KAFKA_BOOTSTRAP, topic, partitions=TOPIC_PARTITIONS, config=config)
    _wait_group_coordinator(admin)
    for topic in TOPICS:
        if topic in existing and len(existing[topic].partitions) != TOPIC_PARTITIONS:
            # Changing the partition count would remap keys (orders are keyed by symbol): never do it silently.
            raise RuntimeError(
                f"topic {topic} has {len(existing[topic].partitions)} partitions, expected {TOPIC_PARTITIONS}; "
                "run `bin/stack infra reset kafka` for a clean slate"
            )


def _wait_group_coordinator(admin) -> None:  # admin: confluent_kafka.admin.AdminClient
    """Wait until the group coordinator answers (creating `__consumer_offsets` on a fresh broker).

    Otherwise the first consumer group after a fresh start meets "coordinator is loading" errors while the
    offsets topic is created and loaded, which every client then has to retry through.
    """
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + COORDINATOR_DEADLINE_S
    while True:
        future = admin.describe_consumer_groups([COORDINATOR_PROBE_GROUP], request_timeout=COORDINATOR_REQUEST_S)
        try:
            future[COORDINATOR_PROBE_GROUP].result(timeout=COORDINATOR_REQUEST_S * 2)
            return
        except (KafkaException, concurrent.futures.TimeoutError) as error:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"group coordinator not ready after {COORDINATOR_DEADLINE_S} s: {error}") from error
        time.sleep(COORDINATOR_RETRY_S)


SPEC = ComponentSpec(
    name=NAME,
    main_class=MAIN_CLASS,
    port=KAFKA_PORT,
    ready_deadline_s=120.0,
    stop_timeout_s=30.0,
    prepare=prepare,
    probe=probe,
    bootstrap=bootstrap,
)
