"""Foreground mode (`bin/stack run`) and `bin/stack logs`: every process's log lines, prefixed with its name.

`run` starts the stack exactly as `up` does (services detached, each writing its own log file) and then follows
the log files, so what is shown is what is kept on disk. Ctrl-C (SIGINT) or SIGTERM stops the services and the
local infrastructure this run started (components that were already running are left running). A service that
dies meanwhile is reported once (`[stack] ... exited ..., not restarted`) and the others keep running.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from tools.infra import runner as infra_runner
from tools.infra.layout import log_path as infra_log_path
from tools.infra.runner import Printer
from tools.services import lifecycle
from tools.services.catalog import build_specs
from tools.services.runner import ServiceRunner
from tools.stack_config import StackConfig

FOLLOW_INTERVAL_S = 0.1
WATCH_INTERVAL_S = 1.0
READ_BYTES_MAX = 1024 * 1024
LINE_CHARS_MAX = 2_000



class LogFollower:
    """Prints the lines appended to a set of files, each prefixed with its name; thread-safe output."""

    def __init__(self, files: Mapping[str, Path], out: Printer, *, from_start: bool = False) -> None:
        self.files = dict(files)
        self.out = out
        self.width = max((len(name) for name in self.files), default=0)
        self.offsets = {name: 0 if from_start else _size(path) for name, path in self.files.items()}
        self.partial = {name: b"" for name in self.files}
        self.lock = threading.Lock()

    def emit(self, name: str, line: str) -> None:
        """Print one line under `name` (also used for the runner's own notes)."""
        with self.lock:
            self.out(f"{name:<{self.width}} | {line[:LINE_CHARS_MAX]}")

    def poll(self) -> int:
        """Print every complete line appended since the last call; return how many were printed."""
        printed = 0
        for name, path in self.files.items():
            size = _size(path)
            if size < self.offsets[name]:  # rotated or truncated: start again from its beginning
                self.offsets[name], self.partial[name] = 0, b""
            if size == self.offsets[name]:
                continue
            with path.open("rb") as handle:
                handle.seek(self.offsets[name])
                chunk = handle.read(READ_BYTES_MAX)
            self.offsets[name] += len(chunk)
            *lines, self.partial[name] = (self.partial[name] + chunk).split(b"\n")
            for line in lines:
                self.emit(name, line.decode(errors="replace").rstrip("\r"))
                printed += 1
        return printed

    def follow(self, stop: threading.Event) -> None:
        """Poll until `stop` is set, then print what is left."""
        while not stop.is_set():
            if not self.poll():
                stop.wait(FOLLOW_INTERVAL_S)
        self.poll()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def log_files(config: StackConfig, services: ServiceRunner, names: Sequence[str] | None) -> dict[str, Path]:
    """Log file per process: the local infrastructure's, then the selected enabled services'."""
    files = {} if names else {component: infra_log_path(component) for component in config.local_infra()}
    files.update({spec.name: services.log_path(spec.name) for spec in services.select(names) if spec.enabled})
    return files


class _Stop(Exception):
    """SIGTERM or SIGINT (Ctrl-C) in foreground mode: unwinds the run to its shutdown."""


def _raise_stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def run(config: StackConfig, names: Sequence[str] | None = None, *, out: Printer = print) -> int:
    """Start the stack, stream the logs until SIGINT/SIGTERM, then stop what this run started; return 0 or 1."""
    already_up = {row.name for row in infra_runner.status(config.local_infra()) if row.ready} \
        if config.local_infra() else set()
    services = ServiceRunner(config, build_specs(config), out=out)
    already_running = {spec.name for spec in services.select(names) if services.is_running(spec.name)}
    follower = LogFollower(log_files(config, services, names), out)
    stop_following = threading.Event()
    thread = threading.Thread(target=follower.follow, args=(stop_following,), name="follow-logs", daemon=True)
    previous_term = signal.signal(signal.SIGTERM, _raise_stop)
    # Set, not inherited: a `make run &` from a script or CI starts with SIGINT ignored, and Ctrl-C must still stop.
    previous_int = signal.signal(signal.SIGINT, _raise_stop)

    def note(line: str) -> None:
        follower.emit("stack", line)

    code = 0
    try:
        thread.start()
        services = lifecycle.up(config, names, out=note)
        for line in lifecycle.endpoints_text(services).splitlines():
            note(line)
        note("streaming every log; Ctrl-C stops everything this run started")
        _watch(services, names, note)
    except (KeyboardInterrupt, _Stop):
        note("stopping (further Ctrl-C is ignored; each service gets SIGKILL after its deadline) ...")
    except Exception as error:
        note(f"FAILED: {error}")
        code = 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave services behind (each gets SIGKILL after its
        # deadline anyway).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _shutdown(config, services, names, already_up, already_running, note)
        stop_following.set()
        thread.join()
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
    return code


def _watch(services: ServiceRunner, names: Sequence[str] | None, note: Printer) -> None:
    """Report each service that stops running (it is not restarted); return never (until interrupted)."""
    alive = {spec.name for spec in services.select(names) if spec.enabled and services.is_running(spec.name)}
    while True:
        time.sleep(WATCH_INTERVAL_S)
        for name in sorted(alive):
            if not services.is_running(name):
                [row] = services.status([name])
                note(f"{name} {row.state}; not restarted (log {row.log_file})")
                alive.discard(name)


def _shutdown(config: StackConfig, services: ServiceRunner, names: Sequence[str] | None, already_up: set[str],
              already_running: set[str], note: Printer) -> None:
    """Stop the services and the local infrastructure this run started; what ran before it keeps running."""
    started_here = [spec.name for spec in services.select(names) if spec.name not in already_running]
    if already_running:
        note(f"left running (they were up before this run): {', '.join(sorted(already_running))}")
    if started_here:
        with services.locked():
            services.stop(started_here)
    infra_started_here = [component for component in config.local_infra() if component not in already_up]
    if infra_started_here and not names:
        infra_runner.down(infra_started_here, out=note)
    note("stopped")
