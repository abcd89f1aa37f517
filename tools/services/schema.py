"""What must exist before the services start: the topics and the keyspace (the tables are Settlement's migrations).

Both steps are idempotent (create if missing). On the local infrastructure they are already done by
`bin/stack infra up`; they matter for an external Kafka/Redpanda or ScyllaDB cluster, where the stack creates
what is missing with the configured replication factors, and for private test topics (STACK_TOPIC_SUFFIX).
"""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from common.kafka import ADMIN_TIMEOUT_S, create_topic
from tools.infra.kafka import TOPIC_PARTITIONS, TOPIC_RETENTION_MS, TOPICS
from tools.stack_config import StackConfig

CQL_CONNECT_TIMEOUT_S = 10.0
CQL_DDL_TIMEOUT_S = 120.0  # schema changes wait for schema agreement; the driver's 10 s is too short under load


def ensure_topics(config: StackConfig) -> list[str]:
    """Create the exchange topics that are missing; refuse existing ones with another partition count."""
    admin = AdminClient({"bootstrap.servers": config.kafka_bootstrap})
    existing = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    created = []
    for name in TOPICS:
        topic = config.topic(name)
        if topic in existing:
            partitions = len(existing[topic].partitions)
            if partitions != TOPIC_PARTITIONS:  # a different count would remap symbols to other matcher shards
                raise RuntimeError(f"topic {topic} has {partitions} partitions, the stack needs {TOPIC_PARTITIONS}")
            continue
        create_topic(config.kafka_bootstrap, topic, partitions=TOPIC_PARTITIONS,
                     replication=config.kafka_replication_factor,
                     config={"retention.ms": str(TOPIC_RETENTION_MS)})
        created.append(topic)
    return created


def ensure_keyspace(config: StackConfig) -> str:
    """Create the keyspace if missing; return the replication it is created with.

    RF 1 uses SimpleStrategy (one local node); a larger RF uses NetworkTopologyStrategy with that factor in every
    datacenter, which is what a ScyllaDB cluster expects.
    """
    from cassandra.cluster import Cluster  # scylla-driver; imported here so the CLI starts fast without CQL

    if config.cql_replication_factor == 1:
        replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    else:
        replication = f"{{'class': 'NetworkTopologyStrategy', 'replication_factor': {config.cql_replication_factor}}}"
    cluster = Cluster(list(config.cql_contact_points), port=config.cql_port, connect_timeout=CQL_CONNECT_TIMEOUT_S)
    try:
        session = cluster.connect()
        session.execute(f"CREATE KEYSPACE IF NOT EXISTS {config.cql_keyspace} WITH replication = {replication}",
                        timeout=CQL_DDL_TIMEOUT_S)
    finally:
        cluster.shutdown()
    return replication
