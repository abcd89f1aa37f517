"""Prometheus metrics of one gateway process, in their own registry, and the interceptor that feeds them.

    gateway_requests_total{method, code}        calls finished, by gRPC status code name
    gateway_request_seconds{method}             call latency (a stream: until its last message)
    gateway_requests_in_flight{method}          calls running now
    gateway_stream_messages_total{method}       messages sent on server streams
    gateway_stream_clients_cut_total{reason}    stream clients cut off (slow consumer)
    gateway_health_check_ok{check}              1 when the dependency check passed last time, else 0
    gateway_market_feed_seq{shard}              last matcher output applied to the books, per shard
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from gateway.interceptors import AroundInterceptor, Invoke

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class GatewayMetrics:
    """The gateway's counters; `serve(port)` exposes them over HTTP."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    requests: Counter = field(init=False)
    latency_seconds: Histogram = field(init=False)
    in_flight: Gauge = field(init=False)
    stream_messages: Counter = field(init=False)
    stream_clients_cut: Counter = field(init=False)
    health_check_ok: Gauge = field(init=False)
    market_feed_seq: Gauge = field(init=False)

    def __post_init__(self) -> None:
        registry = self.registry
        self.requests = Counter(
            "gateway_requests", "gRPC calls finished, by method and status code", ["method", "code"], registry=registry
        )
        self.latency_seconds = Histogram(
            "gateway_request_seconds", "gRPC call latency", ["method"], buckets=LATENCY_BUCKETS_S, registry=registry
        )
        self.in_flight = Gauge("gateway_requests_in_flight", "gRPC calls running", ["method"], registry=registry)
        self.stream_messages = Counter(
            "gateway_stream_messages", "Messages sent on server streams", ["method"], registry=registry
        )
        self.stream_clients_cut = Counter(
            "gateway_stream_clients_cut", "Stream clients cut off", ["reason"], registry=registry
        )
        self.health_check_ok = Gauge(
            "gateway_health_check_ok", "1 if the dependency check passed last time", ["check"], registry=registry
        )
        self.market_feed_seq = Gauge(
            "gateway_market_feed_seq", "Last matcher output applied to the gateway's books", ["shard"],
            registry=registry,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Start the HTTP exposition server (a daemon thread of prometheus_client)."""
        start_http_server(port, addr=host, registry=self.registry)


class _MethodChildren:
    """One method's metric children; `requests(code)` keeps a child per code seen (a bounded set: status codes)."""

    __slots__ = ("_by_code", "_make", "in_flight", "latency_seconds")

    def __init__(self, in_flight: Any, latency_seconds: Any, make_requests: Callable[[str], Any]) -> None:
        self.in_flight = in_flight
        self.latency_seconds = latency_seconds
        self._make = make_requests
        self._by_code: dict[str, Any] = {}

    def requests(self, code: str) -> Any:
        """The requests counter child of `code`."""
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._make(code)
        return child


def _code_name(context: grpc.ServicerContext, *, failed: bool) -> str:
    code = context.code()
    if code is None:
        return "UNKNOWN" if failed else "OK"
    return code.name


class MetricsInterceptor(AroundInterceptor):
    """Counts every call by method and final code, times it, and tracks calls in flight (outermost interceptor)."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics
        # Each method's children, made once: `labels()` takes a lock and validates the labels on every call.
        self._children: dict[str, _MethodChildren] = {}

    def _of(self, method: str) -> _MethodChildren:
        children = self._children.get(method)
        if children is None:
            metrics = self.metrics
            children = _MethodChildren(
                metrics.in_flight.labels(method), metrics.latency_seconds.labels(method),
                lambda code: metrics.requests.labels(method, code),
            )
            self._children[method] = children
        return children

    def around_unary(self, method: str, invoke: Invoke, context: grpc.ServicerContext) -> Any:
        """Time the call and count its outcome."""
        children = self._of(method)
        children.in_flight.inc()
        started_ns = time.monotonic_ns()
        failed = True
        try:
            response = invoke()
            failed = False
            return response
        finally:
            children.in_flight.dec()
            children.latency_seconds.observe((time.monotonic_ns() - started_ns) / 1e9)
            children.requests(_code_name(context, failed=failed)).inc()

    def around_stream(
        self, method: str, invoke: Callable[[], Iterator[Any]], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        """Time the whole stream, count its messages and its outcome."""
        metrics = self.metrics
        metrics.in_flight.labels(method).inc()
        started_ns = time.monotonic_ns()
        failed = True
        messages = metrics.stream_messages.labels(method)
        try:
            for response in invoke():
                messages.inc()
                yield response
            failed = False
        finally:
            metrics.in_flight.labels(method).dec()
            metrics.latency_seconds.labels(method).observe((time.monotonic_ns() - started_ns) / 1e9)
            code = "CANCELLED" if failed and context.code() is None and not context.is_active() else None
            metrics.requests.labels(method, code or _code_name(context, failed=failed)).inc()
