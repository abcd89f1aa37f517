"""CQL sessions for the gateway and its admin tools (scylla-driver), every relied-on option spelled out; the
gateway's own is a LazySession (opened on first use, so the gateway starts while the database is down)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy

from common.cql import reconnection_policy
from common.errors import Unavailable

CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
PROTOCOL_VERSION = 5

log = logging.getLogger(__name__)


def connect(hosts: Sequence[str], port: int, keyspace: str | None = None) -> Session:
    """A session on `keyspace` (None: no keyspace); close it with `session.cluster.shutdown()`.

    It finds a restarted CQL server again within common.cql.RECONNECT_DELAY_S (not the driver's default of up to
    600 s), so API key reloads and reads work again as soon as the server is back."""
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=REQUEST_TIMEOUT_S)
    cluster = Cluster(
        list(hosts),
        port=port,
        connect_timeout=CONNECT_TIMEOUT_S,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=PROTOCOL_VERSION,
        reconnection_policy=reconnection_policy(),
    )
    try:
        return cluster.connect(keyspace)
    except Exception:  # any failure to connect: do not leak the cluster's threads
        cluster.shutdown()
        raise


class LazySession:
    """A CQL session that is opened on first use instead of at start-up, so the gateway starts (health NOT_SERVING)
    while the database is unreachable and turns SERVING when it comes back.

    Until a connect has succeeded, each use tries one (at most one attempt per `retry_ms`; uses in between fail at
    once) and failures raise common.errors.Unavailable. Once open, the session is kept: the driver itself
    reconnects to its hosts after an outage, and statements prepared on it stay valid. Thread-safe.
    """

    def __init__(
        self, hosts: Sequence[str], port: int, *, retry_ms: int = 1_000,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        assert retry_ms > 0, retry_ms
        self.hosts = tuple(hosts)
        self.port = port
        self.retry_ms = retry_ms
        self.clock_ns = clock_ns
        self.keyspace: str | None = None  # like Session.keyspace: statements name their keyspace
        self._session: Session | None = None
        self._next_attempt_ns = 0
        self._last_error = "not connected yet"
        self._lock = threading.Lock()

    def session(self) -> Session:
        """The open session; opens it if due, else raises Unavailable naming the last failure."""
        session = self._session
        if session is not None:
            return session
        with self._lock:
            if self._session is not None:
                return self._session
            now_ns = self.clock_ns()
            if now_ns < self._next_attempt_ns:
                raise Unavailable(f"CQL {self.hosts}:{self.port} unreachable: {self._last_error}")
            try:
                self._session = connect(self.hosts, self.port)
            except Exception as error:  # NoHostAvailable, timeouts, refused connections: all mean "not yet"
                self._next_attempt_ns = now_ns + self.retry_ms * 1_000_000
                self._last_error = str(error)
                raise Unavailable(f"CQL {self.hosts}:{self.port} unreachable: {error}") from error
            log.info("CQL session open on %s:%d", ",".join(self.hosts), self.port)
            return self._session

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Session.execute on the open session."""
        return self.session().execute(*args, **kwargs)

    def prepare(self, *args: Any, **kwargs: Any) -> Any:
        """Session.prepare on the open session."""
        return self.session().prepare(*args, **kwargs)

    def shutdown(self) -> None:
        """Close the session if one was opened."""
        with self._lock:
            if self._session is not None:
                self._session.cluster.shutdown()
                self._session = None
