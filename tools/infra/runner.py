"""Bring the local infrastructure up, down, report its status, reset it.

`up` starts each selected component in its own thread: the media driver and Kafka at once, Cassandra once
those are ready (its start-up compiles and loads far more than the others, and on a 2-core machine
starting it alongside them would starve them). Every component is detached (own session, log file, pid
file) so it outlives the CLI; `up` on a running component only re-checks readiness and its bootstrap.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from tools.infra import aeron, artifacts, cassandra, kafka, process
from tools.infra.component import ComponentSpec, port_open
from tools.infra.errors import (
    ArtifactsUnavailable,
    ComponentError,
    ComponentExited,
    ComponentTimeout,
    InfraError,
    PortBusy,
)
from tools.infra.layout import RUN_DIR, aeron_dir, data_dir, log_path, pid_path

COMPONENTS: dict[str, ComponentSpec] = {spec.name: spec for spec in (aeron.SPEC, kafka.SPEC, cassandra.SPEC)}
PROBE_INTERVAL_S = 0.5
PROGRESS_INTERVAL_S = 10.0

LOCK_FILE = RUN_DIR / "infra.lock"

Printer = Callable[[str], None]
_T = TypeVar("_T")


@contextlib.contextmanager
def _exclusive(out: Printer) -> Iterator[None]:
    """Hold the runner's lock: two `infra up` at once would each start a Kafka and a Cassandra."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out(f"  waiting for another `bin/stack infra` command to finish (lock {LOCK_FILE}) ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(slots=True)
class Progress:
    """What one component's bring-up thread is doing, read by the main thread to show progress."""

    state: str = "pending"
    started_s: float = field(default_factory=time.monotonic)
    elapsed_s: float | None = None
    error: Exception | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentStatus:
    """One row of `infra status`."""

    name: str
    pid: int | None
    port: int | None
    ready: bool
    log_file: str
    rss_mb: float | None


def select(names: Sequence[str] | None) -> list[ComponentSpec]:
    """Return the specs named (all when empty), in start order."""
    wanted = set(names or COMPONENTS)
    unknown = wanted - set(COMPONENTS)
    if unknown:
        raise InfraError(f"unknown component(s) {sorted(unknown)}; known: {list(COMPONENTS)}")
    return [spec for name, spec in COMPONENTS.items() if name in wanted]


def up(names: Sequence[str] | None = None, *, out: Printer = print) -> dict[str, float]:
    """Start the selected components (idempotent); return seconds each took to be ready. Raises InfraError."""
    specs = select(names)
    with _exclusive(out):
        return _up(specs, out)


def _up(specs: list[ComponentSpec], out: Printer) -> dict[str, float]:
    for spec in specs:
        if spec.name not in artifacts.COMPONENTS:
            continue
        try:
            artifacts.classpath(spec.name)  # one at a time: concurrent Maven runs would share ~/.m2
        except Exception as error:
            raise ArtifactsUnavailable(f"{spec.name}: resolving jars from Maven Central failed: {error}") from error
    progress = {spec.name: Progress() for spec in specs}
    done = {spec.name: threading.Event() for spec in specs}
    threads = [
        threading.Thread(target=_bring_up_thread, args=(spec, progress, done, out), name=f"up-{spec.name}", daemon=True)
        for spec in specs
    ]
    for thread in threads:
        thread.start()
    _show_progress(threads, progress, out)
    failures = [item.error for item in progress.values() if item.error is not None]
    if failures:
        if len(failures) == 1:
            raise failures[0]
        raise InfraError("; ".join(str(failure) for failure in failures))
    return {name: item.elapsed_s or 0.0 for name, item in progress.items()}


def _show_progress(threads: list[threading.Thread], progress: dict[str, Progress], out: Printer) -> None:
    last_report_s = time.monotonic()
    while any(thread.is_alive() for thread in threads):
        time.sleep(PROBE_INTERVAL_S)
        if time.monotonic() - last_report_s >= PROGRESS_INTERVAL_S:
            last_report_s = time.monotonic()
            for name, item in progress.items():
                if item.elapsed_s is None:
                    out(f"  {name:<10} {item.state} ({time.monotonic() - item.started_s:.0f} s)")


def _bring_up_thread(
    spec: ComponentSpec, progress: dict[str, Progress], done: dict[str, threading.Event], out: Printer
) -> None:
    item = progress[spec.name]
    try:
        for dependency in spec.after:
            if dependency in done:
                item.state = f"waiting for {dependency}"
                done[dependency].wait()
        item.started_s = time.monotonic()
        outcome = _bring_up(spec, item, out)
        item.elapsed_s = time.monotonic() - item.started_s
        item.state = "ready"
        out(f"  {spec.name:<10} {outcome} in {item.elapsed_s:.1f} s")
    except Exception as error:
        item.error = error
        item.elapsed_s = time.monotonic() - item.started_s
        item.state = "failed"
        out(f"  {spec.name:<10} FAILED after {item.elapsed_s:.1f} s: {error}")
    finally:
        done[spec.name].set()


