"""What every service's Prometheus metrics share: a registry of their own (no module-level globals, so tests can run
several services in one process), its HTTP exposition with a health endpoint, and the bucket sets of the WAL and
batch histograms.

The HTTP server answers:

    GET /metrics  (and / for compatibility)  the Prometheus exposition of the service's registry
    GET /healthz                             200 {"status":"SERVING"} when the service is ready (recovered, its loop
                                             running), else 503 {"status":"NOT_SERVING","reason":"..."}
    anything else                            404
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

FSYNC_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)

METRICS_PATHS = ("/", "/metrics")
HEALTH_PATH = "/healthz"

# True: ready. False or a string: not ready (the string says why: "recovering", "stopping", ...).
ReadinessCheck = Callable[[], bool | str]

log = logging.getLogger(__name__)


def always_ready() -> bool:
    """The default readiness: a service that does not say otherwise is ready as soon as it serves."""
    return True


class Readiness:
    """A service's readiness, for /healthz: not serving (with a reason) until `serving()`, and again after
    `not_serving(reason)`. Cheap and thread-safe: one attribute, read and replaced atomically (no lock needed), so
    the main thread or a signal handler sets it and the HTTP threads read it."""

    __slots__ = ("_reason",)

    def __init__(self, reason: str = "starting") -> None:
        self._reason: str | None = reason

    def serving(self) -> None:
        """Ready: /healthz answers 200 SERVING."""
        self._reason = None

    def not_serving(self, reason: str) -> None:
        """Not ready for `reason`: /healthz answers 503 NOT_SERVING with it."""
        self._reason = reason

    def __call__(self) -> bool | str:
        reason = self._reason
        return True if reason is None else reason


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (wsgiref writes one to stderr; probes and scrapes would flood the logs)."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def health_status(ready: ReadinessCheck) -> tuple[int, dict[str, str]]:
    """The HTTP status and JSON body /healthz answers for this readiness check."""
    try:
        result = ready()
    except Exception as error:  # a broken check must read as not ready, never as a 500 or a dead server thread
        log.exception("readiness check failed")
        return 503, {"status": "NOT_SERVING", "reason": f"readiness check failed: {error!r}"}
    if result is True:
        return 200, {"status": "SERVING"}
    return 503, {"status": "NOT_SERVING", "reason": result if isinstance(result, str) and result else "not ready"}


def make_app(registry: CollectorRegistry, ready: ReadinessCheck = always_ready) -> WSGIApplication:
    """A WSGI app: prometheus_client's exposition on /metrics (and /), the health answer on /healthz, else 404."""
    metrics_app = make_wsgi_app(registry)
    reasons = {200: "200 OK", 503: "503 Service Unavailable"}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path in METRICS_PATHS:
            return metrics_app(environ, start_response)
        if path == HEALTH_PATH:
            code, payload = health_status(ready)
            body = json.dumps(payload, separators=(",", ":")).encode()
            start_response(reasons[code], [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                           ("Cache-Control", "no-store")])
            return [body]
        body = b"not found: use /metrics or /healthz\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


@dataclass(slots=True)
class ServiceMetrics:
    """Base of a service's metrics dataclass: subclasses add their metrics as `field(init=False)` and create them in
    `__post_init__` on `self.registry`."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def serve(self, port: int, host: str = "127.0.0.1", ready: ReadinessCheck = always_ready) -> WSGIServer:
        """Serve /metrics and /healthz on `host`:`port` (0: a free port, see `server_port`) from a daemon thread.

        `ready` decides /healthz: it runs on the server's request threads, so it must be cheap and thread-safe
        (read a flag, no I/O); `Readiness` is one. Returns the server (`shutdown()` stops it; tests do)."""
        server = make_server(host, port, make_app(self.registry, ready), ThreadingWSGIServer,
                             handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name=f"metrics-http-{server.server_port}", daemon=True)
        thread.start()
        return server
