"""The stack settings: partition split between matcher shards, shard split between Settlement instances, ports,
external infrastructure, and the saved settings that status/down read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigInvalid
from tools.infra.layout import EPHEMERAL_RANGE_PATH, RESTARTABLE_PORT_MIN
from tools.services.catalog import build_specs
from tools.services.lifecycle import config_for_up
from tools.stack_config import Ports, StackConfig, from_env


def test_default_settings_use_each_services_own_ports_and_the_local_infrastructure() -> None:
    """With no STACK_* variable: one shard on 5558/5559/9101, REST on 3001, every infra component local."""
    config = from_env({})
    assert (config.matcher_shards, config.settlement_instances) == (1, 1)
    assert (config.ports.matcher_pub, config.ports.matcher_replay, config.ports.matcher_metrics) == (
        (5558,), (5559,), (9101,))
    assert (config.ports.gateway_grpc, config.ports.rest) == (50051, 3001)
    assert config.local_infra() == ["aeron", "kafka", "cassandra"]
    assert config.matcher_partitions(0) == (0, 1, 2, 3)


def test_matcher_shards_split_the_partitions_round_robin_with_distinct_ports() -> None:
    """Three shards own disjoint partitions covering all four, each with its own pub/replay/metrics port."""
    config = from_env({"STACK_MATCHER_SHARDS": "3"})
    owned = [config.matcher_partitions(shard) for shard in range(3)]
    assert owned == [(0, 3), (1,), (2,)]
    ports = [*config.ports.matcher_pub, *config.ports.matcher_replay, *config.ports.matcher_metrics]
    assert len(set(ports)) == len(ports)
    assert config.matcher_feeds() == ("0=tcp://127.0.0.1:5558|tcp://127.0.0.1:5559,"
                                      "1=tcp://127.0.0.1:5560|tcp://127.0.0.1:5561,"
                                      "2=tcp://127.0.0.1:5562|tcp://127.0.0.1:5563")


@pytest.mark.parametrize("shards", ["0", "5"])
def test_matcher_shards_outside_one_to_four_are_refused(shards: str) -> None:
    """A shard must own at least one of the four partitions, so 0 and 5 shards are refused."""
    with pytest.raises(ConfigInvalid):
        from_env({"STACK_MATCHER_SHARDS": shards})


def test_settlement_instances_share_the_shards_each_shard_exactly_once() -> None:
    """Two instances over three shards: every shard persisted by exactly one instance, each with its metrics port."""
    config = from_env({"STACK_MATCHER_SHARDS": "3", "STACK_SETTLEMENT_INSTANCES": "2"})
    assert [config.settlement_shards(instance) for instance in range(2)] == [(0, 2), (1,)]
    specs = {spec.name: spec for spec in build_specs(config)}
    assert specs["settlement-0"].env["SETTLEMENT_SHARDS"].count("=") == 2
    assert specs["settlement-1"].env["SETTLEMENT_SHARDS"] == "1=tcp://127.0.0.1:5560|tcp://127.0.0.1:5561"
    assert specs["settlement-1"].migrate is None  # the schema is migrated once, before the first instance
    assert specs["settlement-0"].migrate is not None
    assert config.ports.settlement_metrics == (9103, 9121)


def test_external_kafka_and_cql_are_not_started_and_reach_every_service() -> None:
    """External bootstrap servers and contact points replace the local Kafka and Cassandra everywhere."""
    config = from_env({"STACK_KAFKA_BOOTSTRAP": "k1:9092,k2:9092", "STACK_CQL_CONTACT_POINTS": "s1, s2",
                       "STACK_CQL_KEYSPACE": "prod", "STACK_CQL_REPLICATION_FACTOR": "3"})
    assert config.local_infra() == ["aeron"]
    specs = {spec.name: spec for spec in build_specs(config)}
    assert specs["matcher-0"].env["MATCHER_KAFKA_BOOTSTRAP"] == "k1:9092,k2:9092"
    assert specs["settlement-0"].env["SETTLEMENT_CQL_HOSTS"] == "s1,s2"
    assert specs["gateway"].env["GATEWAY_CQL_KEYSPACE"] == "prod"
    assert config.cql_replication_factor == 3


def test_keyspace_names_that_are_not_plain_cql_identifiers_are_refused() -> None:
    """The keyspace is spliced into CREATE KEYSPACE, so anything but [a-z][a-z0-9_]* is refused."""
    with pytest.raises(ConfigInvalid):
        from_env({"STACK_CQL_KEYSPACE": "x; DROP KEYSPACE exchange"})


def test_saved_settings_read_back_equal_including_free_ports(tmp_path: Path) -> None:
    """`up` saves the resolved settings (free ports included) and status/down load exactly them."""
    config = from_env({"STACK_HOME": str(tmp_path), "STACK_FREE_PORTS": "1", "STACK_MATCHER_SHARDS": "2"})
    config.save()
    assert StackConfig.load(tmp_path) == config
    assert StackConfig.load(tmp_path / "elsewhere") is None


def test_free_ports_are_all_distinct() -> None:
    """Every port of a free-port plan is different (they are held open together while picked) and lies below the
    kernel's ephemeral port range."""
    ports = Ports.free(matcher_shards=4, settlement_instances=3)
    numbers = [*ports.matcher_pub, *ports.matcher_replay, *ports.matcher_metrics, *ports.settlement_metrics,
               ports.ubscore_metrics, ports.gateway_grpc, ports.gateway_metrics, ports.rest]
    assert len(set(numbers)) == len(numbers) == 19
    # Below the ephemeral range: nothing binding port 0 or connecting out takes one while its service restarts.
    ephemeral_low = int(EPHEMERAL_RANGE_PATH.read_text().split()[0])
    assert all(RESTARTABLE_PORT_MIN <= number < ephemeral_low for number in numbers), numbers


