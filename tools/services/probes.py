"""Health probes of the services: an HTTP GET, a gRPC health Check, or a TCP connect, each with a short timeout.

A probe answers `Health(ok, detail)`; the detail is what `bin/stack status` prints (e.g. "HTTP 503").
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

PROBE_TIMEOUT_S = 1.0
METRICS_BYTES_MAX = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Health:
    """Outcome of one probe."""

    ok: bool
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpProbe:
    """Healthy when GET `url` answers; with `any_status`, any HTTP answer counts (the process is up and serving)."""

    url: str
    any_status: bool = False

    def check(self) -> Health:
        """GET the URL once."""
        try:
            with urllib.request.urlopen(self.url, timeout=PROBE_TIMEOUT_S) as response:
                return Health(True, f"HTTP {response.status}")
        except urllib.error.HTTPError as error:
            return Health(self.any_status, f"HTTP {error.code}")
        except (OSError, ValueError) as error:
            return Health(False, f"no answer ({_reason(error)})")


@dataclass(frozen=True, slots=True, kw_only=True)
class GrpcHealthProbe:
    """Healthy when grpc.health.v1.Health/Check on `address` answers SERVING for `service` ("" = the server)."""

    address: str
    service: str = ""

    def check(self) -> Health:
        """One Check call."""
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=self.service), timeout=PROBE_TIMEOUT_S)
            except grpc.RpcError as error:
                return Health(False, f"gRPC {error.code().name}")
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return Health(reply.status == health_pb2.HealthCheckResponse.SERVING, status)


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpProbe:
    """Healthy when something accepts a TCP connection on host:port."""

    host: str
    port: int

    def check(self) -> Health:
        """One connect."""
        try:
            with socket.create_connection((self.host, self.port), timeout=PROBE_TIMEOUT_S):
                return Health(True, f"port {self.port} open")
        except OSError as error:
            return Health(False, f"port {self.port}: {_reason(error)}")


Probe = HttpProbe | GrpcHealthProbe | TcpProbe


def metric_sum(url: str, name: str) -> int | None:
    """Sum of every sample of gauge/counter `name` on the Prometheus endpoint `url`, or None if unreadable/absent."""
    return metric_sums(url, (name,))[name]


def metric_sums(url: str, names: Sequence[str]) -> dict[str, int | None]:
    """Each of `names` summed over its samples on `url` (None if unreadable/absent), from one scrape.

    Only the lines of those metrics are parsed: a service's page is mostly histogram buckets, and parsing all of
    it once per gauge every second was a tenth of the load generator's CPU, on the cores the stack shares."""
    totals: dict[str, int | None] = dict.fromkeys(names)
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
            text = response.read(METRICS_BYTES_MAX).decode()
    except (OSError, ValueError):
        return totals
    wanted = tuple(names)
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(wanted):  # comments, other metrics
            continue
        if "{" in line:  # name{labels} value: label values may hold spaces, the value follows the last brace
            name, value = line[: line.index("{")], line[line.rindex("}") + 1 :].split()[0]
        else:
            name, value = line.split()[:2]
        if name in totals:
            sums[name] = sums.get(name, 0.0) + float(value)
    totals.update({name: int(total) for name, total in sums.items()})
    return totals


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
    return str(reason)
