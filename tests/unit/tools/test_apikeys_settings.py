"""Where `python -m tools.apikeys` writes: the flags (or GATEWAY_CQL_* variables), else the running stack's saved
settings, so a key lands in the keyspace that stack's gateway reads, else the local defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.apikeys import _where
from tools.stack_config import from_env


def test_a_saved_stack_supplies_what_no_flag_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_HOME", str(tmp_path))
    assert _where(None, None, None) == (["127.0.0.1"], 9042, "exchange")  # nothing saved: the local defaults
    from_env({"STACK_HOME": str(tmp_path), "STACK_CQL_KEYSPACE": "trial_ks", "STACK_CQL_PORT": "19042",
              "STACK_CQL_CONTACT_POINTS": "10.0.0.1,10.0.0.2"}).save()
    assert _where(None, None, None) == (["10.0.0.1", "10.0.0.2"], 19042, "trial_ks")
    assert _where("127.0.0.1", 9042, "mine") == (["127.0.0.1"], 9042, "mine")  # given wins
