"""Start, stop and report the services of the stack (the layer above `tools/infra/`).

`start` brings the selected services up in the catalog's order (each after what it needs), runs a service's
`migrate` command first if it has one, and waits until each one's health probe passes, with progress lines and a
deadline; on failure it prints the tail of the service's log. A service already running is only re-checked, so a
second `up` returns quickly. `stop` sends SIGTERM to each service's process group, in reverse order, and SIGKILL
after the service's deadline. Nothing is ever restarted behind the user's back: a crashed service shows as crashed
in `status` until someone starts it again (`up` says loudly that it does so).

Every service runs under `tools/services/supervise.py`, detached in its own session; files per service:
<home>/logs/<name>.log, <home>/run/<name>.pid (the service), <name>.supervisor.pid, <name>.exit (its exit code).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.infra import process
from tools.infra.errors import ComponentExited, ComponentTimeout, InfraError, PortBusy
from tools.infra.layout import REPO_ROOT
from tools.infra.runner import Printer
from tools.services.catalog import base_env
from tools.services.probes import Health, metric_sum
from tools.services.spec import ServiceSpec
from tools.stack_config import StackConfig

PROBE_INTERVAL_S = 0.25
PROGRESS_INTERVAL_S = 5.0
PID_FILE_DEADLINE_S = 10.0
SUPERVISOR_MARKER = "tools.services.supervise"



@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStatus:
    """One row of `bin/stack status`."""

    name: str
    pid: int | None
    state: str
    running: bool
    crashed: bool
    health: Health | None
    lag: str
    log_file: Path


class ServiceRunner:
    """Runs the services described by `specs` with the files and ports of `config`."""

    def __init__(self, config: StackConfig, specs: Sequence[ServiceSpec], *, out: Printer = print) -> None:
        self.config = config
        self.specs = {spec.name: spec for spec in specs}
        self.out = out

    # --- files -----------------------------------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        """Log file of service `name` (its stdout and stderr)."""
        return self.config.logs_dir / f"{name}.log"

    def _run_file(self, name: str, suffix: str) -> Path:
        return self.config.run_dir / f"{name}{suffix}"

    def _record(self, name: str) -> process.PidRecord | None:
        return process.read_pid_file(self._run_file(name, ".pid"))

    def _supervisor(self, name: str) -> process.PidRecord | None:
        return process.read_pid_file(self._run_file(name, ".supervisor.pid"))

    def _exit(self, name: str) -> dict[str, object] | None:
        try:
            return json.loads(self._run_file(name, ".exit").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _pid_text(self, name: str) -> str:
        record = self._record(name)
        return str(record.pid) if record is not None else "?"

    def is_running(self, name: str) -> bool:
        """True if the service process recorded for `name` is alive (and is the one we started)."""
        record = self._record(name)
        return record is not None and process.is_alive(record)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the stack's lock: two `up`/`down` at once would start or stop the same services twice."""
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.config.run_dir / "stack.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.out("  waiting for another `bin/stack up|down` to finish ...")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- selection -------------------------------------------------------------------------------------------
    def select(self, names: Sequence[str] | None) -> list[ServiceSpec]:
        """The named specs (all by default), in start order; raise InfraError on an unknown name."""
        unknown = set(names or ()) - set(self.specs)
        if unknown:
            raise InfraError(f"unknown service(s) {sorted(unknown)}; known: {list(self.specs)}")
        return [spec for name, spec in self.specs.items() if not names or name in names]

    # --- start -----------------------------------------------------------------------------------------------
    def start(self, names: Sequence[str] | None = None) -> None:
        """Start the selected enabled services in order, each waited on until healthy. Raises ComponentError."""
        for spec in self.select(names):
            if not spec.enabled:
                self.out(f"  {spec.name:<13} skipped: {spec.disabled_reason}")
                continue
            self._start_one(spec)

    def _start_one(self, spec: ServiceSpec) -> None:
        started_s = time.monotonic()
        if self.is_running(spec.name):
            self._wait_healthy(spec)
            self.out(f"  {spec.name:<13} already running (pid {self._pid_text(spec.name)}), healthy")
            return
        ended = self._exit(spec.name)
        if ended is not None and ended.get("code") != 0 and not ended.get("stopped_by_runner"):
            self.out(f"  {spec.name:<13} had CRASHED ({_describe_code(ended)}); starting it again as asked")
        answered = spec.probe.check()
        if answered.ok:  # the probe would pass for someone else's process, and ours would fail to bind
            raise PortBusy(spec.name, f"something this runner did not start already answers its health probe "
                           f"({answered.detail}); stop it or choose other ports", self.log_path(spec.name))
        if spec.migrate is not None:
            self._migrate(spec)
        self._spawn(spec)
        self._wait_healthy(spec)
        self.out(f"  {spec.name:<13} healthy in {time.monotonic() - started_s:.1f} s "
                 f"(pid {self._pid_text(spec.name)}, log {self.log_path(spec.name)})")

    def _env(self, spec: ServiceSpec) -> dict[str, str]:
        return {**os.environ, **base_env(), **spec.env}

    def _migrate(self, spec: ServiceSpec) -> None:
        assert spec.migrate is not None
        self.out(f"  {spec.name:<13} schema: {' '.join(spec.migrate[1:])} ...")
        log_file = self.log_path(spec.name)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            try:
                completed = subprocess.run(list(spec.migrate), cwd=REPO_ROOT, env=self._env(spec),
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                           timeout=spec.migrate_timeout_s, check=False)
            except subprocess.TimeoutExpired as error:
                raise ComponentTimeout(spec.name, f"migration not done after {spec.migrate_timeout_s:.0f} s",
                                       log_file) from error
        if completed.returncode != 0:
            raise ComponentExited(spec.name, f"migration exited with code {completed.returncode}; last log lines:\n"
                                  f"{process.log_tail(log_file)}\n", log_file)

    def _spawn(self, spec: ServiceSpec) -> None:
        pid_file = self._run_file(spec.name, ".pid")
        exit_file = self._run_file(spec.name, ".exit")
        pid_file.unlink(missing_ok=True)
        exit_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", SUPERVISOR_MARKER, "--pid-file", str(pid_file), "--exit-file", str(exit_file),
                "--marker", _marker(spec.argv), "--", *spec.argv]
        supervisor = process.spawn_detached(argv, main_class=SUPERVISOR_MARKER, log_file=self.log_path(spec.name),
                                            pid_file=self._run_file(spec.name, ".supervisor.pid"), env=self._env(spec))
        deadline_s = time.monotonic() + PID_FILE_DEADLINE_S
        while self._record(spec.name) is None and process.is_alive(supervisor):
            if time.monotonic() > deadline_s:
                raise ComponentTimeout(spec.name, "its supervisor did not start it", self.log_path(spec.name))
            time.sleep(PROBE_INTERVAL_S / 5)
        self.out(f"  {spec.name:<13} started pid {self._pid_text(spec.name)}, waiting for health "
                 f"({spec.health_note}) ...")

    def _wait_healthy(self, spec: ServiceSpec) -> None:
        started_s = time.monotonic()
        deadline_s = started_s + spec.ready_deadline_s
        last_report_s = started_s
        while True:
            if not self.is_running(spec.name):
                ended = self._exit(spec.name)
                why = _describe_code(ended) if ended else "ended"
                raise ComponentExited(spec.name, f"{why} before it was healthy; last log lines:\n"
                                      f"{process.log_tail(self.log_path(spec.name))}\n", self.log_path(spec.name))
            health = spec.probe.check()
            if health.ok:
                return
            now_s = time.monotonic()
            if now_s >= deadline_s:
                raise ComponentTimeout(spec.name, f"not healthy after {spec.ready_deadline_s:.0f} s ({health.detail}); "
                                       f"last log lines:\n{process.log_tail(self.log_path(spec.name))}\n",
                                       self.log_path(spec.name))
            if now_s - last_report_s >= PROGRESS_INTERVAL_S:
                last_report_s = now_s
                self.out(f"  {spec.name:<13} still waiting ({health.detail}), {now_s - started_s:.0f} s "
                         f"of {spec.ready_deadline_s:.0f} s")
            time.sleep(PROBE_INTERVAL_S)

    # --- stop ------------------------------------------------------------------------------------------------
    def stop(self, names: Sequence[str] | None = None) -> None:
        """Stop the selected services in reverse start order: SIGTERM to each group, SIGKILL after its deadline."""
        for spec in reversed(self.select(names)):
            self._stop_one(spec)

    def _stop_one(self, spec: ServiceSpec) -> None:
        supervisor = self._supervisor(spec.name)
        record = self._record(spec.name)
        if supervisor is None or not process.is_alive(supervisor):
            if record is not None and process.is_alive(record):  # its supervisor died: signal the service itself
                os.kill(record.pid, signal.SIGKILL)
            if record is not None:
                self.out(f"  {spec.name:<13} not running")
            self._forget(spec.name)
            return
        started_s = time.monotonic()
        killed = process.stop(supervisor, term_timeout_s=spec.stop_timeout_s)
        if record is not None and not _await_exit(record, timeout_s=spec.stop_timeout_s):
            # The supervisor can be gone a moment before its service (SIGKILL reaches the group member by
            # member); `down` must leave nothing behind, so wait for the service itself, killing it if need be.
            os.kill(record.pid, signal.SIGKILL)
            killed = True
            _await_exit(record, timeout_s=spec.stop_timeout_s)
        ended = self._exit(spec.name) or {"code": -signal.SIGKILL}
        self._run_file(spec.name, ".exit").write_text(json.dumps({**ended, "stopped_by_runner": True}))
        self._forget(spec.name)
        how = "killed (SIGKILL) after the SIGTERM deadline" if killed else f"stopped ({_describe_code(ended)})"
        self.out(f"  {spec.name:<13} {how} in {time.monotonic() - started_s:.1f} s")

    def _forget(self, name: str) -> None:
        self._run_file(name, ".pid").unlink(missing_ok=True)
        self._run_file(name, ".supervisor.pid").unlink(missing_ok=True)

    # --- status ----------------------------------------------------------------------------------------------
    def status(self, names: Sequence[str] | None = None) -> list[ServiceStatus]:
        """Probe every selected service: process state, health, lag."""
        return [self._status_one(spec) for spec in self.select(names)]

    def _status_one(self, spec: ServiceSpec) -> ServiceStatus:
        record = self._record(spec.name)
        running = record is not None and process.is_alive(record)
        ended = None if running else self._exit(spec.name)
        crashed = False
        if not spec.enabled:
            state = spec.disabled_reason
        elif running:
            state = "running"
        elif ended is not None:
            crashed = ended.get("code") != 0 and not ended.get("stopped_by_runner")
            prefix = "CRASHED" if crashed else ("stopped" if ended.get("stopped_by_runner") else "exited")
            state = f"{prefix} ({_describe_code(ended)})"
        elif record is not None and (supervisor := self._supervisor(spec.name)) is not None \
                and process.is_alive(supervisor):
            state = "ending (exit code not yet recorded)"  # its supervisor is about to write it
        elif record is not None:
            crashed = True
            state = "CRASHED (gone, with its supervisor: no exit code)"
        else:
            state = "not started"
        return ServiceStatus(
            name=spec.name, pid=record.pid if running and record else None, state=state, running=running,
            crashed=crashed, health=spec.probe.check() if running else None,
            lag=self._lag(spec) if running else "-", log_file=self.log_path(spec.name),
        )

    @staticmethod
    def _lag(spec: ServiceSpec) -> str:
        if spec.metrics_url is None or not spec.lag_metrics:
            return "-"
        parts = []
        for metric in spec.lag_metrics:
            value = metric_sum(spec.metrics_url, metric)
            if value is not None:
                parts.append(f"{value} {metric.rsplit('_', 1)[-1]}")
        return ", ".join(parts) or "not reported yet"


