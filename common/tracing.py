"""OpenTelemetry trace context carried in the messages (the `traceparent` fields of the exchange.v1 protos).

Off by default, and then nearly free: `configure` installs an SDK tracer provider only when
OTEL_EXPORTER_OTLP_ENDPOINT is set (OTLP/gRPC export) or OTEL_TRACES_EXPORTER=console; otherwise the API's
no-op provider stays and `child_span` is a shared no-op context manager that costs one branch. The sample ratio
is OTEL_TRACES_SAMPLER_ARG (0.0 to 1.0, default 1.0), applied at the root (the gateway); the services downstream
follow the parent's sampled flag.

Services copy the incoming `traceparent` onto what they emit unchanged (so a replayed input emits the same bytes),
and record their own work as a child span of it.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_NO_SPAN = contextlib.nullcontext()
_UNSAMPLED_FLAGS = "-00"  # the trace-flags field of a traceparent whose sampled bit is 0
# The TracerProvider in use (None: tracing off) and its tracers by service name (get_tracer is not cheap).
_state: dict[str, Any] = {"provider": None, "tracers": {}}


def configure(service_name: str, environ: dict[str, str] | None = None) -> bool:
    """Install the tracer provider for `service_name` if the environment asks for export; True if tracing is on."""
    env = os.environ if environ is None else environ
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    console = env.get("OTEL_TRACES_EXPORTER", "") == "console"
    if not endpoint and not console:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    ratio = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}), sampler=ParentBased(TraceIdRatioBased(ratio))
    )
    exporter: SpanExporter
    if console:
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint)
    provider.add_span_processor(BatchSpanProcessor(exporter))  # export off the hot path, in batches
    enable(provider)
    return True


def enable(provider: Any) -> None:
    """Record every span from now on with `provider` (an SDK TracerProvider; tests pass one with an in-memory
    exporter). Kept here rather than as OpenTelemetry's global, which can be set only once per process."""
    _state["provider"] = provider
    _state["tracers"] = {}


def disable() -> None:
    """Stop recording spans in this process."""
    _state["provider"] = None


def enabled() -> bool:
    """Whether spans are recorded in this process."""
    return _state["provider"] is not None


def trace_id_of(traceparent: str) -> str:
    """The 32-hex trace id of a W3C traceparent ("" if it is empty or malformed): the id to grep logs by."""
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else ""


def command_traceparent(command: Any) -> str:
    """The traceparent an exchange.v1.OrderCommand carries in its place or cancel ("" if none)."""
    kind = command.WhichOneof("command")
    return getattr(command, kind).traceparent if kind else ""


def output_traceparent(output: Any) -> str:
    """The traceparent of the command that caused an exchange.v1.EngineOutput ("" if none)."""
    return command_traceparent(output.input.command)


def new_traceparent() -> str:
    """A fresh unsampled root traceparent: a trace id to follow in logs even when tracing is off.

    Drawn from `random` (seeded from the OS, reseeded after fork), not `secrets`: ids must be unique, not
    unguessable, and os.urandom is a system call per id that drops the GIL on the gateway's per-call path.
    W3C forbids all-zero ids, hence `or 1`."""
    return f"00-{random.getrandbits(128) or 1:032x}-{random.getrandbits(64) or 1:016x}-00"


@contextlib.contextmanager
def _span(name: str, traceparent: str, attributes: dict[str, Any]) -> Iterator[str]:
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    tracers = _state["tracers"]
    scope = name.split(".", 1)[0]
    tracer = tracers.get(scope) or tracers.setdefault(scope, _state["provider"].get_tracer(scope))
    with tracer.start_as_current_span(name, context=parent, attributes=attributes):
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        yield carrier.get("traceparent", traceparent)


def child_span(name: str, traceparent: str, **attributes: Any) -> contextlib.AbstractContextManager[str | None]:
    """A span `name` (e.g. "matcher.command"), child of `traceparent` (a new root if empty), when tracing is on;
    it yields the span's own traceparent. When tracing is off, or the parent is not sampled: a shared no-op that
    yields None (the caller passes the incoming traceparent on unchanged)."""
    if _state["provider"] is None or traceparent.endswith(_UNSAMPLED_FLAGS):
        return _NO_SPAN  # an unsampled parent: the parent-based sampler would drop the span; skip the SDK at once
    return _span(name, traceparent, attributes)