def _bring_up(spec: ComponentSpec, item: Progress, out: Printer) -> str:
    """Start `spec` unless it already runs, wait for readiness, bootstrap; return what happened."""
    record = process.read_pid_file(pid_path(spec.name))
    if record is not None and process.is_alive(record):
        item.state = "checking readiness"
        _wait_ready(spec, record)
        _guarded(spec, "set-up after start (topics, keyspace)", spec.bootstrap)
        return f"already up (pid {record.pid})"
    if spec.port is not None and port_open(spec.port):
        raise PortBusy(spec.name, f"port {spec.port} is in use by a process this runner did not start",
                       log_path(spec.name))
    item.state = "preparing"
    argv = _guarded(spec, "preparing config/storage", spec.prepare)
    item.state = "starting"
    record = process.spawn_detached(
        argv, main_class=spec.main_class, log_file=log_path(spec.name), pid_file=pid_path(spec.name)
    )
    out(f"  {spec.name:<10} started pid {record.pid}, log {log_path(spec.name)}")
    _wait_ready(spec, record)
    item.state = "bootstrapping"
    _guarded(spec, "set-up after start (topics, keyspace)", spec.bootstrap)
    return "ready"


def _guarded(spec: ComponentSpec, step: str, action: Callable[[], _T]) -> _T:
    """Run one step of a component's bring-up, reporting any failure as a ComponentError naming its log."""
    try:
        return action()
    except InfraError:
        raise
    except Exception as error:
        raise ComponentError(spec.name, f"{step} failed: {error!r}", log_path(spec.name)) from error


def _wait_ready(spec: ComponentSpec, record: process.PidRecord) -> None:
    deadline = time.monotonic() + spec.ready_deadline_s
    while True:
        if not process.is_alive(record):
            tail = process.log_tail(log_path(spec.name))
            raise ComponentExited(spec.name, f"exited before it was ready; last log lines:\n{tail}\n",
                                  log_path(spec.name))
        if spec.probe():
            return
        if time.monotonic() >= deadline:
            raise ComponentTimeout(spec.name, f"not ready after {spec.ready_deadline_s:.0f} s", log_path(spec.name))
        time.sleep(PROBE_INTERVAL_S)


def down(names: Sequence[str] | None = None, *, out: Printer = print) -> None:
    """Stop the selected components (SIGTERM, then SIGKILL after each one's deadline), in parallel."""
    specs = select(names)
    with _exclusive(out):
        _down(specs, out)


def _down(specs: list[ComponentSpec], out: Printer) -> None:
    threads = [
        threading.Thread(target=_stop_one, args=(spec, out), name=f"down-{spec.name}", daemon=True)
        for spec in reversed(specs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _stop_one(spec: ComponentSpec, out: Printer) -> None:
    record = process.read_pid_file(pid_path(spec.name))
    if record is None or not process.is_alive(record):
        out(f"  {spec.name:<10} not running")
        pid_path(spec.name).unlink(missing_ok=True)
        return
    started_s = time.monotonic()
    killed = process.stop(record, term_timeout_s=spec.stop_timeout_s)
    pid_path(spec.name).unlink(missing_ok=True)
    how = "killed (SIGKILL) after SIGTERM deadline" if killed else "stopped"
    out(f"  {spec.name:<10} {how} in {time.monotonic() - started_s:.1f} s (pid {record.pid})")


def reset(names: Sequence[str] | None = None, *, out: Printer = print) -> None:
    """Stop the selected components and delete their data (logs and configs are kept)."""
    specs = select(names)
    with _exclusive(out):
        _down(specs, out)
        _wipe(specs, out)


def _wipe(specs: list[ComponentSpec], out: Printer) -> None:
    for spec in specs:
        directory = aeron_dir() if spec.name == aeron.NAME else data_dir(spec.name)
        if directory.exists():
            shutil.rmtree(directory)
            out(f"  {spec.name:<10} wiped {directory}")


def status(names: Sequence[str] | None = None) -> list[ComponentStatus]:
    """Return the status of the selected components (readiness is probed, not assumed)."""
    rows = []
    for spec in select(names):
        record = process.read_pid_file(pid_path(spec.name))
        alive = record is not None and process.is_alive(record)
        rows.append(
            ComponentStatus(
                name=spec.name,
                pid=record.pid if alive and record is not None else None,
                port=spec.port,
                ready=alive and spec.probe(),
                log_file=str(log_path(spec.name)),
                rss_mb=process.rss_mb(record.pid) if alive and record is not None else None,
            )
        )
    return rows


def format_status(rows: Sequence[ComponentStatus]) -> str:
    """Render status rows as a fixed-width table."""
    lines = [f"{'component':<10} {'pid':>7} {'port':>6} {'ready':<5} {'rss_mb':>7}  log"]
    for row in rows:
        pid = str(row.pid) if row.pid is not None else "-"
        port = str(row.port) if row.port is not None else "-"
        rss = f"{row.rss_mb:.0f}" if row.rss_mb is not None else "-"
        lines.append(f"{row.name:<10} {pid:>7} {port:>6} {'yes' if row.ready else 'no':<5} {rss:>7}  {row.log_file}")
    return "\n".join(lines)


__all__ = ["COMPONENTS", "ComponentError", "ComponentStatus", "down", "format_status", "reset", "status", "up"]
