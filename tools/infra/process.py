"""Detached background processes with pid files: spawn, liveness, resident memory, stop.

A pid file stores the pid together with the process start time (from /proc) so that a pid reused by an
unrelated process after a crash or reboot is never mistaken for our component, nor signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.infra.errors import JavaNotFound

STOP_POLL_INTERVAL_S = 0.1
LOG_TAIL_LINES = 15
LOG_ROTATE_BYTES = 64 * 1024 * 1024
LOG_LINE_CHARS_MAX = 400
LOG_ARG_CHARS_MAX = 200
EXEC_VISIBLE_TIMEOUT_S = 5.0
EXEC_POLL_INTERVAL_S = 0.01

_CHILDREN: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True, slots=True, kw_only=True)
class PidRecord:
    """A process we started: its pid, its start time in clock ticks since boot, and its main class."""

    pid: int
    start_ticks: int
    main_class: str


def java_executable() -> str:
    """Return the `java` to run the components with: $JAVA_HOME/bin/java if set, else `java` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise JavaNotFound("no `java` on PATH and no JAVA_HOME; install a Java 17+ runtime")
    return found


def start_ticks(pid: int) -> int | None:
    """Return the start time of `pid` (field 22 of /proc/pid/stat), or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def log_line(message: str, **fields: object) -> str:
    """One JSON line of the runner's own in a process's log, shaped like the services' (common/logs.py), so the
    whole file stays one JSON object per line for jq."""
    now = time.time()
    asctime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
    return json.dumps({"asctime": asctime, "level": "INFO", "logger": "stack", "message": message, **fields}) + "\n"


def spawn_detached(
    argv: Sequence[str], *, main_class: str, log_file: Path, pid_file: Path, env: Mapping[str, str] | None = None
) -> PidRecord:
    """Start `argv` in its own session (so it outlives us), output appended to `log_file`; write `pid_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    if log_file.exists() and log_file.stat().st_size > LOG_ROTATE_BYTES:
        log_file.replace(log_file.with_suffix(log_file.suffix + ".1"))  # keep one previous log, bound disk use
    pid_file.with_suffix(".argv").write_text("\n".join(argv) + "\n")
    shown = " ".join(arg if len(arg) <= LOG_ARG_CHARS_MAX else f"{arg[:LOG_ARG_CHARS_MAX]}...({len(arg)} chars)"
                     for arg in argv)
    with log_file.open("ab") as log:
        log.write(log_line("starting", argv=shown, argv_file=str(pid_file.with_suffix(".argv"))).encode())
        log.flush()
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=dict(env) if env is not None else None,
            cwd=str(log_file.parent),
        )
    _CHILDREN.append(child)  # kept so the object is never collected while the process runs (no warning)
    wait_exec_visible(child.pid, main_class)
    ticks = start_ticks(child.pid)
    record = PidRecord(pid=child.pid, start_ticks=ticks if ticks is not None else -1, main_class=main_class)
    pid_file.write_text(json.dumps({"pid": record.pid, "start_ticks": record.start_ticks, "main_class": main_class}))
    return record


def wait_exec_visible(pid: int, main_class: str) -> None:
    """Wait until /proc shows the new program's command line (or the process is gone).

    Popen returns once exec has passed its point of no return, but the kernel sets up the new command line
    a moment later; reading it in that window would show our own and make `is_alive` report a false exit.
    """
    deadline = time.monotonic() + EXEC_VISIBLE_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if main_class.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return
        except FileNotFoundError:
            return
        if start_ticks(pid) is None:  # already exited (a zombie has an empty command line)
            return
        time.sleep(EXEC_POLL_INTERVAL_S)


def read_pid_file(pid_file: Path) -> PidRecord | None:
    """Return the record in `pid_file`, or None if there is none or it is unreadable."""
    try:
        data = json.loads(pid_file.read_text())
        return PidRecord(pid=int(data["pid"]), start_ticks=int(data["start_ticks"]), main_class=str(data["main_class"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def is_alive(record: PidRecord) -> bool:
    """Return True if the process in `record` still runs and is the one we started (not a reused pid)."""
    _reap(record.pid)
    ticks = start_ticks(record.pid)
    if ticks is None:
        return False
    if record.start_ticks >= 0 and ticks != record.start_ticks:
        return False
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return record.main_class.encode() in cmdline


def _reap(pid: int) -> None:
    """Collect the exit status of `pid` if it is our own child (started by this process), so no zombie stays."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def rss_mb(pid: int) -> float | None:
    """Return the resident set size of `pid` in MiB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def stop(record: PidRecord, *, term_timeout_s: float) -> bool:
    """SIGTERM the process group of `record`, SIGKILL it after `term_timeout_s`; return True if it was killed."""
    if not is_alive(record):
        return False
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + term_timeout_s
    while time.monotonic() < deadline:
        if not is_alive(record):
            return False
        time.sleep(STOP_POLL_INTERVAL_S)
    _signal_group(record.pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + term_timeout_s
    while is_alive(record) and time.monotonic() < kill_deadline:
        time.sleep(STOP_POLL_INTERVAL_S)
    return True


def _signal_group(pid: int, signum: int) -> None:
    # The JVM leads its own session and process group (start_new_session), so pgid == pid.
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signum)


def log_tail(log_file: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last `lines` lines of `log_file` (empty if it does not exist)."""
    try:
        with log_file.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(line[:LOG_LINE_CHARS_MAX] for line in text.splitlines()[-lines:])
