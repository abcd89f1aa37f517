"""`python -m tools.services.supervise --pid-file F --exit-file E --marker M -- ARGV...`: run a service, record its end.

The runner starts every service through this small parent, detached in its own session, so that after the CLI
has exited someone still collects the service's exit status: it writes the service's pid (with its start time,
as `tools.infra.process` pid files do) to `--pid-file` once started, and `{"code": N}` to `--exit-file` when it
ends (N < 0: killed by signal -N). It never restarts anything: a crash stays visible in `bin/stack status`.

The runner stops a service by signalling the whole process group (this parent and the service), so SIGTERM and
SIGINT are ignored here rather than forwarded (the service gets them directly) and this parent waits for the
service to end. Its own stdout/stderr are the service's log file, which the service inherits.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from tools.infra import process
from tools.infra.layout import REPO_ROOT


def _ignore(signum: int, _frame: FrameType | None) -> None:
    """The service got the same group signal; this parent only waits for it to end."""


def main(argv: list[str] | None = None) -> int:
    """Start the service, record its pid, wait for it, record and return its exit code."""
    parser = argparse.ArgumentParser(prog="python -m tools.services.supervise")
    parser.add_argument("--pid-file", type=Path, required=True)
    parser.add_argument("--exit-file", type=Path, required=True)
    parser.add_argument("--marker", required=True, help="a string of the service's command line (pid reuse check)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    signal.signal(signal.SIGTERM, _ignore)
    signal.signal(signal.SIGINT, _ignore)
    args.exit_file.unlink(missing_ok=True)
    # The service's own default signal handling is restored by exec (handlers do not survive it).
    child = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
    process.wait_exec_visible(child.pid, args.marker)
    ticks = process.start_ticks(child.pid)
    args.pid_file.write_text(json.dumps({"pid": child.pid, "start_ticks": ticks if ticks is not None else -1,
                                         "main_class": args.marker}))
    code = child.wait()
    args.exit_file.write_text(json.dumps({"code": code, "ended_at": time.strftime("%Y-%m-%dT%H:%M:%S")}))
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    print(process.log_line(f"supervisor: {args.marker} (pid {child.pid}) {how}", pid=child.pid, exit_code=code),
          end="", flush=True)  # fmt: skip
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
