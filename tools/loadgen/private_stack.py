"""A private stack beside the shared infrastructure: own STACK_HOME, free ports, private topics, keyspace, streams.

The shared Kafka, CQL server and Aeron media driver are declared external, so `up`/`down` of a private stack
never start or stop them (the way tests/integration/test_stack_services.py runs its stacks). Used by the
benchmark, the crash drills and `python -m tools.loadgen --private-stack`.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.kafka import delete_topic
from gateway.cql import connect
from settlement.cql import drop_keyspace
from tools.infra.kafka import TOPICS
from tools.infra.layout import CQL_PORT, KAFKA_BOOTSTRAP
from tools.services import lifecycle
from tools.stack_config import StackConfig, from_env

AERON_PRIVATE_STREAM_MIN = 100_000  # above the stream ids of the shared stack and the Aeron tests
AERON_PRIVATE_STREAM_MAX = 1_000_000
# GATEWAY_RATE_LIMITS of a stack run to be measured: no key is held back by the gateway's per-key buckets.
UNLIMITED_RATE_LIMITS = "trade=1000000000/1000000000,transfer=1000000/1000000,read=1000000/1000000"


def private_env(home: Path, *, kafka_bootstrap: str = KAFKA_BOOTSTRAP, cql_port: int = CQL_PORT) -> dict[str, str]:
    """STACK_* settings of a private stack under `home` (random topic suffix, keyspace and Aeron streams)."""
    token = uuid.uuid4().hex[:12]
    streams = random.Random(token).sample(range(AERON_PRIVATE_STREAM_MIN, AERON_PRIVATE_STREAM_MAX), 2)
    return {"STACK_HOME": str(home), "STACK_FREE_PORTS": "1", "STACK_TOPIC_SUFFIX": f".load.{token}",
            "STACK_KAFKA_BOOTSTRAP": kafka_bootstrap, "STACK_CQL_CONTACT_POINTS": "127.0.0.1",
            "STACK_CQL_PORT": str(cql_port), "STACK_CQL_KEYSPACE": f"load_{token}", "STACK_AERON_EXTERNAL": "1",
            "STACK_AERON_STREAM_ID": str(streams[0]), "STACK_AERON_RESPONSE_STREAM_ID": str(streams[1])}


def remove(config: StackConfig) -> None:
    """Stop every service of the stack, then drop its topics and keyspace (best effort: report, never raise)."""
    lifecycle.down(config, out=lambda line: None)
    for name in TOPICS:
        try:
            delete_topic(config.kafka_bootstrap, config.topic(name))
        except Exception as error:  # cleanup after a failure that came before the topic existed
            print(f"topic {config.topic(name)} not deleted: {error}")
    session = connect(config.cql_contact_points, config.cql_port)
    try:
        drop_keyspace(session, config.cql_keyspace)
    finally:
        session.cluster.shutdown()


@contextmanager
def private_stack(home: Path, *, services: list[str] | None = None, quiet: bool = True,
                  extra_env: dict[str, str] | None = None,
                  kafka_bootstrap: str = KAFKA_BOOTSTRAP, cql_port: int = CQL_PORT) -> Iterator[StackConfig]:
    """Bring up a private stack under `home` (every service by default); stop and remove it afterwards.

    `kafka_bootstrap`: the shared broker by default, or a private one (tools/infra/private_kafka.py); `cql_port`:
    the shared CQL server's by default, or a private node's on 127.0.0.1 (tools/infra/private_cassandra.py).

    `extra_env` (e.g. GATEWAY_RATE_LIMITS) is set in this process's environment while the stack lives, so the
    services started (and restarted) through the runner inherit it.
    """
    env = private_env(home, kafka_bootstrap=kafka_bootstrap, cql_port=cql_port)
    config = from_env(env)
    saved = {name: os.environ.get(name) for name in extra_env or {}}
    os.environ.update(extra_env or {})
    try:
        lifecycle.up(config, services, out=(lambda line: None) if quiet else print)
        yield config
    finally:
        try:
            remove(config)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
