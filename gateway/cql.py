"""CQL sessions for the gateway and its admin tools (scylla-driver), every relied-on option spelled out."""

from __future__ import annotations

from collections.abc import Sequence

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy

CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
PROTOCOL_VERSION = 5


def connect(hosts: Sequence[str], port: int, keyspace: str | None = None) -> Session:
    """A session on `keyspace` (None: no keyspace); close it with `session.cluster.shutdown()`."""
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=REQUEST_TIMEOUT_S)
    cluster = Cluster(
        list(hosts),
        port=port,
        connect_timeout=CONNECT_TIMEOUT_S,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=PROTOCOL_VERSION,
    )
    try:
        return cluster.connect(keyspace)
    except Exception:  # any failure to connect: do not leak the cluster's threads
        cluster.shutdown()
        raise
