"""common/logs.py: one JSON object per line with the ids from `extra`, or a plain line with LOG_FORMAT=text."""

from __future__ import annotations

import json
import logging

import pytest

from common import logs


@pytest.fixture(autouse=True)
def _restore_root_logger() -> object:
    """configure() replaces the root handlers; put pytest's back so later tests log as before."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _emit(capsys: pytest.CaptureFixture[str], log_format: str) -> str:
    logs.configure("DEBUG", log_format)
    logging.getLogger("ubscore").info("order admitted %d", 7, extra={"order_id": 7, "client_order_id": "c-1"})
    return capsys.readouterr().err


def test_configure_json_one_object_per_line_with_extra_ids(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _emit(capsys, "json").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "INFO"
    assert record["logger"] == "ubscore"
    assert record["message"] == "order admitted 7"
    assert record["order_id"] == 7
    assert record["client_order_id"] == "c-1"
    assert "asctime" in record


def test_configure_text_appends_extra_as_key_value(capsys: pytest.CaptureFixture[str]) -> None:
    line = _emit(capsys, "text").strip()
    assert " INFO ubscore order admitted 7 order_id=7 client_order_id=c-1" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_configure_reads_log_format_from_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "text")
    logs.configure("INFO")
    logging.getLogger("matcher").info("hello")
    assert capsys.readouterr().err.rstrip().endswith("INFO matcher hello")


def test_configure_unknown_format_refused() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.configure("INFO", "xml")


def test_exception_traceback_kept_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("settlement").exception("failed", extra={"shard": 1, "seq": 9})
    record = json.loads(capsys.readouterr().err)
    assert record["shard"] == 1
    assert record["seq"] == 9
    assert "RuntimeError: boom" in record["exc_info"]
