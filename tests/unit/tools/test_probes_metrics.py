"""tools/services/probes.py metric_sums: one scrape of a real Prometheus endpoint, the wanted metrics summed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from tools.services.probes import metric_sum, metric_sums


@pytest.fixture
def metrics_url() -> Iterator[str]:
    registry = CollectorRegistry()
    lag = Gauge("svc_lag_records", "lag", ["partition"], registry=registry)
    lag.labels("0").set(3)
    lag.labels("1").set(4)
    rows = Counter("svc_rows_written", "rows", ["table"], registry=registry)
    rows.labels("orders").inc(5)
    rows.labels("a table } with {braces} and spaces").inc(7)
    Histogram("svc_lag_records_seconds", "a longer name sharing the prefix", registry=registry).observe(9)
    Gauge("svc_unset", "no samples", ["x"], registry=registry)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_metric_sums_sums_each_wanted_metric_over_its_labels(metrics_url: str) -> None:
    sums = metric_sums(metrics_url, ["svc_lag_records", "svc_rows_written_total", "svc_unset", "svc_absent"])

    assert sums == {"svc_lag_records": 7, "svc_rows_written_total": 12, "svc_unset": None, "svc_absent": None}


def test_metric_sum_of_an_unreachable_endpoint_is_none() -> None:
    assert metric_sum("http://127.0.0.1:1/metrics", "svc_lag_records") is None
