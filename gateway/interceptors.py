"""Server interceptors that run code around each call, and the error boundary that turns exceptions into statuses.

grpcio's sync server hands an interceptor the method name only; to see the call (its metadata, its outcome) an
interceptor must replace the method's behavior. `AroundInterceptor` does that once for the four call shapes:
a subclass writes `around_unary` (wraps a call returning one response) and `around_stream` (a generator wrapping
a call returning a response stream). Interceptors listed first run outermost:

    metrics (gateway.metrics) > error boundary (here) > auth (gateway.auth) > rate limit (gateway.rate_limit)

so metrics see the final status code, and every Refused raised by auth, rate limiting or a servicer becomes a
status with details in one place. The wrapped behavior runs on the gRPC worker thread of the call, so a
`contextvars.ContextVar` set by one layer is visible to the layers inside it and to the servicer.

The layers reach grpcio as one interceptor, `InterceptorChain`: grpcio runs its interceptor pipeline for every
call on its single poller thread, a level (three Python calls and a closure) per interceptor, only to be handed
the same wrapped handler again; one level that keeps the fully wrapped handler per method costs that thread a
fraction, and the poller is the thread every call of the server waits for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

import grpc

from gateway.status import abort, error_status

Invoke = Callable[[], Any]


def wrap_handler(
    handler: grpc.RpcMethodHandler,
    around_unary: Callable[[Invoke, grpc.ServicerContext], Any],
    around_stream: Callable[[Callable[[], Iterator[Any]], grpc.ServicerContext], Iterator[Any]],
) -> grpc.RpcMethodHandler:
    """A handler of the same shape whose behavior runs inside `around_unary` or `around_stream`."""
    options = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        unary_unary = handler.unary_unary
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: around_unary(lambda: unary_unary(request, context), context), **options
        )
    if handler.unary_stream is not None:
        unary_stream = handler.unary_stream
        return grpc.unary_stream_rpc_method_handler(
            lambda request, context: around_stream(lambda: unary_stream(request, context), context), **options
        )
    if handler.stream_unary is not None:
        stream_unary = handler.stream_unary
        return grpc.stream_unary_rpc_method_handler(
            lambda requests, context: around_unary(lambda: stream_unary(requests, context), context), **options
        )
    stream_stream = handler.stream_stream
    assert stream_stream is not None, handler
    return grpc.stream_stream_rpc_method_handler(
        lambda requests, context: around_stream(lambda: stream_stream(requests, context), context), **options
    )


class AroundInterceptor:
    """Base of the layers that wrap calls (run by `InterceptorChain`); `applies(method)` picks the methods
    (default: all)."""

    def applies(self, method: str) -> bool:
        """True if calls of `method` (e.g. "/exchange.v1.TradingService/PlaceOrder") are wrapped."""
        return True

    def around_unary(self, method: str, invoke: Invoke, context: grpc.ServicerContext) -> Any:
        """Run `invoke()` (the inner behavior) and return its response."""
        raise NotImplementedError

    def around_stream(
        self, method: str, invoke: Callable[[], Iterator[Any]], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        """Yield what `invoke()` yields."""
        raise NotImplementedError

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` with its behavior run inside this layer, if the layer applies to `method`."""
        if not self.applies(method):
            return handler
        # partial (C), not a lambda: one Python frame less per layer and call
        return wrap_handler(handler, partial(self.around_unary, method), partial(self.around_stream, method))


class InterceptorChain(grpc.ServerInterceptor):
    """Layers (outermost first) as one gRPC interceptor; each method's handler is wrapped once (grpcio asks on
    every call)."""

    def __init__(self, layers: Sequence[AroundInterceptor]) -> None:
        self.layers = tuple(layers)
        # By method, bounded by the registered methods; reused while the registered handler is the same object.
        self._wrapped_by_method: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        """The handler of the call's method inside every layer that applies to it."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        cached = self._wrapped_by_method.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = handler
        for layer in reversed(self.layers):
            wrapped = layer.wrap(method, wrapped)
        self._wrapped_by_method[method] = (handler, wrapped)
        return wrapped


class ErrorBoundaryInterceptor(AroundInterceptor):
    """Turns every exception escaping a call into a status with details (gateway.status); nothing leaks as UNKNOWN."""

    def around_unary(self, method: str, invoke: Invoke, context: grpc.ServicerContext) -> Any:
        """Run the call; on an exception end it with the mapped status."""
        try:
            return invoke()
        except Exception as error:
            if context.code() is not None:  # context.abort already chose the status
                raise
            abort(context, error_status(error))
            raise  # unreachable: abort raises

    def around_stream(
        self, method: str, invoke: Callable[[], Iterator[Any]], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        """Stream the call's responses; on an exception end the stream with the mapped status."""
        try:
            yield from invoke()
        except Exception as error:
            if context.code() is not None:
                raise
            abort(context, error_status(error))
            raise