def format_status(rows: Sequence[ServiceStatus]) -> str:
    """Render service rows as a table, each column as wide as its widest cell."""
    table = [("service", "pid", "state", "health", "lag", "log")]
    for row in rows:
        health = "-" if row.health is None else f"{'healthy' if row.health.ok else 'UNHEALTHY'} ({row.health.detail})"
        pid = str(row.pid) if row.pid is not None else "-"
        table.append((row.name, pid, row.state, health, row.lag, str(row.log_file)))
    widths = [max(len(cells[column]) for cells in table) for column in range(len(table[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False)) + "  " + cells[-1]
                     for cells in table)


def _describe_code(ended: dict[str, object]) -> str:
    code = ended.get("code")
    if isinstance(code, int) and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit {code}"


def _marker(argv: Sequence[str]) -> str:
    """What identifies the service in /proc/<pid>/cmdline: the module of `python -m X`, else the program."""
    if len(argv) >= 3 and argv[1] == "-m":
        return argv[2]
    return argv[0]


__all__ = ["ServiceRunner", "ServiceStatus", "format_status"]


def _await_exit(record: process.PidRecord, *, timeout_s: float) -> bool:
    """Wait up to `timeout_s` for the process of `record` to end; return True if it has."""
    deadline = time.monotonic() + timeout_s
    while process.is_alive(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(process.STOP_POLL_INTERVAL_S)
    return True
