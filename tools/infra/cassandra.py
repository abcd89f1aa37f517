"""Cassandra: one node of Apache Cassandra 5.0, our local stand-in for ScyllaDB, CQL on 127.0.0.1:9042.

It runs from the `cassandra-all` jar with a generated minimal cassandra.yaml and logback.xml, a 1 GiB heap,
no JMX, and the system properties that skip the waits a multi-node cluster needs (gossip settling, ring
delay). The JVM flags under "JPMS" are those of Cassandra's own conf/jvm17-server.options.

`prepare_node`, `probe_node` and `connect_session(port=...)` take the ports and directories, so a crash drill can
run a private node of its own beside the shared one (tools/infra/private_cassandra.py).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tools.infra import artifacts
from tools.infra.component import ComponentSpec, port_open
from tools.infra.layout import (
    CASSANDRA_STORAGE_PORT,
    CONF_DIR,
    CQL_KEYSPACE,
    CQL_PORT,
    HOST,
    LOGS_DIR,
    data_dir,
)
from tools.infra.process import java_executable

NAME = "cassandra"
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
HEAP = "1G"
CQL_CONNECT_TIMEOUT_S = 5.0
CQL_REQUEST_TIMEOUT_S = 30.0

JVM_OPTIONS = (  # the heap flags (-Xms/-Xmx) come from prepare_node
    "-Xss512k",
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
    "-XX:+PerfDisableSharedMem",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.net.preferIPv4Stack=true",
    "-Djava.awt.headless=true",
    # JPMS: what Cassandra 5 needs on Java 17 (conf/jvm17-server.options).
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
    # Single node: nothing to wait for. Without these a first start sleeps ~30 s for gossip to settle.
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1000",
    "-Dcassandra.load_ring_state=true",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra-foreground=yes",
)

LOGBACK_XML = """\
<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <logger name="com.datastax" level="WARN"/>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


def _commitlog_settings(commitlog_sync: str) -> dict[str, object]:
    """`periodic`: a write is acknowledged before its commit log is synced, which happens every 10 s; a killed
    node replays only synced sections, so it loses up to 10 s of acknowledged writes (with RF 1 nothing else holds
    them). `batch`: acknowledged only once synced, so a SIGKILL loses nothing (Cassandra refuses a sync period
    beside it)."""
    if commitlog_sync == "periodic":
        return {"commitlog_sync": "periodic", "commitlog_sync_period": "10000ms"}
    assert commitlog_sync == "batch", commitlog_sync
    return {"commitlog_sync": "batch"}


def _cassandra_yaml(*, data: Path, native_port: int, storage_port: int, commitlog_sync: str) -> dict[str, object]:
    return {
        "cluster_name": "exchange-local",
        "num_tokens": 1,
        "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "endpoint_snitch": "SimpleSnitch",
        "seed_provider": [
            {
                "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                "parameters": [{"seeds": f"{HOST}:{storage_port}"}],
            }
        ],
        "listen_address": HOST,
        "rpc_address": HOST,
        "storage_port": storage_port,
        "native_transport_port": native_port,
        "start_native_transport": True,
        "data_file_directories": [str(data / "data")],
        "commitlog_directory": str(data / "commitlog"),
        "saved_caches_directory": str(data / "saved_caches"),
        "hints_directory": str(data / "hints"),
        "cdc_raw_directory": str(data / "cdc_raw"),
        **_commitlog_settings(commitlog_sync),
        "storage_compatibility_mode": "NONE",
        "concurrent_reads": 8,
        "concurrent_writes": 8,
        "concurrent_counter_writes": 8,
        "concurrent_compactors": 1,
        "auto_snapshot": False,
        "snapshot_on_duplicate_row_detection": False,
        "read_request_timeout": "10000ms",
        "write_request_timeout": "10000ms",
    }


