"""UBSCore settings: defaults for a local run, each overridable by an environment variable (read in __main__ only).

UBSCORE_KAFKA_BOOTSTRAP        Kafka bootstrap servers (default 127.0.0.1:9092)
UBSCORE_OPERATIONS_TOPIC       transfers in (default "balance.operations")
UBSCORE_OPERATIONS_PARTITIONS  its partitions this UBSCore owns, comma separated (default "0,1,2,3")
UBSCORE_EVENTS_TOPIC           balance events out, keyed by user (default "balance.events")
UBSCORE_ORDERS_TOPIC           order commands out, keyed by symbol (default "orders")
UBSCORE_AERON_DIR              media driver directory (default: $AERON_DIR, else <repo>/.local/aeron)
UBSCORE_AERON_CHANNEL          request channel the gateways send to (default "aeron:ipc")
UBSCORE_AERON_STREAM_ID        request stream id (default 1001)
UBSCORE_FEEDS                  matcher shards: "<shard>=<pub endpoint>|<replay endpoint>" comma separated
                               (default "0=tcp://127.0.0.1:5558|tcp://127.0.0.1:5559")
UBSCORE_STATE_DIR              WAL and snapshots (default <repo>/.local/ubscore)
UBSCORE_METRICS_PORT           Prometheus HTTP port, 0 = off (default 9102)
UBSCORE_MARKETS_PATH           markets file (default config/markets.yaml)
UBSCORE_BATCH_RECORDS_MAX      most inputs applied per batch, one WAL fsync per batch (default 1000)
UBSCORE_SNAPSHOT_INPUTS        inputs between two snapshots (default 100000)
UBSCORE_KAFKA_UNCONFIRMED_MAX  records produced but not yet acknowledged above which orders get BUSY (50000)
UBSCORE_IN_FLIGHT_MAX          commands sent that no matcher output answered yet, above which BUSY (100000)
UBSCORE_WAL_FSYNC_MS_MAX       last group commit slower than this: BUSY for the next batch (default 500)
UBSCORE_DEDUPE_KEYS_MAX        client keys remembered per window (orders, transfers; default 2000000)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from common.engine_feed import FeedEndpoints
from common.engine_feed import parse_feeds as parse_endpoints
from common.env import env_int
from common.errors import ConfigInvalid
from common.kafka import BOOTSTRAP_DEFAULT
from common.markets import DEFAULT_MARKETS_PATH
from common.state_dir import StateDirLayout
from ubscore.sequencer import KEYS_MAX_DEFAULT

REPO_ROOT = Path(__file__).resolve().parents[1]
FEEDS_DEFAULT = "0=tcp://127.0.0.1:5558|tcp://127.0.0.1:5559"
AERON_STREAM_ID_DEFAULT = 1001
METRICS_PORT_DEFAULT = 9102
BATCH_RECORDS_MAX_DEFAULT = 1_000
BATCH_RECORDS_LIMIT = 50_000
SNAPSHOT_INPUTS_DEFAULT = 100_000
KAFKA_UNCONFIRMED_MAX_DEFAULT = 50_000
IN_FLIGHT_MAX_DEFAULT = 100_000
WAL_FSYNC_MS_MAX_DEFAULT = 500
WAL_SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024
REPLY_TIMEOUT_MS = 100  # an Aeron reply that cannot be offered in this time is dropped (the gateway times out)


@dataclass(frozen=True, slots=True, kw_only=True)
class UbscoreConfig(StateDirLayout):
    """Everything the UBSCore service needs to start; build with `from_env`."""

    kafka_bootstrap: str = BOOTSTRAP_DEFAULT
    operations_topic: str = "balance.operations"
    operations_partitions: tuple[int, ...] = (0, 1, 2, 3)
    events_topic: str = "balance.events"
    orders_topic: str = "orders"
    aeron_dir: str = ""
    aeron_channel: str = "aeron:ipc"
    aeron_stream_id: int = AERON_STREAM_ID_DEFAULT
    feeds: tuple[FeedEndpoints, ...] = field(default_factory=tuple)
    state_dir: Path = REPO_ROOT / ".local" / "ubscore"
    metrics_port: int = METRICS_PORT_DEFAULT
    markets_path: Path = DEFAULT_MARKETS_PATH
    batch_records_max: int = BATCH_RECORDS_MAX_DEFAULT
    snapshot_inputs: int = SNAPSHOT_INPUTS_DEFAULT
    kafka_unconfirmed_max: int = KAFKA_UNCONFIRMED_MAX_DEFAULT
    in_flight_max: int = IN_FLIGHT_MAX_DEFAULT
    wal_fsync_ms_max: int = WAL_FSYNC_MS_MAX_DEFAULT
    dedupe_keys_max: int = KEYS_MAX_DEFAULT
    wal_segment_bytes_max: int = WAL_SEGMENT_BYTES_MAX_DEFAULT

    def __post_init__(self) -> None:
        if not 1 <= self.batch_records_max <= BATCH_RECORDS_LIMIT:
            raise ConfigInvalid(f"UBSCORE_BATCH_RECORDS_MAX={self.batch_records_max}: 1..{BATCH_RECORDS_LIMIT}")
        if len({feed.shard_id for feed in self.feeds}) != len(self.feeds):
            raise ConfigInvalid("UBSCORE_FEEDS: a shard is listed twice")
        if len(set(self.operations_partitions)) != len(self.operations_partitions):
            raise ConfigInvalid(f"UBSCORE_OPERATIONS_PARTITIONS={self.operations_partitions}: listed twice")
        for name in (
            "snapshot_inputs",
            "kafka_unconfirmed_max",
            "in_flight_max",
            "wal_fsync_ms_max",
            "dedupe_keys_max",
        ):
            if getattr(self, name) < 1:
                raise ConfigInvalid(f"UBSCORE_{name.upper()}={getattr(self, name)}: must be >= 1")
        if not 0 <= self.metrics_port < 65536:
            raise ConfigInvalid(f"UBSCORE_METRICS_PORT={self.metrics_port}: not a port")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> UbscoreConfig:
        """Defaults overridden by UBSCORE_* variables; raise ConfigInvalid on a malformed value."""
        aeron_dir = environ.get("UBSCORE_AERON_DIR") or environ.get("AERON_DIR") or str(REPO_ROOT / ".local" / "aeron")
        return cls(
            kafka_bootstrap=environ.get("UBSCORE_KAFKA_BOOTSTRAP", BOOTSTRAP_DEFAULT),
            operations_topic=environ.get("UBSCORE_OPERATIONS_TOPIC", "balance.operations"),
            operations_partitions=_ints(environ, "UBSCORE_OPERATIONS_PARTITIONS", "0,1,2,3"),
            events_topic=environ.get("UBSCORE_EVENTS_TOPIC", "balance.events"),
            orders_topic=environ.get("UBSCORE_ORDERS_TOPIC", "orders"),
            aeron_dir=aeron_dir,
            aeron_channel=environ.get("UBSCORE_AERON_CHANNEL", "aeron:ipc"),
            aeron_stream_id=env_int(environ, "UBSCORE_AERON_STREAM_ID", AERON_STREAM_ID_DEFAULT),
            feeds=parse_feeds(environ.get("UBSCORE_FEEDS", FEEDS_DEFAULT)),
            state_dir=Path(environ.get("UBSCORE_STATE_DIR") or str(REPO_ROOT / ".local" / "ubscore")),
            metrics_port=env_int(environ, "UBSCORE_METRICS_PORT", METRICS_PORT_DEFAULT),
            markets_path=Path(environ.get("UBSCORE_MARKETS_PATH", str(DEFAULT_MARKETS_PATH))),
            batch_records_max=env_int(environ, "UBSCORE_BATCH_RECORDS_MAX", BATCH_RECORDS_MAX_DEFAULT),
            snapshot_inputs=env_int(environ, "UBSCORE_SNAPSHOT_INPUTS", SNAPSHOT_INPUTS_DEFAULT),
            kafka_unconfirmed_max=env_int(environ, "UBSCORE_KAFKA_UNCONFIRMED_MAX", KAFKA_UNCONFIRMED_MAX_DEFAULT),
            in_flight_max=env_int(environ, "UBSCORE_IN_FLIGHT_MAX", IN_FLIGHT_MAX_DEFAULT),
            wal_fsync_ms_max=env_int(environ, "UBSCORE_WAL_FSYNC_MS_MAX", WAL_FSYNC_MS_MAX_DEFAULT),
            dedupe_keys_max=env_int(environ, "UBSCORE_DEDUPE_KEYS_MAX", KEYS_MAX_DEFAULT),
        )


def parse_feeds(text: str) -> tuple[FeedEndpoints, ...]:
    """Parse UBSCORE_FEEDS: "<shard>=<pub>|<replay>,..." (empty: no matcher feed)."""
    return parse_endpoints(text, setting="UBSCORE_FEEDS")



def _ints(environ: Mapping[str, str], name: str, default: str) -> tuple[int, ...]:
    text = environ.get(name, default)
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise ConfigInvalid(f"{name}={text!r}: not a list of integers") from error
