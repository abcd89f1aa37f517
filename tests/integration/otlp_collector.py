"""An OTLP/gRPC trace receiver served by a test, so the service subprocesses' spans can be checked, and a reader
of JSON-lines service logs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace receiver: keeps (service.name, span name, trace id hex) of every exported span."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def Export(  # noqa: N802  (the gRPC method name)
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        """Record the spans; accept everything."""
        with self.lock:
            for resource_spans in request.resource_spans:
                service = next(attribute.value.string_value for attribute in resource_spans.resource.attributes
                               if attribute.key == "service.name")  # fmt: skip
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend((service, span.name, span.trace_id.hex()) for span in scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def names_in_trace(self, trace_id: str) -> set[tuple[str, str]]:
        """(service, span name) of every span received in `trace_id`."""
        with self.lock:
            return {(service, name) for service, name, trace in self.spans if trace == trace_id}


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    """The collector, served on a free port."""
    receiver = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield receiver, port
    server.stop(grace=None)


def otel_env(port: int) -> dict[str, str]:
    """Environment of a service exporting its spans to the collector on `port` quickly, with DEBUG logs."""
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "100", "LOG_LEVEL": "DEBUG"}  # fmt: skip


def json_lines(path: Path) -> list[dict]:
    """Every complete line of a service log, each parsed as JSON (fails on a line that is not). The services are
    still running: a last line without its newline is still being written, and is left for a later read."""
    complete = path.read_text().rpartition("\n")[0]
    return [json.loads(line) for line in complete.splitlines() if line]
