"""UBSCore settings from the environment: defaults, overrides, and malformed values refused with the variable named."""

from __future__ import annotations

import pytest

from common.errors import ConfigInvalid
from ubscore.config import FeedEndpoints, UbscoreConfig, parse_feeds


def test_defaults_serve_shard_zero_on_the_seed_ports() -> None:
    config = UbscoreConfig.from_env({})
    assert config.feeds == (FeedEndpoints(shard_id=0, pub_endpoint="tcp://127.0.0.1:5558",
                                          replay_endpoint="tcp://127.0.0.1:5559"),)  # fmt: skip
    assert (config.operations_topic, config.events_topic, config.orders_topic) == (
        "balance.operations", "balance.events", "orders",
    )  # fmt: skip
    assert (config.aeron_channel, config.aeron_stream_id, config.metrics_port) == ("aeron:ipc", 1001, 9102)


def test_every_shard_of_the_feed_list_is_parsed_and_empty_means_none() -> None:
    feeds = parse_feeds("0=tcp://a:1|tcp://a:2, 1=tcp://b:1|tcp://b:2")
    assert [(f.shard_id, f.pub_endpoint, f.replay_endpoint) for f in feeds] == [
        (0, "tcp://a:1", "tcp://a:2"), (1, "tcp://b:1", "tcp://b:2"),
    ]  # fmt: skip
    assert UbscoreConfig.from_env({"UBSCORE_FEEDS": ""}).feeds == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UBSCORE_FEEDS", "x=tcp://a:1|tcp://a:2"),
        ("UBSCORE_FEEDS", "0=tcp://a:1"),
        ("UBSCORE_FEEDS", "0=tcp://a:1|tcp://a:2,0=tcp://b:1|tcp://b:2"),
        ("UBSCORE_BATCH_RECORDS_MAX", "0"),
        ("UBSCORE_IN_FLIGHT_MAX", "0"),
        ("UBSCORE_METRICS_PORT", "70000"),
        ("UBSCORE_OPERATIONS_PARTITIONS", "0,x"),
        ("UBSCORE_SNAPSHOT_INPUTS", "many"),
    ],
)
def test_malformed_setting_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigInvalid, match=name):
        UbscoreConfig.from_env({name: value})
