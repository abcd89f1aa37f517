"""Matcher settings: defaults for a local run, each overridable by an environment variable (read in __main__ only).

    MATCHER_SHARD_ID            shard id, stamped on every output (default 0)
    MATCHER_PARTITIONS          Kafka partitions this shard owns, comma separated (default "0,1,2,3")
    MATCHER_TOPIC               input topic (default "orders"; tests use a private topic each)
    MATCHER_KAFKA_BOOTSTRAP     Kafka bootstrap servers (default 127.0.0.1:9092)
    MATCHER_PUB_ENDPOINT        ZeroMQ PUB bind address of the output feed (default tcp://127.0.0.1:5558)
    MATCHER_REPLAY_ENDPOINT     ZeroMQ ROUTER bind address of the replay service (default tcp://127.0.0.1:5559)
    MATCHER_METRICS_PORT        Prometheus HTTP port, 0 = off (default 9101)
    MATCHER_STATE_DIR           WAL and snapshots (default <repo>/.local/matcher-<shard>)
    MATCHER_MARKETS_PATH        markets file (default config/markets.yaml)
    MATCHER_BATCH_RECORDS_MAX   most Kafka records applied per batch (one WAL fsync per batch; default 1000)
    MATCHER_SNAPSHOT_OUTPUTS    outputs between two snapshots (default 100000)
    MATCHER_REPLAY_DUTY_PERCENT most of the wall time the replay thread may work under load (default 10)
    MATCHER_WAL_SEGMENT_BYTES   WAL segment size (default 64 MiB)
    MATCHER_WAL_RETAIN_RECORDS  WAL records kept for replay even when a snapshot covers them (default 2000000)

Sharding: `orders` is keyed by symbol, so a shard owning whole partitions sees every command of its symbols, in
order. The order in which one shard interleaves its partitions is recorded in its WAL (each output carries its
partition and offset): the WAL, not the topic, is the shard's history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.env import env_int
from common.errors import ConfigInvalid
from common.kafka import BOOTSTRAP_DEFAULT
from common.markets import DEFAULT_MARKETS_PATH
from common.state_dir import StateDirLayout

REPO_ROOT = Path(__file__).resolve().parents[1]
PUB_ENDPOINT_DEFAULT = "tcp://127.0.0.1:5558"
REPLAY_ENDPOINT_DEFAULT = "tcp://127.0.0.1:5559"
METRICS_PORT_DEFAULT = 9101
BATCH_RECORDS_MAX_DEFAULT = 1_000
BATCH_RECORDS_LIMIT = 50_000
SNAPSHOT_OUTPUTS_DEFAULT = 100_000
POLL_TIMEOUT_MS_DEFAULT = 20
WAL_SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024
WAL_RETAIN_RECORDS_DEFAULT = 2_000_000  # kept for replay even when a snapshot covers them
REPLAY_DUTY_PERCENT_DEFAULT = 10  # most of the wall time the replay thread may work (hold the GIL) under load
WAL_SEGMENT_BYTES_MIN = 4_096


@dataclass(frozen=True, slots=True, kw_only=True)
class MatcherConfig(StateDirLayout):
    """Everything the matcher service needs to start; build with `from_env`."""

    shard_id: int = 0
    partitions: tuple[int, ...] = (0, 1, 2, 3)
    topic: str = "orders"
    kafka_bootstrap: str = BOOTSTRAP_DEFAULT
    pub_endpoint: str = PUB_ENDPOINT_DEFAULT
    replay_endpoint: str = REPLAY_ENDPOINT_DEFAULT
    metrics_port: int = METRICS_PORT_DEFAULT
    state_dir: Path = REPO_ROOT / ".local" / "matcher-0"
    markets_path: Path = DEFAULT_MARKETS_PATH
    batch_records_max: int = BATCH_RECORDS_MAX_DEFAULT
    poll_timeout_ms: int = POLL_TIMEOUT_MS_DEFAULT
    snapshot_outputs: int = SNAPSHOT_OUTPUTS_DEFAULT
    wal_segment_bytes_max: int = WAL_SEGMENT_BYTES_MAX_DEFAULT
    wal_retain_records: int = WAL_RETAIN_RECORDS_DEFAULT
    replay_duty_percent: int = REPLAY_DUTY_PERCENT_DEFAULT

    def __post_init__(self) -> None:
        if not 0 <= self.shard_id < 2**32:
            raise ConfigInvalid(f"MATCHER_SHARD_ID={self.shard_id}: must fit in uint32")
        if not self.partitions or len(set(self.partitions)) != len(self.partitions) or min(self.partitions) < 0:
            raise ConfigInvalid(f"MATCHER_PARTITIONS={self.partitions}: need distinct partitions >= 0")
        if not 1 <= self.batch_records_max <= BATCH_RECORDS_LIMIT:
            raise ConfigInvalid(f"MATCHER_BATCH_RECORDS_MAX={self.batch_records_max}: 1..{BATCH_RECORDS_LIMIT}")
        if self.snapshot_outputs < 1:
            raise ConfigInvalid(f"MATCHER_SNAPSHOT_OUTPUTS={self.snapshot_outputs}: must be >= 1")
        if not 1 <= self.replay_duty_percent <= 100:
            raise ConfigInvalid(f"MATCHER_REPLAY_DUTY_PERCENT={self.replay_duty_percent}: 1..100")
        if self.wal_segment_bytes_max < WAL_SEGMENT_BYTES_MIN:
            raise ConfigInvalid(f"MATCHER_WAL_SEGMENT_BYTES={self.wal_segment_bytes_max} < {WAL_SEGMENT_BYTES_MIN}")
        if self.wal_retain_records < 0:
            raise ConfigInvalid(f"MATCHER_WAL_RETAIN_RECORDS={self.wal_retain_records}: must be >= 0")
        if not 0 <= self.metrics_port < 65536:
            raise ConfigInvalid(f"MATCHER_METRICS_PORT={self.metrics_port}: not a port")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MatcherConfig:
        """Defaults overridden by MATCHER_* variables; raise ConfigInvalid on a malformed value."""
        shard_id = env_int(environ, "MATCHER_SHARD_ID", 0)
        partitions_text = environ.get("MATCHER_PARTITIONS", "0,1,2,3")
        try:
            partitions = tuple(int(part) for part in partitions_text.split(",") if part.strip())
        except ValueError as error:
            raise ConfigInvalid(f"MATCHER_PARTITIONS={partitions_text!r}: not a list of integers") from error
        state_dir = environ.get("MATCHER_STATE_DIR") or str(REPO_ROOT / ".local" / f"matcher-{shard_id}")
        return cls(
            shard_id=shard_id,
            partitions=partitions,
            topic=environ.get("MATCHER_TOPIC", "orders"),
            kafka_bootstrap=environ.get("MATCHER_KAFKA_BOOTSTRAP", BOOTSTRAP_DEFAULT),
            pub_endpoint=environ.get("MATCHER_PUB_ENDPOINT", PUB_ENDPOINT_DEFAULT),
            replay_endpoint=environ.get("MATCHER_REPLAY_ENDPOINT", REPLAY_ENDPOINT_DEFAULT),
            metrics_port=env_int(environ, "MATCHER_METRICS_PORT", METRICS_PORT_DEFAULT),
            state_dir=Path(state_dir),
            markets_path=Path(environ.get("MATCHER_MARKETS_PATH", str(DEFAULT_MARKETS_PATH))),
            batch_records_max=env_int(environ, "MATCHER_BATCH_RECORDS_MAX", BATCH_RECORDS_MAX_DEFAULT),
            snapshot_outputs=env_int(environ, "MATCHER_SNAPSHOT_OUTPUTS", SNAPSHOT_OUTPUTS_DEFAULT),
            replay_duty_percent=env_int(environ, "MATCHER_REPLAY_DUTY_PERCENT", REPLAY_DUTY_PERCENT_DEFAULT),
            wal_segment_bytes_max=env_int(environ, "MATCHER_WAL_SEGMENT_BYTES", WAL_SEGMENT_BYTES_MAX_DEFAULT),
            wal_retain_records=env_int(environ, "MATCHER_WAL_RETAIN_RECORDS", WAL_RETAIN_RECORDS_DEFAULT),
        )

