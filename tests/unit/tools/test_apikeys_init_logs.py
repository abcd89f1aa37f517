"""`python -m tools.apikeys init` is the gateway's schema step: its output is appended to the gateway's log, so it
prints nothing on stdout and logs JSON lines only (common/logs.py), success or failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import typer

from tools import apikeys

pytestmark = pytest.mark.usefixtures("restore_root_logger")


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_init_logs_one_json_line_and_prints_nothing(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)

    @contextmanager
    def store(*_where: object) -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(table="trial_ks.api_keys")  # the real one has created the table by now

    monkeypatch.setattr(apikeys, "_store", store)
    apikeys.init(cql_hosts="127.0.0.1", cql_port=9042, keyspace="trial_ks")
    captured = capfd.readouterr()
    assert captured.out == ""
    [line] = [line for line in _json_lines(captured.err) if line["logger"] == "tools.apikeys"]
    assert line["level"] == "INFO"
    assert line["message"] == "api_keys table present: trial_ks.api_keys"
    assert line["table"] == "trial_ks.api_keys"


def test_init_failure_is_a_json_line_and_exit_code_1(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)

    @contextmanager
    def store(*_where: object) -> Iterator[SimpleNamespace]:
        raise ConnectionRefusedError("no CQL here")
        yield SimpleNamespace()  # unreachable; makes this a generator

    monkeypatch.setattr(apikeys, "_store", store)
    with pytest.raises(typer.Exit) as exited:
        apikeys.init(cql_hosts="127.0.0.1", cql_port=1, keyspace="trial_ks")
    assert exited.value.exit_code == 1
    captured = capfd.readouterr()
    assert captured.out == ""
    [line] = _json_lines(captured.err)
    assert line["level"] == "CRITICAL"
    assert line["message"] == "api_keys table not created: no CQL here"
    assert "ConnectionRefusedError" in line["exc_info"]
