"""Fixtures for the REST proxy contract tests: the real proxy binary (built once per run with `go build`) in
front of an in-process grpcio server that stands in for the Python gateway.

The subject under test is the proxy (gateway/rest/), so the backend is a test double: it implements every RPC
of the generated TradingService, AccountService and MarketDataService from their descriptors, records each
call with its metadata, answers with a canned response (an empty message unless a test set one) or with a
planned error carrying google.rpc details, and serves grpc.health.v1 Check with a status tests can change.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2, descriptor, message_factory
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2

from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    trading_service_pb2,
    trading_service_pb2_grpc,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAPI_PATH = REPO_ROOT / "gen/openapi/exchange.swagger.json"
GO_BUILD_TIMEOUT_S = 600
PROXY_START_TIMEOUT_MS = 30_000
HTTP_TIMEOUT_S = 10
GRPC_WORKERS_MAX = 4

HEALTH_SERVING = health_pb2.HealthCheckResponse.SERVING
HEALTH_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
HEALTH_HOLD_S_MAX = 30

SERVICES = [
    (trading_service_pb2.DESCRIPTOR.services_by_name["TradingService"],
     trading_service_pb2_grpc.add_TradingServiceServicer_to_server),
    (account_service_pb2.DESCRIPTOR.services_by_name["AccountService"],
     account_service_pb2_grpc.add_AccountServiceServicer_to_server),
    (market_data_service_pb2.DESCRIPTOR.services_by_name["MarketDataService"],
     market_data_service_pb2_grpc.add_MarketDataServiceServicer_to_server),
]


@dataclass(frozen=True, slots=True)
class Call:
    """One RPC the backend received: `method` is "Service/Method"; metadata as grpcio gives it."""

    method: str
    request: Message
    metadata: tuple[tuple[str, str | bytes], ...]


@dataclass(frozen=True, slots=True)
class PlannedError:
    """The status the next call of a method ends with, details included (google.rpc.Status in the trailer)."""

    code: grpc.StatusCode
    message: str
    details: tuple[Message, ...]


@dataclass
class BackendDouble:
    """The canned gRPC backend; tests read `calls` and set responses, errors and the health status."""

    calls: list[Call] = field(default_factory=list)
    responses: dict[str, Message | list[Message]] = field(default_factory=dict)
    errors: dict[str, PlannedError] = field(default_factory=dict)
    health_status: int = HEALTH_SERVING
    health_released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.health_released.set()

    def reset(self) -> None:
        """Forget calls, responses and errors; serve health again."""
        with self.lock:
            self.calls.clear()
            self.responses.clear()
            self.errors.clear()
            self.health_status = HEALTH_SERVING
            self.health_released.set()

    def respond(self, method: str, response: Message | list[Message]) -> None:
        """Answer every call of `method` ("Service/Method") with `response` (a list for a server stream)."""
        with self.lock:
            self.responses[method] = response

    def fail(self, method: str, code: grpc.StatusCode, message: str, *details: Message) -> None:
        """End every call of `method` with `code`, `message` and `details` (google.rpc messages)."""
        with self.lock:
            self.errors[method] = PlannedError(code=code, message=message, details=details)

    def calls_of(self, method: str) -> list[Call]:
        """The calls received for `method`, oldest first."""
        with self.lock:
            return [call for call in self.calls if call.method == method]

    def handle(self, method: descriptor.MethodDescriptor, request: Message,
               context: grpc.ServicerContext) -> Message | list[Message]:
        """Record the call, then raise the planned error or return the canned (or empty) response."""
        name = f"{method.containing_service.name}/{method.name}"
        with self.lock:
            self.calls.append(Call(method=name, request=request, metadata=tuple(context.invocation_metadata())))
            error = self.errors.get(name)
            response = self.responses.get(name)
        if error is not None:
            rich = status_pb2.Status(code=error.code.value[0], message=error.message)
            for detail in error.details:
                rich.details.add().CopyFrom(_packed(detail))
            context.set_trailing_metadata((("grpc-status-details-bin", rich.SerializeToString()),))
            context.abort(error.code, error.message)
        if response is None:
            empty = message_factory.GetMessageClass(method.output_type)()
            return [] if method.server_streaming else empty
        return response

    def health_check(self, _request: bytes, _context: grpc.ServicerContext) -> bytes:
        """grpc.health.v1.Health/Check: the serving status (held while health_released is clear, to stand for a
        backend too slow to answer)."""
        self.health_released.wait(timeout=HEALTH_HOLD_S_MAX)
        with self.lock:
            return health_pb2.HealthCheckResponse(status=self.health_status).SerializeToString()


def _packed(detail: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def _servicer(double: BackendDouble, service: descriptor.ServiceDescriptor) -> object:
    """An object with one method per RPC of `service`, each delegating to the double. Client streams have no
    REST binding (grpc-gateway cannot carry them), so the double only answers each message with an empty one."""
    servicer = type(f"{service.name}Double", (), {})()
    for method in service.methods:
        if method.client_streaming:
            def client_stream(requests: Iterator[Message], context: grpc.ServicerContext,
                              method: descriptor.MethodDescriptor = method) -> Iterator[Message]:
                for _ in requests:
                    yield message_factory.GetMessageClass(method.output_type)()
            setattr(servicer, method.name, client_stream)
        elif method.server_streaming:
            def stream(request: Message, context: grpc.ServicerContext, method: descriptor.MethodDescriptor = method,
                       ) -> Iterator[Message]:
                yield from double.handle(method, request, context)  # type: ignore[misc]
            setattr(servicer, method.name, stream)
        else:
            def unary(request: Message, context: grpc.ServicerContext, method: descriptor.MethodDescriptor = method,
                      ) -> Message:
                return double.handle(method, request, context)  # type: ignore[return-value]
            setattr(servicer, method.name, unary)
    return servicer


@dataclass
class Backend:
    """A running double: its address and the grpc server (stop it to make the backend unreachable)."""

    double: BackendDouble
    server: grpc.Server
    address: str


def start_backend() -> Backend:
    """Start the double on a free port of 127.0.0.1."""
    double = BackendDouble()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=GRPC_WORKERS_MAX))
    for service, add_to_server in SERVICES:
        add_to_server(_servicer(double, service), server)
    health = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(double.health_check),
    })
    server.add_generic_rpc_handlers((health,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return Backend(double=double, server=server, address=f"127.0.0.1:{port}")


@dataclass
class Proxy:
    """A running proxy process and the base URL it serves."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        """What the proxy logged so far."""
        return self.log_path.read_text()


def start_proxy(binary: Path, backend_address: str, log_path: Path) -> Proxy:
    """Start the proxy on a port the kernel chooses and wait until its log names it."""
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", "--grpc", backend_address, "--openapi", str(OPENAPI_PATH)],
            stdout=log_file, stderr=subprocess.STDOUT,
        )
    marker = "REST proxy listening on "

    def listening_line_written() -> bool:  # the whole line: the address ends before its ", forwarding to"
        return "\n" in log_path.read_text().partition(marker)[2]

    deadline_ns = time.monotonic_ns() + PROXY_START_TIMEOUT_MS * 1_000_000
    while not listening_line_written():
        if process.poll() is not None or time.monotonic_ns() > deadline_ns:
            process.kill()
            raise AssertionError(f"the proxy did not start:\n{log_path.read_text()}")
        time.sleep(0.01)
    address = log_path.read_text().split(marker, 1)[1].split(",", 1)[0]
    return Proxy(process=process, base_url=f"http://{address}", log_path=log_path)


def stop_proxy(proxy: Proxy) -> None:
    """SIGTERM (graceful shutdown) and wait."""
    proxy.process.terminate()
    proxy.process.wait(timeout=10)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """Status, headers (names in lower case) and decoded JSON body (None when the body is not JSON)."""

    status: int
    headers: dict[str, str]
    body: object


def http(method: str, url: str, body: object = None, headers: dict[str, str] | None = None) -> HttpResponse:
    """One HTTP request; a JSON body is sent as given (a str is sent verbatim). Non-2xx answers are returned."""
    data = None
    if body is not None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            status, response_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, response_headers, raw = error.code, dict(error.headers), error.read()
    try:
        decoded = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        decoded = None
    headers_lower = {name.lower(): value for name, value in response_headers.items()}
    return HttpResponse(status=status, headers=headers_lower, body=decoded)


@pytest.fixture(scope="session")
def proxy_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The REST proxy built from this checkout (`go build ./gateway/rest`)."""
    binary = tmp_path_factory.mktemp("rest") / "exchange-rest"
    result = subprocess.run(["go", "build", "-o", str(binary), "./gateway/rest"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=GO_BUILD_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    return binary


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    """The backend double, shared by a module's tests (reset before each test by `rest`)."""
    running = start_backend()
    yield running
    running.server.stop(grace=None)


@pytest.fixture(scope="module")
def proxy(proxy_binary: Path, backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """The proxy in front of the module's backend double."""
    running = start_proxy(proxy_binary, backend.address, tmp_path_factory.mktemp("proxy") / "proxy.log")
    yield running
    stop_proxy(running)


@pytest.fixture
def rest(proxy: Proxy, backend: Backend) -> Callable[..., HttpResponse]:
    """`rest(method, path, body=None, headers=None)` against the proxy, with a freshly reset backend."""
    backend.double.reset()

    def call(method: str, path: str, body: object = None, headers: dict[str, str] | None = None) -> HttpResponse:
        return http(method, proxy.base_url + path, body, headers)

    return call