def test_catalog_lists_services_in_dependency_order_and_enables_only_landed_ones() -> None:
    """Each service comes after what it needs; a Python service is enabled iff its package has __main__.py."""
    specs = build_specs(from_env({"STACK_MATCHER_SHARDS": "2"}))
    names = [spec.name for spec in specs]
    assert names[:2] == ["matcher-0", "matcher-1"]
    assert names[-1] == "rest"
    for spec in specs:
        assert all(names.index(need) < names.index(spec.name) for need in spec.needs)
        package = spec.argv[2] if spec.argv[1:2] == ("-m",) else None
        if package is not None:
            landed = (Path(__file__).resolve().parents[3] / package / "__main__.py").exists()
            assert spec.enabled == landed, spec.name


def test_private_streams_and_suffix_reach_ubscore_gateway_and_settlement() -> None:
    """A second stack on the same driver and broker (a test) gets its own Aeron streams and consumer group."""
    config = from_env({"STACK_AERON_STREAM_ID": "7001", "STACK_AERON_RESPONSE_STREAM_ID": "7002",
                       "STACK_TOPIC_SUFFIX": ".t1"})
    specs = {spec.name: spec for spec in build_specs(config)}
    assert specs["ubscore"].env["UBSCORE_AERON_STREAM_ID"] == "7001"
    assert specs["gateway"].env["GATEWAY_UBSCORE_STREAM_ID"] == "7001"
    assert specs["gateway"].env["GATEWAY_UBSCORE_RESPONSE_STREAM_ID"] == "7002"
    assert specs["settlement-0"].env["SETTLEMENT_GROUP_ID"] == "settlement.t1"
    assert specs["settlement-0"].env["SETTLEMENT_BALANCE_TOPIC"] == "balance.events.t1"
    with pytest.raises(ConfigInvalid):
        from_env({"STACK_AERON_STREAM_ID": "7001", "STACK_AERON_RESPONSE_STREAM_ID": "7001"})


def test_up_keeps_the_saved_shape_and_refuses_a_new_shard_count_once_matchers_hold_history(tmp_path: Path) -> None:
    """No service runs: `up` without flags keeps the last `up`'s two shards (it fell back to one, which re-matched
    shard 1's markets on shard 0); another shard count is refused while a matcher's state directory holds files,
    and allowed on a stack without history; Settlement instances may change."""
    environ = {"STACK_HOME": str(tmp_path)}
    saved = from_env({**environ, "STACK_MATCHER_SHARDS": "2"})
    saved.save()
    assert config_for_up(environ, matcher_shards=None, settlement_instances=None).matcher_shards == 2
    assert config_for_up(environ, matcher_shards=1, settlement_instances=None).matcher_shards == 1  # no history
    assert config_for_up(environ, matcher_shards=None, settlement_instances=2).settlement_instances == 2

    wal = saved.state_dir("matcher-1") / "wal"
    wal.mkdir(parents=True)
    (wal / "00000000000000000001.wal").write_bytes(b"x")
    for shards in (1, 3):
        with pytest.raises(ConfigInvalid, match="shard count cannot change"):
            config_for_up(environ, matcher_shards=shards, settlement_instances=None)
    with pytest.raises(ConfigInvalid, match="shard count cannot change"):
        config_for_up({**environ, "STACK_MATCHER_SHARDS": "1"}, matcher_shards=None, settlement_instances=None)
    assert config_for_up(environ, matcher_shards=2, settlement_instances=3).settlement_instances == 3
