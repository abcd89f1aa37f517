"""The gRPC server: the three exchange services, server reflection and the standard health service.

Interceptors, outermost first: metrics (every call counted with its final code) > trace > error boundary
(exceptions become statuses with details) > auth (key and role) > rate limit (per key and role class), passed in
as one gateway.interceptors.InterceptorChain. Health and reflection need no key, so load balancers and
`grpcurl list` work without one.

grpcio's sync server runs each call on a worker thread: a server stream holds its thread for its lifetime, so
the number of market data streams is capped below the worker count (GatewayServer keeps room for unary calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    trading_service_pb2,
    trading_service_pb2_grpc,
)
from gateway.health import HealthMonitor

GRACE_S = 5.0
MESSAGE_BYTES_MAX = 4 * 1024 * 1024

SERVICE_NAMES = (
    trading_service_pb2.DESCRIPTOR.services_by_name["TradingService"].full_name,
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"].full_name,
    market_data_service_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name,
)


@dataclass(slots=True, kw_only=True)
class Servicers:
    """One servicer per exchange service (the generated base classes answer UNIMPLEMENTED)."""

    trading: trading_service_pb2_grpc.TradingServiceServicer
    account: account_service_pb2_grpc.AccountServiceServicer
    market_data: market_data_service_pb2_grpc.MarketDataServiceServicer


def build_server(
    *, address: str, workers: int, servicers: Servicers, interceptors: Sequence[grpc.ServerInterceptor],
    health: HealthMonitor,
) -> tuple[grpc.Server, int]:
    """A server (not started) bound to `address`; returns it and the bound port (useful with port 0)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc-worker"),
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", MESSAGE_BYTES_MAX),
            ("grpc.max_send_message_length", MESSAGE_BYTES_MAX),
            ("grpc.so_reuseport", 0),  # two gateways on one port would split clients silently
        ],
        maximum_concurrent_rpcs=None,
    )
    trading_service_pb2_grpc.add_TradingServiceServicer_to_server(servicers.trading, server)
    account_service_pb2_grpc.add_AccountServiceServicer_to_server(servicers.account, server)
    market_data_service_pb2_grpc.add_MarketDataServiceServicer_to_server(servicers.market_data, server)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind gRPC to {address}")
    return server, port
