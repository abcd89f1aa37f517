"""What every service's Prometheus metrics share: a registry of their own (no module-level globals, so tests can run
several services in one process), its HTTP exposition, and the bucket sets of the WAL and batch histograms."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, start_http_server

FSYNC_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass(slots=True)
class ServiceMetrics:
    """Base of a service's metrics dataclass: subclasses add their metrics as `field(init=False)` and create them in
    `__post_init__` on `self.registry`."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Start the HTTP exposition server on `host`:`port` (a daemon thread of prometheus_client)."""
        start_http_server(port, addr=host, registry=self.registry)
