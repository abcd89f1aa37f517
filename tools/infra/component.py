"""What the runner needs to know about one infrastructure component, and probes shared by components."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from tools.infra.layout import HOST

PORT_PROBE_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentSpec:
    """One component: how to start it, how to tell it is ready, and what to set up once it is.

    `prepare` writes the component's configuration (and, on first start, formats its storage) and returns
    the argv of its JVM. `probe` is a cheap readiness check, called repeatedly until it returns True.
    `bootstrap` runs once the probe passes and must be idempotent (create topics, keyspace, if missing).
    `after` names components that must be ready before this one starts, when they are started together.
    """

    name: str
    main_class: str
    port: int | None
    ready_deadline_s: float
    stop_timeout_s: float
    prepare: Callable[[], list[str]]
    probe: Callable[[], bool]
    bootstrap: Callable[[], None]
    after: tuple[str, ...] = ()


def port_open(port: int, host: str = HOST) -> bool:
    """Return True if something accepts TCP connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=PORT_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False
