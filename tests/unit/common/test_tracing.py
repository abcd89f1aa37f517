"""common/tracing.py: child spans continue the trace of an incoming traceparent; off means no spans at all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from common import tracing

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.enable(provider)
    yield memory
    tracing.disable()


def test_configure_without_endpoint_leaves_tracing_off() -> None:
    assert tracing.configure("ubscore", environ={}) is False


def test_child_span_continues_incoming_trace(exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    with tracing.child_span("matcher.command", PARENT, order_id=7) as own:
        assert own is not None
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == tracing.trace_id_of(PARENT)
    assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    assert span.attributes["order_id"] == 7
    assert tracing.trace_id_of(own) == tracing.trace_id_of(PARENT)
    assert own.split("-")[2] == f"{span.context.span_id:016x}"


def test_child_span_without_parent_starts_new_trace(exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    with tracing.child_span("gateway.PlaceOrder", "") as own:
        assert own is not None
        assert tracing.trace_id_of(own) != tracing.trace_id_of(PARENT)
    assert len(exporter.get_finished_spans()) == 1


def test_trace_id_of_malformed_is_empty() -> None:
    assert tracing.trace_id_of("") == ""
    assert tracing.trace_id_of("garbage") == ""
    assert len(tracing.trace_id_of(tracing.new_traceparent())) == 32


def test_child_span_of_unsampled_parent_records_nothing(exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    with tracing.child_span("matcher.command", PARENT[:-2] + "00") as own:
        assert own is None
    assert exporter.get_finished_spans() == ()
