"""Trace context of each gateway call: continue the caller's W3C `traceparent` (gRPC metadata) or start a trace.

`TraceInterceptor` runs every call inside a span named after the method when tracing is on (common/tracing.py),
and sets the traceparent the messages of this call carry (`current_traceparent()`): the span's own, or, when
tracing is off, the caller's or a fresh unsampled one, so every order still has a trace id to follow in the logs
of all four services. The servicers put it on the UBSCore request and on the Kafka transfer.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from common import tracing
from gateway.interceptors import AroundInterceptor, Invoke

TRACEPARENT_HEADER = "traceparent"  # W3C Trace Context, lower case as gRPC metadata keys are

_traceparent: contextvars.ContextVar[str] = contextvars.ContextVar("gateway_traceparent", default="")


def current_traceparent() -> str:
    """The traceparent of the call running on this thread ("" outside a call)."""
    return _traceparent.get()


def incoming_traceparent(context: grpc.ServicerContext) -> str:
    """The caller's `traceparent` metadata, or "" if it sent none."""
    for key, value in context.invocation_metadata() or ():
        if key == TRACEPARENT_HEADER and isinstance(value, str):
            return value
    return ""


class TraceInterceptor(AroundInterceptor):
    """A span per call (when tracing is on) and the call's traceparent in `current_traceparent()`."""

    def __init__(self) -> None:
        self._span_names: dict[str, str] = {}  # by method (a bounded set), not formatted on every call

    def _span_name(self, method: str) -> str:
        name = self._span_names.get(method)
        if name is None:
            name = self._span_names[method] = f"gateway{method.replace('/', '.')}"
        return name

    def around_unary(self, method: str, invoke: Invoke, context: grpc.ServicerContext) -> Any:
        """Run the call inside its span, with its traceparent set."""
        parent = incoming_traceparent(context)
        with tracing.child_span(self._span_name(method), parent) as own:
            token = _traceparent.set(own or parent or tracing.new_traceparent())
            try:
                return invoke()
            finally:
                _traceparent.reset(token)

    def around_stream(
        self, method: str, invoke: Callable[[], Iterator[Any]], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        """Stream the call's responses inside its span; each `next` runs with the call's traceparent set."""
        parent = incoming_traceparent(context)
        with tracing.child_span(self._span_name(method), parent) as own:
            traceparent = own or parent or tracing.new_traceparent()
            responses = invoke()
            while True:  # a generator may resume on another context: set the traceparent around each step
                token = _traceparent.set(traceparent)
                try:
                    response = next(responses)
                except StopIteration:
                    return
                finally:
                    _traceparent.reset(token)
                yield response
