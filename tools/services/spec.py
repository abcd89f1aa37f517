"""What the service runner needs to know about one service: how to start it, what it needs, how to tell it is healthy.

Adding a service is one `ServiceSpec` in `tools/services/catalog.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tools.services.probes import Probe

READY_DEADLINE_S_DEFAULT = 60.0
STOP_TIMEOUT_S_DEFAULT = 15.0
MIGRATE_TIMEOUT_S_DEFAULT = 120.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSpec:
    """One service process.

    `argv` runs from the repository root with `env` added to the runner's environment. `needs` names services
    started (and healthy) before this one; `infra` names the local infrastructure components it uses. `migrate`,
    if set, is a command run to completion (exit 0) before the service starts. `enabled` is False while the
    service's code has not landed yet (`disabled_reason` says why); such a service is listed but never started.
    `lag_metrics` are Prometheus gauges on `metrics_url` summed into the status "lag" column.
    """

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    probe: Probe
    health_note: str = ""
    needs: tuple[str, ...] = ()
    infra: tuple[str, ...] = ()
    migrate: tuple[str, ...] | None = None
    metrics_url: str | None = None
    lag_metrics: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    enabled: bool = True
    disabled_reason: str = ""
    ready_deadline_s: float = READY_DEADLINE_S_DEFAULT
    stop_timeout_s: float = STOP_TIMEOUT_S_DEFAULT
    migrate_timeout_s: float = MIGRATE_TIMEOUT_S_DEFAULT
