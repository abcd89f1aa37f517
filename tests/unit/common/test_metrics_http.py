"""common/metrics.py: /metrics serves the registry, /healthz follows the readiness check, other paths are 404."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import Gauge

from common.metrics import Readiness, ServiceMetrics, health_status


def _get(port: int, path: str) -> tuple[int, str, str]:
    """GET a path of the local server: (status, content type, body), whatever the status."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get("Content-Type", ""), error.read().decode()


@pytest.fixture
def served() -> Iterator[tuple[int, Readiness]]:
    """A registry with one gauge, served on a free port, with a readiness that starts as "recovering"."""
    metrics = ServiceMetrics()
    Gauge("unit_test_ready", "a gauge the exposition must show", registry=metrics.registry).set(1)
    readiness = Readiness("recovering")
    server = metrics.serve(0, ready=readiness)
    try:
        yield server.server_port, readiness
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_path_serves_the_exposition(served: tuple[int, Readiness]) -> None:
    """/metrics and / (compatibility) answer 200 with the registry's metrics, in the Prometheus text format."""
    port, _ = served
    for path in ("/metrics", "/"):
        status, content_type, body = _get(port, path)
        assert status == 200
        assert content_type.startswith("text/plain")
        assert "unit_test_ready 1.0" in body


def test_healthz_follows_readiness(served: tuple[int, Readiness]) -> None:
    """503 NOT_SERVING with the reason until ready, 200 SERVING once ready, 503 again once stopping."""
    port, readiness = served
    assert _get(port, "/healthz") == (503, "application/json", '{"status":"NOT_SERVING","reason":"recovering"}')
    readiness.serving()
    assert _get(port, "/healthz") == (200, "application/json", '{"status":"SERVING"}')
    readiness.not_serving("stopping")
    status, _, body = _get(port, "/healthz")
    assert (status, json.loads(body)) == (503, {"status": "NOT_SERVING", "reason": "stopping"})


def test_unknown_path_is_404(served: tuple[int, Readiness]) -> None:
    """Only /metrics, / and /healthz exist: a probe of /health or /ready must not read as healthy."""
    port, _ = served
    for path in ("/health", "/ready", "/metrics/extra"):
        assert _get(port, path)[0] == 404


def test_default_readiness_is_always_ready() -> None:
    """serve() without a check (the gateway's call) answers SERVING."""
    server = ServiceMetrics().serve(0)
    try:
        assert _get(server.server_port, "/healthz")[:2] == (200, "application/json")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("result", "expected"), [
    (True, (200, {"status": "SERVING"})),
    (False, (503, {"status": "NOT_SERVING", "reason": "not ready"})),
    ("catching up", (503, {"status": "NOT_SERVING", "reason": "catching up"})),
])
def test_health_status_of_each_result(result: bool | str, expected: tuple[int, dict[str, str]]) -> None:
    """True is ready; False or a reason is not."""
    assert health_status(lambda: result) == expected


def test_health_status_of_a_failing_check() -> None:
    """A check that raises reads as not ready (never a 500, never a dead server thread)."""

    def broken() -> bool:
        raise RuntimeError("boom")

    status, payload = health_status(broken)
    assert (status, payload["status"]) == (503, "NOT_SERVING")
    assert "boom" in payload["reason"]