def prepare() -> list[str]:
    """Write cassandra.yaml and logback.xml under .local/conf/cassandra; return the JVM argv."""
    return prepare_node(conf_dir=CONF_DIR / NAME, data=data_dir(NAME), log_dir=LOGS_DIR, native_port=CQL_PORT,
                        storage_port=CASSANDRA_STORAGE_PORT, heap=HEAP)


def prepare_node(*, conf_dir: Path, data: Path, log_dir: Path, native_port: int, storage_port: int,
                 heap: str, commitlog_sync: str = "batch") -> list[str]:
    """prepare() for a node with these directories, ports, heap and commit log sync mode (`batch`, the default, or
    `periodic`, see _commitlog_settings): the shared node, or a private one for a drill. Both run `batch`: with one
    replica, an acknowledged write must survive a SIGKILL of the node (docs/decisions.md)."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    config_file = conf_dir / "cassandra.yaml"
    settings = _cassandra_yaml(data=data, native_port=native_port, storage_port=storage_port,
                               commitlog_sync=commitlog_sync)
    config_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    logback = conf_dir / "logback.xml"
    logback.write_text(LOGBACK_XML)
    data.mkdir(parents=True, exist_ok=True)
    triggers = conf_dir / "triggers"  # an empty trigger directory: Cassandra warns when it is missing
    triggers.mkdir(exist_ok=True)
    classpath = artifacts.classpath(NAME)
    # jamm measures object sizes for memtable accounting; without the agent Cassandra can only guess them.
    jamm = [entry for entry in classpath.split(":") if "/jamm-" in entry]
    agent = [f"-javaagent:{jamm[0]}"] if jamm else []
    return [
        java_executable(),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *JVM_OPTIONS,
        *agent,
        f"-Dcassandra.config=file://{config_file}",
        f"-Dcassandra.storagedir={data}",
        f"-Dcassandra.logdir={log_dir}",
        f"-Dcassandra.triggers_dir={triggers}",
        f"-Dlogback.configurationFile={logback}",
        "-cp",
        classpath,
        MAIN_CLASS,
    ]


def connect_session(keyspace: str | None = None, *, metadata: bool = True,
                    port: int = CQL_PORT):  # -> cassandra.cluster.Session
    """Return a CQL session to the local node on `port` (a new Cluster; call `session.cluster.shutdown()` when done).

    `metadata=False` skips the driver's schema and token metadata download, which dominates connect time
    and which probes do not need.
    """
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import RoundRobinPolicy

    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=CQL_REQUEST_TIMEOUT_S)
    cluster = Cluster(
        [HOST],
        port=port,
        connect_timeout=CQL_CONNECT_TIMEOUT_S,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
        schema_metadata_enabled=metadata,
        token_metadata_enabled=metadata,
    )
    try:
        return cluster.connect(keyspace)
    except Exception:
        cluster.shutdown()
        raise


def probe() -> bool:
    """Return True once the CQL port accepts connections and answers a query on system.local."""
    return probe_node(CQL_PORT)


def probe_node(port: int) -> bool:
    """probe() of the node whose native transport listens on `port`."""
    if not port_open(port):
        return False
    try:
        session = connect_session(metadata=False, port=port)
    except Exception:  # NoHostAvailable while the native transport is still coming up
        return False
    try:
        return session.execute("SELECT release_version FROM system.local").one() is not None
    finally:
        session.cluster.shutdown()


def bootstrap() -> None:
    """Create keyspace `exchange` (SimpleStrategy, RF 1) if it does not exist."""
    session = connect_session(metadata=False)
    try:
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {CQL_KEYSPACE} "
            "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
    finally:
        session.cluster.shutdown()


SPEC = ComponentSpec(
    name=NAME,
    main_class=MAIN_CLASS,
    port=CQL_PORT,
    ready_deadline_s=240.0,
    stop_timeout_s=45.0,
    prepare=prepare,
    probe=probe,
    bootstrap=bootstrap,
    after=("kafka", "aeron"),
)
