"""Settlement settings from the environment: shards, keyspace and limits are checked when read."""

from __future__ import annotations

import pytest

from common.errors import ConfigInvalid
from settlement.config import SettlementConfig, ShardFeed


def test_from_env_reads_shards_and_overrides() -> None:
    """Two shards with their endpoints, a keyspace, no Kafka topic."""
    config = SettlementConfig.from_env({
        "SETTLEMENT_SHARDS": "1=tcp://a:1|tcp://a:2, 2=tcp://b:1|tcp://b:2",
        "SETTLEMENT_KEYSPACE": "st_test", "SETTLEMENT_BALANCE_TOPIC": "",
    })
    assert config.shards == (ShardFeed(1, "tcp://a:1", "tcp://a:2"), ShardFeed(2, "tcp://b:1", "tcp://b:2"))
    assert (config.keyspace, config.balance_topic) == ("st_test", "")


@pytest.mark.parametrize("environ", [
    {"SETTLEMENT_SHARDS": "x=tcp://a|tcp://b"},
    {"SETTLEMENT_SHARDS": "1=tcp://a"},
    {"SETTLEMENT_SHARDS": "1=tcp://a|tcp://b,1=tcp://c|tcp://d"},
    {"SETTLEMENT_SHARDS": "", "SETTLEMENT_BALANCE_TOPIC": ""},
    {"SETTLEMENT_KEYSPACE": "Bad-Name"},
    {"SETTLEMENT_IN_FLIGHT_MAX": "0"},
    {"SETTLEMENT_BATCH_ROWS_MAX": "many"},
])
def test_from_env_refuses_malformed_settings(environ: dict[str, str]) -> None:
    """Each broken setting is refused at start, naming the variable."""
    with pytest.raises(ConfigInvalid):
        SettlementConfig.from_env(environ)
