"""Matcher settings: defaults, environment overrides, and refusal of malformed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigInvalid
from matcher.config import MatcherConfig


def test_defaults_match_the_documented_ports_and_paths() -> None:
    """With no environment, shard 0 owns partitions 0-3 of `orders` and uses ports 5558/5559/9101."""
    config = MatcherConfig.from_env({})

    assert (config.shard_id, config.partitions, config.topic) == (0, (0, 1, 2, 3), "orders")
    assert config.pub_endpoint == "tcp://127.0.0.1:5558"
    assert config.replay_endpoint == "tcp://127.0.0.1:5559"
    assert config.metrics_port == 9101
    assert config.state_dir.name == "matcher-0"
    assert config.wal_dir == config.state_dir / "wal"


def test_environment_overrides_every_setting(tmp_path: Path) -> None:
    """MATCHER_* variables replace the defaults; the state dir follows the shard id unless given."""
    config = MatcherConfig.from_env(
        {"MATCHER_SHARD_ID": "2", "MATCHER_PARTITIONS": "1, 3", "MATCHER_TOPIC": "orders.test.x",
         "MATCHER_METRICS_PORT": "0", "MATCHER_BATCH_RECORDS_MAX": "10", "MATCHER_SNAPSHOT_OUTPUTS": "5"}
    )

    assert (config.shard_id, config.partitions, config.topic) == (2, (1, 3), "orders.test.x")
    assert (config.metrics_port, config.batch_records_max, config.snapshot_outputs) == (0, 10, 5)
    assert config.state_dir.name == "matcher-2"
    assert MatcherConfig.from_env({"MATCHER_STATE_DIR": str(tmp_path)}).state_dir == tmp_path


@pytest.mark.parametrize(
    "environ",
    [
        {"MATCHER_SHARD_ID": "one"},
        {"MATCHER_PARTITIONS": "0,0"},
        {"MATCHER_PARTITIONS": "a"},
        {"MATCHER_BATCH_RECORDS_MAX": "0"},
        {"MATCHER_BATCH_RECORDS_MAX": "1000000"},
        {"MATCHER_METRICS_PORT": "70000"},
    ],
)
def test_malformed_values_raise_config_invalid(environ: dict[str, str]) -> None:
    """A bad value names the variable instead of failing later."""
    with pytest.raises(ConfigInvalid, match="MATCHER_"):
        MatcherConfig.from_env(environ)


def test_service_refuses_to_start_with_assertions_disabled() -> None:
    """`python -O -m matcher` exits at once with a message instead of running without its invariant checks."""
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-O", "-m", "matcher"], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )

    assert completed.returncode != 0
    assert "assertions are disabled" in completed.stderr
