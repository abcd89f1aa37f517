"""Preparing a broker on a fresh machine: the storage format step logs into a directory nothing has created yet
(CI failed once with FileNotFoundError when Kafka was prepared before the Aeron driver's spawn made `.local/logs`)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tools.infra import kafka


def test_format_step_creates_the_log_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    formats: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        formats.append(argv)
        kwargs["stdout"].write(b"formatted\n")
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(kafka.artifacts, "classpath", lambda name: "kafka.jar")
    monkeypatch.setattr(kafka, "java_executable", lambda: "java")
    monkeypatch.setattr(kafka.subprocess, "run", run)
    log_file = tmp_path / "fresh" / "logs" / "kafka.log"

    argv = kafka.prepare_broker(conf_dir=tmp_path / "conf", log_dir=tmp_path / "data", log_file=log_file,
                                port=19092, controller_port=19093)

    assert log_file.read_bytes() == b"formatted\n"
    assert len(formats) == 1
    assert kafka.STORAGE_TOOL_CLASS in formats[0]
    assert argv[-2:] == [kafka.MAIN_CLASS, str(tmp_path / "conf" / "server.properties")]
