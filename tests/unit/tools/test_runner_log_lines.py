"""The stack runner's own lines in a service's log are JSON shaped like the service's, so jq reads the whole file."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tools.infra import process


def test_a_runner_line_is_one_json_object_with_the_services_keys() -> None:
    line = process.log_line("starting", argv="python -m matcher", argv_file="/run/matcher.argv")
    assert line.endswith("\n")
    assert line.count("\n") == 1
    record = json.loads(line)
    assert (record["level"], record["logger"], record["message"], record["argv"]) == (
        "INFO", "stack", "starting", "python -m matcher")
    assert set(record) >= {"asctime", "level", "logger", "message"}


def test_spawn_detached_writes_its_starting_line_as_json(tmp_path: Path) -> None:
    log_file, pid_file = tmp_path / "svc.log", tmp_path / "svc.pid"
    record = process.spawn_detached([sys.executable, "-c", "print('{\"message\": \"hello\"}')"], main_class="-c",
                                    log_file=log_file, pid_file=pid_file)  # fmt: skip
    deadline_s = time.monotonic() + 10
    while process.is_alive(record) and time.monotonic() < deadline_s:
        time.sleep(0.01)
    lines = log_file.read_text().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["starting", "hello"]
