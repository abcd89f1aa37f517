"""Gateway settings: defaults for a local run, each overridable by an environment variable (read in __main__ only).

    GATEWAY_GRPC_ADDRESS          gRPC listen address (default 127.0.0.1:50051; the REST proxy dials it)
    GATEWAY_GRPC_WORKERS          gRPC worker threads, i.e. calls served at once (default 32)
    GATEWAY_METRICS_PORT          Prometheus HTTP port, 0 = off (default 9104)
    GATEWAY_KAFKA_BOOTSTRAP       Kafka bootstrap servers (default 127.0.0.1:9092)
    GATEWAY_TRANSFER_TOPIC        topic transfers go to, checked by the health service (default balance.operations)
    GATEWAY_BALANCE_EVENTS_TOPIC  UBSCore's balance events, for the user streams (default balance.events; empty = off)
    GATEWAY_CQL_HOSTS             CQL contact points, comma separated (default 127.0.0.1)
    GATEWAY_CQL_PORT              CQL port (default 9042)
    GATEWAY_CQL_KEYSPACE          keyspace of the api_keys table and the read models (default exchange)
    GATEWAY_MARKETS_PATH          markets file (default config/markets.yaml)
    GATEWAY_MATCHER_FEEDS         every matcher shard: "<shard>=<pub endpoint>|<replay endpoint>,..." (as
                                  UBSCORE_FEEDS); when unset, the one shard of the three settings below
    GATEWAY_MATCHER_SHARD_ID      the one matcher shard (default 0)
    GATEWAY_MATCHER_PUB_ENDPOINT  its ZeroMQ PUB endpoint (default tcp://127.0.0.1:5558; empty = no market feed)
    GATEWAY_MATCHER_REPLAY_ENDPOINT its replay endpoint (default tcp://127.0.0.1:5559)
    GATEWAY_AERON_DIR             Aeron media driver directory (default $AERON_DIR, else <repo>/.local/aeron)
    GATEWAY_UBSCORE_CHANNEL       UBSCore's request channel (default aeron:ipc)
    GATEWAY_UBSCORE_STREAM_ID     UBSCore's request stream (default 1001; 0 = run without a UBSCore client)
    GATEWAY_UBSCORE_RESPONSE_CHANNEL  this gateway's response channel (default aeron:ipc)
    GATEWAY_UBSCORE_RESPONSE_STREAM_ID  this gateway's response stream, unique per gateway instance (default 2001)
    GATEWAY_UBSCORE_TIMEOUT_MS    deadline of one UBSCore request (default 2000)
    GATEWAY_KEY_REFRESH_MS        how often the API key cache is reloaded from CQL (default 2000)
    GATEWAY_RATE_LIMITS           per-role token buckets "role=rate_per_s/burst,..." (default below)
    GATEWAY_HEALTH_INTERVAL_MS    how often dependencies are checked (default 2000)
    GATEWAY_STREAM_QUEUE_MAX      messages queued per stream client before it is cut off (default 10000)
    GATEWAY_HEARTBEAT_MS          idle time before a stream sends a heartbeat (default 15000)
    GATEWAY_LOG_LEVEL             log level (default INFO); logs are JSON lines on stderr
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from common.engine_feed import FeedEndpoints, parse_feeds
from common.env import env_int
from common.errors import ConfigInvalid
from common.kafka import BOOTSTRAP_DEFAULT
from common.markets import DEFAULT_MARKETS_PATH
from gateway.rate_limit import DEFAULT_RATE_LIMITS, BucketLimit, parse_rate_limits

GRPC_ADDRESS_DEFAULT = "127.0.0.1:50051"
GRPC_WORKERS_DEFAULT = 32
METRICS_PORT_DEFAULT = 9104  # matcher 9101, UBSCore 9102, Settlement 9103
TRANSFER_TOPIC_DEFAULT = "balance.operations"
BALANCE_EVENTS_TOPIC_DEFAULT = "balance.events"
CQL_PORT_DEFAULT = 9042
CQL_KEYSPACE_DEFAULT = "exchange"
MATCHER_PUB_ENDPOINT_DEFAULT = "tcp://127.0.0.1:5558"
MATCHER_REPLAY_ENDPOINT_DEFAULT = "tcp://127.0.0.1:5559"
KEY_REFRESH_MS_DEFAULT = 2_000
HEALTH_INTERVAL_MS_DEFAULT = 2_000
STREAM_QUEUE_MAX_DEFAULT = 10_000
HEARTBEAT_MS_DEFAULT = 15_000
REPO_ROOT = Path(__file__).resolve().parents[1]
AERON_DIR_DEFAULT = str(REPO_ROOT / ".local" / "aeron")
UBSCORE_STREAM_ID_DEFAULT = 1001
UBSCORE_RESPONSE_STREAM_ID_DEFAULT = 2001
UBSCORE_TIMEOUT_MS_DEFAULT = 2_000


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """Everything the gateway needs to start; build with `from_env`."""

    grpc_address: str = GRPC_ADDRESS_DEFAULT
    grpc_workers: int = GRPC_WORKERS_DEFAULT
    metrics_port: int = METRICS_PORT_DEFAULT
    kafka_bootstrap: str = BOOTSTRAP_DEFAULT
    transfer_topic: str = TRANSFER_TOPIC_DEFAULT
    balance_events_topic: str = BALANCE_EVENTS_TOPIC_DEFAULT
    cql_hosts: tuple[str, ...] = ("127.0.0.1",)
    cql_port: int = CQL_PORT_DEFAULT
    cql_keyspace: str = CQL_KEYSPACE_DEFAULT
    markets_path: Path = DEFAULT_MARKETS_PATH
    matcher_shard_id: int = 0
    matcher_pub_endpoint: str = MATCHER_PUB_ENDPOINT_DEFAULT
    matcher_replay_endpoint: str = MATCHER_REPLAY_ENDPOINT_DEFAULT
    matcher_feeds_text: str = ""  # GATEWAY_MATCHER_FEEDS; wins over the three single-shard settings
    aeron_dir: str = AERON_DIR_DEFAULT
    ubscore_channel: str = "aeron:ipc"
    ubscore_stream_id: int = UBSCORE_STREAM_ID_DEFAULT
    ubscore_response_channel: str = "aeron:ipc"
    ubscore_response_stream_id: int = UBSCORE_RESPONSE_STREAM_ID_DEFAULT
    ubscore_timeout_ms: int = UBSCORE_TIMEOUT_MS_DEFAULT
    key_refresh_ms: int = KEY_REFRESH_MS_DEFAULT
    rate_limits: Mapping[str, BucketLimit] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    health_interval_ms: int = HEALTH_INTERVAL_MS_DEFAULT
    stream_queue_max: int = STREAM_QUEUE_MAX_DEFAULT
    heartbeat_ms: int = HEARTBEAT_MS_DEFAULT
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.grpc_workers < 1:
            raise ConfigInvalid(f"GATEWAY_GRPC_WORKERS={self.grpc_workers}: must be >= 1")
        if not 0 <= self.metrics_port < 65536:
            raise ConfigInvalid(f"GATEWAY_METRICS_PORT={self.metrics_port}: not a port")
        for name, value in (
            ("GATEWAY_KEY_REFRESH_MS", self.key_refresh_ms),
            ("GATEWAY_HEALTH_INTERVAL_MS", self.health_interval_ms),
            ("GATEWAY_STREAM_QUEUE_MAX", self.stream_queue_max),
            ("GATEWAY_HEARTBEAT_MS", self.heartbeat_ms),
            ("GATEWAY_UBSCORE_TIMEOUT_MS", self.ubscore_timeout_ms),
        ):
            if value < 1:
                raise ConfigInvalid(f"{name}={value}: must be >= 1")
        self.matcher_feeds  # noqa: B018  (parsed now: a malformed list fails at start, not later)
        if not self.cql_keyspace.isidentifier():
            raise ConfigInvalid(f"GATEWAY_CQL_KEYSPACE={self.cql_keyspace!r}: not a CQL identifier")

    @property
    def matcher_feeds(self) -> tuple[FeedEndpoints, ...]:
        """Every matcher shard the gateway follows (none: no market data)."""
        if self.matcher_feeds_text:
            return parse_feeds(self.matcher_feeds_text, setting="GATEWAY_MATCHER_FEEDS")
        if not self.matcher_pub_endpoint:
            return ()
        return (FeedEndpoints(shard_id=self.matcher_shard_id, pub_endpoint=self.matcher_pub_endpoint,
                              replay_endpoint=self.matcher_replay_endpoint),)  # fmt: skip

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GatewayConfig:
        """Defaults overridden by GATEWAY_* variables; raise ConfigInvalid on a malformed value."""
        hosts = environ.get("GATEWAY_CQL_HOSTS", "127.0.0.1")
        return cls(
            grpc_address=environ.get("GATEWAY_GRPC_ADDRESS", GRPC_ADDRESS_DEFAULT),
            grpc_workers=env_int(environ, "GATEWAY_GRPC_WORKERS", GRPC_WORKERS_DEFAULT),
            metrics_port=env_int(environ, "GATEWAY_METRICS_PORT", METRICS_PORT_DEFAULT),
            kafka_bootstrap=environ.get("GATEWAY_KAFKA_BOOTSTRAP", BOOTSTRAP_DEFAULT),
            transfer_topic=environ.get("GATEWAY_TRANSFER_TOPIC", TRANSFER_TOPIC_DEFAULT),
            balance_events_topic=environ.get("GATEWAY_BALANCE_EVENTS_TOPIC", BALANCE_EVENTS_TOPIC_DEFAULT),
            cql_hosts=tuple(host.strip() for host in hosts.split(",") if host.strip()),
            cql_port=env_int(environ, "GATEWAY_CQL_PORT", CQL_PORT_DEFAULT),
            cql_keyspace=environ.get("GATEWAY_CQL_KEYSPACE", CQL_KEYSPACE_DEFAULT),
            markets_path=Path(environ.get("GATEWAY_MARKETS_PATH", str(DEFAULT_MARKETS_PATH))),
            matcher_shard_id=env_int(environ, "GATEWAY_MATCHER_SHARD_ID", 0),
            matcher_pub_endpoint=environ.get("GATEWAY_MATCHER_PUB_ENDPOINT", MATCHER_PUB_ENDPOINT_DEFAULT),
            matcher_replay_endpoint=environ.get("GATEWAY_MATCHER_REPLAY_ENDPOINT", MATCHER_REPLAY_ENDPOINT_DEFAULT),
            matcher_feeds_text=environ.get("GATEWAY_MATCHER_FEEDS", ""),
            aeron_dir=environ.get("GATEWAY_AERON_DIR") or environ.get("AERON_DIR") or AERON_DIR_DEFAULT,
            ubscore_channel=environ.get("GATEWAY_UBSCORE_CHANNEL", "aeron:ipc"),
            ubscore_stream_id=env_int(environ, "GATEWAY_UBSCORE_STREAM_ID", UBSCORE_STREAM_ID_DEFAULT),
            ubscore_response_channel=environ.get("GATEWAY_UBSCORE_RESPONSE_CHANNEL", "aeron:ipc"),
            ubscore_response_stream_id=env_int(
                environ, "GATEWAY_UBSCORE_RESPONSE_STREAM_ID", UBSCORE_RESPONSE_STREAM_ID_DEFAULT
            ),
            ubscore_timeout_ms=env_int(environ, "GATEWAY_UBSCORE_TIMEOUT_MS", UBSCORE_TIMEOUT_MS_DEFAULT),
            key_refresh_ms=env_int(environ, "GATEWAY_KEY_REFRESH_MS", KEY_REFRESH_MS_DEFAULT),
            rate_limits=parse_rate_limits(environ["GATEWAY_RATE_LIMITS"])
            if environ.get("GATEWAY_RATE_LIMITS")
            else dict(DEFAULT_RATE_LIMITS),
            health_interval_ms=env_int(environ, "GATEWAY_HEALTH_INTERVAL_MS", HEALTH_INTERVAL_MS_DEFAULT),
            stream_queue_max=env_int(environ, "GATEWAY_STREAM_QUEUE_MAX", STREAM_QUEUE_MAX_DEFAULT),
            heartbeat_ms=env_int(environ, "GATEWAY_HEARTBEAT_MS", HEARTBEAT_MS_DEFAULT),
            log_level=environ.get("GATEWAY_LOG_LEVEL", "INFO"),
        )

