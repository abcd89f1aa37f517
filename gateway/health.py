"""Dependency checks behind the standard gRPC health service (grpc.health.v1).

A `HealthMonitor` runs every check each `interval_ms` on its own thread and sets the health status of each
exchange service (NOT_SERVING while a check it depends on fails) and of the whole server, "" (NOT_SERVING while
any check fails). Checks are plain callables that raise when the dependency is unreachable, each registered with
the services it affects: CQL, Kafka, the API key cache, the market feed and UBSCore (connected over Aeron, see
gateway/app.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from grpc_health.v1 import health, health_pb2

from common.errors import Unavailable
from common.kafka import make_admin
from gateway.metrics import GatewayMetrics

CHECK_INTERVAL_MS_DEFAULT = 2_000
CHECK_TIMEOUT_S = 2.0
CQL_PROBE = "SELECT release_version FROM system.local"

log = logging.getLogger(__name__)

Check = Callable[[], None]


def cql_check(session: object) -> Check:
    """A check that the CQL session answers a trivial query within CHECK_TIMEOUT_S."""

    def check() -> None:
        try:
            session.execute(CQL_PROBE, timeout=CHECK_TIMEOUT_S)  # type: ignore[attr-defined]
        except Exception as error:  # the driver raises many types (NoHostAvailable, OperationTimedOut, ...)
            raise Unavailable(f"CQL: {error}") from error

    return check


def kafka_check(bootstrap: str, topic: str) -> Check:
    """A check that the Kafka cluster answers a metadata request and has `topic`."""
    admin = make_admin(bootstrap, extra={"socket.timeout.ms": int(CHECK_TIMEOUT_S * 1000)})

    def check() -> None:
        try:
            metadata = admin.list_topics(topic=topic, timeout=CHECK_TIMEOUT_S)
        except Exception as error:  # KafkaException on timeout or transport failure
            raise Unavailable(f"Kafka {bootstrap}: {error}") from error
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise Unavailable(f"Kafka {bootstrap}: topic {topic} missing ({found.error if found else 'absent'})")

    return check


class HealthMonitor:
    """Runs the checks periodically and publishes the verdict through a grpc_health HealthServicer."""

    def __init__(
        self,
        checks: Mapping[str, tuple[Check, Iterable[str]]],
        *,
        service_names: Iterable[str],
        metrics: GatewayMetrics,
        interval_ms: int = CHECK_INTERVAL_MS_DEFAULT,
    ) -> None:
        """`checks`: name -> (check, full names of the services that need it)."""
        assert interval_ms > 0, interval_ms
        self.checks = {name: (check, frozenset(services)) for name, (check, services) in checks.items()}
        self.service_names = tuple(service_names)
        for _, services in self.checks.values():
            assert services <= set(self.service_names), services
        self.metrics = metrics
        self.interval_ms = interval_ms
        self.servicer = health.HealthServicer()
        self.failures: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)  # until the first round passed

    def run_checks(self) -> bool:
        """Run every check once, publish the verdict, and return True if all passed."""
        failures: dict[str, str] = {}
        for name, (check, _) in self.checks.items():
            try:
                check()
            except Exception as error:  # a check's failure is data here, whatever its type
                failures[name] = str(error)
            self.metrics.health_check_ok.labels(name).set(0 if name in failures else 1)
        if failures != self.failures:
            log.warning("health: %s", failures or "all checks pass")
        self.failures = failures
        broken = {service for name in failures for service in self.checks[name][1]}
        for service in self.service_names:
            self.servicer.set(service, _status(service not in broken))
        self.servicer.set("", _status(not failures))
        return not failures

    def start(self) -> None:
        """Run a first round now, then every interval on a daemon thread."""
        self.run_checks()
        self._thread = threading.Thread(target=self._loop, name="health-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and report NOT_SERVING (the server is going away)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=CHECK_TIMEOUT_S * (len(self.checks) + 1))
        self.servicer.enter_graceful_shutdown()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_ms / 1000):
            self.run_checks()

    def _set_all(self, status: int) -> None:
        for name in ("", *self.service_names):
            self.servicer.set(name, status)


def _status(serving: bool) -> int:
    return health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
