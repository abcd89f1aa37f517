"""Settlement settings: defaults for a local run, each overridable by an environment variable (read in __main__ only).

    SETTLEMENT_CQL_HOSTS            CQL contact points, comma separated (default 127.0.0.1)
    SETTLEMENT_CQL_PORT             CQL port (default 9042)
    SETTLEMENT_KEYSPACE             keyspace of the tables (default exchange; tests use a private one each)
    SETTLEMENT_SHARDS               matcher shards this instance persists: "id=pub_endpoint|replay_endpoint" entries,
                                    comma separated (default "0=tcp://127.0.0.1:5558|tcp://127.0.0.1:5559");
                                    "" = none. Every shard must be listed by exactly one instance.
    SETTLEMENT_KAFKA_BOOTSTRAP      Kafka bootstrap servers (default 127.0.0.1:9092)
    SETTLEMENT_BALANCE_TOPIC        UBSCore's events topic (default balance.events; "" = do not consume)
    SETTLEMENT_GROUP_ID             consumer group shared by all instances (default settlement)
    SETTLEMENT_METRICS_PORT         Prometheus HTTP port, 0 = off (default 9103)
    SETTLEMENT_MARKETS_PATH         markets file (default config/markets.yaml; fee assets of fills)
    SETTLEMENT_BATCH_INPUTS_MAX     most outputs + events projected and written per loop turn (default 2000)
    SETTLEMENT_IN_FLIGHT_MAX        most CQL batches in flight (default 32)
    SETTLEMENT_BATCH_ROWS_MAX       most rows per UNLOGGED batch (default 100)
    SETTLEMENT_COALESCE_REPLICAS    1 = small partitions with the same replica share a batch (default 1)
    SETTLEMENT_CQL_COMPRESSION      1 = LZ4 frame compression (for a cluster across a slow network; default 0: on
                                    this machine it only costs client CPU, the write rate's bound)
    SETTLEMENT_CQL_RETRY_DEADLINE_S give up (exit 1, restart resumes) after this long without a successful write
                                    (default 600)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from common.env import env_int
from common.errors import ConfigInvalid
from common.kafka import BOOTSTRAP_DEFAULT
from common.markets import DEFAULT_MARKETS_PATH
from settlement.cql import check_keyspace
from settlement.writer import BATCH_ROWS_MAX_DEFAULT, IN_FLIGHT_MAX_DEFAULT, RETRY_DEADLINE_S_DEFAULT

SHARDS_DEFAULT = "0=tcp://127.0.0.1:5558|tcp://127.0.0.1:5559"
METRICS_PORT_DEFAULT = 9103
BATCH_INPUTS_MAX_DEFAULT = 2_000
BATCH_INPUTS_LIMIT = 50_000
POLL_TIMEOUT_MS_DEFAULT = 20


@dataclass(frozen=True, slots=True)
class ShardFeed:
    """Where one matcher shard publishes and replays."""

    shard_id: int
    pub_endpoint: str
    replay_endpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementConfig:
    """Everything the settlement service needs to start; build with `from_env`."""

    cql_hosts: tuple[str, ...] = ("127.0.0.1",)
    cql_port: int = 9042
    keyspace: str = "exchange"
    shards: tuple[ShardFeed, ...] = ()
    kafka_bootstrap: str = BOOTSTRAP_DEFAULT
    balance_topic: str = "balance.events"
    group_id: str = "settlement"
    metrics_port: int = METRICS_PORT_DEFAULT
    markets_path: str = str(DEFAULT_MARKETS_PATH)
    batch_inputs_max: int = BATCH_INPUTS_MAX_DEFAULT
    poll_timeout_ms: int = POLL_TIMEOUT_MS_DEFAULT
    in_flight_max: int = IN_FLIGHT_MAX_DEFAULT
    batch_rows_max: int = BATCH_ROWS_MAX_DEFAULT
    coalesce_replicas: bool = True
    cql_compression: bool = False
    retry_deadline_s: float = RETRY_DEADLINE_S_DEFAULT

    def __post_init__(self) -> None:
        check_keyspace(self.keyspace)
        ids = [shard.shard_id for shard in self.shards]
        if len(set(ids)) != len(ids):
            raise ConfigInvalid(f"SETTLEMENT_SHARDS: a shard is listed twice: {ids}")
        if not self.shards and not self.balance_topic:
            raise ConfigInvalid("SETTLEMENT_SHARDS and SETTLEMENT_BALANCE_TOPIC are both empty: nothing to persist")
        if not 1 <= self.batch_inputs_max <= BATCH_INPUTS_LIMIT:
            raise ConfigInvalid(f"SETTLEMENT_BATCH_INPUTS_MAX={self.batch_inputs_max}: 1..{BATCH_INPUTS_LIMIT}")
        if not 1 <= self.in_flight_max <= 1024:
            raise ConfigInvalid(f"SETTLEMENT_IN_FLIGHT_MAX={self.in_flight_max}: 1..1024")
        if not 1 <= self.batch_rows_max <= 500:
            raise ConfigInvalid(f"SETTLEMENT_BATCH_ROWS_MAX={self.batch_rows_max}: 1..500")
        if not 0 <= self.metrics_port < 65536:
            raise ConfigInvalid(f"SETTLEMENT_METRICS_PORT={self.metrics_port}: not a port")
        if self.retry_deadline_s <= 0:
            raise ConfigInvalid(f"SETTLEMENT_CQL_RETRY_DEADLINE_S={self.retry_deadline_s}: must be > 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SettlementConfig:
        """Defaults overridden by SETTLEMENT_* variables; raise ConfigInvalid on a malformed value."""
        hosts = tuple(host.strip() for host in environ.get("SETTLEMENT_CQL_HOSTS", "127.0.0.1").split(",")
                      if host.strip())
        return cls(
            cql_hosts=hosts,
            cql_port=env_int(environ, "SETTLEMENT_CQL_PORT", 9042),
            keyspace=environ.get("SETTLEMENT_KEYSPACE", "exchange"),
            shards=parse_shards(environ.get("SETTLEMENT_SHARDS", SHARDS_DEFAULT)),
            kafka_bootstrap=environ.get("SETTLEMENT_KAFKA_BOOTSTRAP", BOOTSTRAP_DEFAULT),
            balance_topic=environ.get("SETTLEMENT_BALANCE_TOPIC", "balance.events"),
            group_id=environ.get("SETTLEMENT_GROUP_ID", "settlement"),
            metrics_port=env_int(environ, "SETTLEMENT_METRICS_PORT", METRICS_PORT_DEFAULT),
            markets_path=environ.get("SETTLEMENT_MARKETS_PATH", str(DEFAULT_MARKETS_PATH)),
            batch_inputs_max=env_int(environ, "SETTLEMENT_BATCH_INPUTS_MAX", BATCH_INPUTS_MAX_DEFAULT),
            in_flight_max=env_int(environ, "SETTLEMENT_IN_FLIGHT_MAX", IN_FLIGHT_MAX_DEFAULT),
            batch_rows_max=env_int(environ, "SETTLEMENT_BATCH_ROWS_MAX", BATCH_ROWS_MAX_DEFAULT),
            coalesce_replicas=env_int(environ, "SETTLEMENT_COALESCE_REPLICAS", 1) == 1,
            cql_compression=env_int(environ, "SETTLEMENT_CQL_COMPRESSION", 0) == 1,
            retry_deadline_s=float(env_int(environ, "SETTLEMENT_CQL_RETRY_DEADLINE_S", int(RETRY_DEADLINE_S_DEFAULT))),
        )


def parse_shards(text: str) -> tuple[ShardFeed, ...]:
    """"0=tcp://a:5558|tcp://a:5559,1=..." -> ShardFeeds; ConfigInvalid on anything else."""
    shards: list[ShardFeed] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        shard_text, _, endpoints = entry.partition("=")
        pub, _, replay = endpoints.partition("|")
        if not shard_text.strip().isdigit() or not pub or not replay:
            raise ConfigInvalid(f"SETTLEMENT_SHARDS entry {entry!r}: need id=pub_endpoint|replay_endpoint")
        shards.append(ShardFeed(int(shard_text), pub.strip(), replay.strip()))
    return tuple(shards)

