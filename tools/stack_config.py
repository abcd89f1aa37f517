"""Settings of the whole stack (`bin/stack up|down|status|logs|run`): one place, read from STACK_* variables and flags.

    STACK_HOME                     where logs, pid files and service state go (default <repo>/.local): logs in
                                   <home>/logs/<service>.log, pids in <home>/run/, state in <home>/<service>/
    STACK_MATCHER_SHARDS           matcher shards, 1..4 (default 1); shard i owns the partitions p of `orders`
                                   with p % shards == i (round robin, so markets are split between the shards)
    STACK_SETTLEMENT_INSTANCES     Settlement processes (default 1); the matcher shards are dealt to them round
                                   robin, and all of them share the `balance.events` consumer group
    STACK_KAFKA_BOOTSTRAP          external Kafka/Redpanda bootstrap servers; set = the local Kafka is not started
    STACK_KAFKA_REPLICATION_FACTOR replication factor of the topics the stack creates when missing (default 1)
    STACK_CQL_CONTACT_POINTS       external ScyllaDB/Cassandra contact points, comma separated; set = the local
                                   Cassandra is not started
    STACK_CQL_PORT                 CQL port (default 9042)
    STACK_CQL_KEYSPACE             keyspace (default exchange)
    STACK_CQL_REPLICATION_FACTOR   replication factor used when the stack creates the keyspace (default 1)
    STACK_AERON_STREAM_ID          Aeron stream of requests to UBSCore (default 1001)
    STACK_AERON_RESPONSE_STREAM_ID Aeron stream of UBSCore's responses to the gateway (default 2001)
    STACK_AERON_EXTERNAL           1 = a media driver is managed elsewhere (its dir: AERON_DIR); not started here
    STACK_FREE_PORTS               1 = every service port is a free one picked at `up` (tests; default: fixed ports)
    STACK_TOPIC_SUFFIX             appended to the topic names and to Settlement's consumer group (tests use
                                   private ones; default "")

`up` writes the resolved settings (ports included) to <home>/run/stack.json; `status`, `logs` and `down` read that
file, so they describe what was actually started even if the environment changed since.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.env import env_int
from common.errors import ConfigInvalid
from tools.infra.kafka import TOPIC_PARTITIONS
from tools.infra.layout import CQL_KEYSPACE, CQL_PORT, HOST, KAFKA_BOOTSTRAP, LOCAL_DIR, restartable_ports

ORDERS_PARTITIONS = TOPIC_PARTITIONS  # partitions of `orders`
MATCHER_SHARDS_MAX = ORDERS_PARTITIONS
SETTLEMENT_INSTANCES_MAX = 8
STATE_FILE_NAME = "stack.json"
KEYSPACE_RE = re.compile(r"[a-z][a-z0-9_]{0,47}")

# Fixed ports of a default run. Shard/instance 0 keeps each service's own default port; the others follow.
MATCHER_PUB_PORT = 5558  # shard i: 5558 + 2 i (pub), 5559 + 2 i (replay)
MATCHER_METRICS_PORT = 9101  # shard 0: 9101; shard i > 0: 9110 + i
MATCHER_METRICS_EXTRA_BASE = 9110
UBSCORE_METRICS_PORT = 9102
SETTLEMENT_METRICS_PORT = 9103  # instance 0: 9103; instance j > 0: 9120 + j
SETTLEMENT_METRICS_EXTRA_BASE = 9120
GATEWAY_METRICS_PORT = 9104  # the gateway's own default too (matcher 9101, UBSCore 9102, Settlement 9103)
GATEWAY_GRPC_PORT = 50051
REST_PORT = 3001
AERON_STREAM_ID = 1001  # UBSCore's and the gateway's own defaults
AERON_RESPONSE_STREAM_ID = 2001


@dataclass(frozen=True, slots=True, kw_only=True)
class Ports:
    """Every TCP port the services listen on; per-shard and per-instance ports are tuples indexed by number."""

    matcher_pub: tuple[int, ...]
    matcher_replay: tuple[int, ...]
    matcher_metrics: tuple[int, ...]
    ubscore_metrics: int
    settlement_metrics: tuple[int, ...]
    gateway_grpc: int
    gateway_metrics: int
    rest: int

    @classmethod
    def fixed(cls, *, matcher_shards: int, settlement_instances: int) -> Ports:
        """The documented ports of a default run (see the module docstring)."""
        return cls(
            matcher_pub=tuple(MATCHER_PUB_PORT + 2 * shard for shard in range(matcher_shards)),
            matcher_replay=tuple(MATCHER_PUB_PORT + 1 + 2 * shard for shard in range(matcher_shards)),
            matcher_metrics=tuple(
                MATCHER_METRICS_PORT if shard == 0 else MATCHER_METRICS_EXTRA_BASE + shard
                for shard in range(matcher_shards)
            ),
            ubscore_metrics=UBSCORE_METRICS_PORT,
            settlement_metrics=tuple(
                SETTLEMENT_METRICS_PORT if instance == 0 else SETTLEMENT_METRICS_EXTRA_BASE + instance
                for instance in range(settlement_instances)
            ),
            gateway_grpc=GATEWAY_GRPC_PORT,
            gateway_metrics=GATEWAY_METRICS_PORT,
            rest=REST_PORT,
        )

    @classmethod
    def free(cls, *, matcher_shards: int, settlement_instances: int) -> Ports:
        """Distinct ports free right now, below the ephemeral range, so a service restarted on its port (a crash
        drill) still finds it free (tools/infra/layout.py `restartable_ports`)."""
        numbers = restartable_ports(3 * matcher_shards + settlement_instances + 4)
        shards, rest_of = numbers[:3 * matcher_shards], numbers[3 * matcher_shards:]
        return cls(
            matcher_pub=tuple(shards[0::3]),
            matcher_replay=tuple(shards[1::3]),
            matcher_metrics=tuple(shards[2::3]),
            settlement_metrics=tuple(rest_of[:settlement_instances]),
            ubscore_metrics=rest_of[settlement_instances],
            gateway_grpc=rest_of[settlement_instances + 1],
            gateway_metrics=rest_of[settlement_instances + 2],
            rest=rest_of[settlement_instances + 3],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StackConfig:
    """Everything the service runner needs: sizes, where the infrastructure is, ports, and where files go."""

    home: Path
    matcher_shards: int
    settlement_instances: int
    kafka_bootstrap: str
    kafka_external: bool
    kafka_replication_factor: int
    cql_contact_points: tuple[str, ...]
    cql_port: int
    cql_keyspace: str
    cql_replication_factor: int
    cql_external: bool
    aeron_external: bool
    aeron_stream_id: int
    aeron_response_stream_id: int
    topic_suffix: str
    ports: Ports

    def __post_init__(self) -> None:
        if not 1 <= self.matcher_shards <= MATCHER_SHARDS_MAX:
            raise ConfigInvalid(f"matcher shards {self.matcher_shards}: 1..{MATCHER_SHARDS_MAX} "
                                f"(one shard owns at least one of the {ORDERS_PARTITIONS} partitions of `orders`)")
        if not 1 <= self.settlement_instances <= SETTLEMENT_INSTANCES_MAX:
            raise ConfigInvalid(f"settlement instances {self.settlement_instances}: 1..{SETTLEMENT_INSTANCES_MAX}")
        if not KEYSPACE_RE.fullmatch(self.cql_keyspace):  # it is spliced into CREATE KEYSPACE
            raise ConfigInvalid(f"CQL keyspace {self.cql_keyspace!r}: need [a-z][a-z0-9_]{{0,47}}")
        if self.kafka_replication_factor < 1:
            raise ConfigInvalid(f"Kafka replication factor {self.kafka_replication_factor}: must be >= 1")
        if self.cql_replication_factor < 1:
            raise ConfigInvalid(f"CQL replication factor {self.cql_replication_factor}: must be >= 1")
        if self.aeron_stream_id == self.aeron_response_stream_id or min(self.aeron_stream_id,
                                                                        self.aeron_response_stream_id) < 1:
            raise ConfigInvalid(f"Aeron streams {self.aeron_stream_id}, {self.aeron_response_stream_id}: "
                                "two different positive stream ids")
        if len(self.ports.matcher_pub) != self.matcher_shards:
            raise ConfigInvalid("ports: one pub/replay/metrics port per matcher shard")
        if len(self.ports.settlement_metrics) != self.settlement_instances:
            raise ConfigInvalid("ports: one metrics port per settlement instance")

    @property
    def logs_dir(self) -> Path:
        """Service logs: <home>/logs/<service>.log (the same directory as the local infrastructure's logs)."""
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        """Pid files, exit codes and the resolved settings of the running stack."""
        return self.home / "run"

    def state_dir(self, service: str) -> Path:
        """WAL and snapshots of `service` (e.g. <home>/matcher-0, the matcher's own default)."""
        return self.home / service

    def topic(self, name: str) -> str:
        """The topic actually used for `name` (`orders`, `balance.events`, ...)."""
        return f"{name}{self.topic_suffix}"

    def matcher_partitions(self, shard: int) -> tuple[int, ...]:
        """Partitions of `orders` owned by `shard` (round robin)."""
        return tuple(p for p in range(ORDERS_PARTITIONS) if p % self.matcher_shards == shard)

    def matcher_feeds(self, shards: tuple[int, ...] | None = None) -> str:
        """Feed list "<shard>=<pub>|<replay>,..." as UBSCore and Settlement read it (all shards by default)."""
        chosen = range(self.matcher_shards) if shards is None else shards
        return ",".join(f"{shard}=tcp://{HOST}:{self.ports.matcher_pub[shard]}|"
                        f"tcp://{HOST}:{self.ports.matcher_replay[shard]}" for shard in chosen)

    def settlement_shards(self, instance: int) -> tuple[int, ...]:
        """Matcher shards persisted by settlement `instance` (round robin; none if instances > shards)."""
        return tuple(s for s in range(self.matcher_shards) if s % self.settlement_instances == instance)

    def local_infra(self) -> list[str]:
        """Infrastructure components this stack starts itself (the rest is external)."""
        wanted = [("aeron", self.aeron_external), ("kafka", self.kafka_external), ("cassandra", self.cql_external)]
        return [name for name, external in wanted if not external]

    def save(self) -> Path:
        """Write the resolved settings to <home>/run/stack.json (read back by status, logs and down)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / STATE_FILE_NAME
        data = dataclasses.asdict(self)
        data["home"] = str(self.home)
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, home: Path) -> StackConfig | None:
        """The settings saved by the last `up` under `home`, or None."""
        try:
            data = json.loads((home / "run" / STATE_FILE_NAME).read_text())
        except FileNotFoundError:
            return None
        ports = Ports(**{key: tuple(value) if isinstance(value, list) else value
                         for key, value in data.pop("ports").items()})
        data["home"] = Path(data["home"])
        data["cql_contact_points"] = tuple(data["cql_contact_points"])
        return cls(ports=ports, **data)


def from_env(
    environ: Mapping[str, str], *, matcher_shards: int | None = None, settlement_instances: int | None = None
) -> StackConfig:
    """Settings from STACK_* variables; the flags (when given) win over the variables."""
    home = saved_stack_home(environ)
    shards = matcher_shards if matcher_shards is not None else env_int(environ, "STACK_MATCHER_SHARDS", 1)
    instances = (settlement_instances if settlement_instances is not None
                 else env_int(environ, "STACK_SETTLEMENT_INSTANCES", 1))
    contact_points = tuple(host.strip() for host in environ.get("STACK_CQL_CONTACT_POINTS", "").split(",")
                           if host.strip())
    if shards < 1 or instances < 1:  # checked again in StackConfig; ports need positive counts first
        raise ConfigInvalid(f"matcher shards {shards} and settlement instances {instances} must be >= 1")
    ports_for = Ports.free if environ.get("STACK_FREE_PORTS") == "1" else Ports.fixed
    return StackConfig(
        home=home,
        matcher_shards=shards,
        settlement_instances=instances,
        kafka_bootstrap=environ.get("STACK_KAFKA_BOOTSTRAP") or KAFKA_BOOTSTRAP,
        kafka_external=bool(environ.get("STACK_KAFKA_BOOTSTRAP")),
        kafka_replication_factor=env_int(environ, "STACK_KAFKA_REPLICATION_FACTOR", 1),
        cql_contact_points=contact_points or (HOST,),
        cql_port=env_int(environ, "STACK_CQL_PORT", CQL_PORT),
        cql_keyspace=environ.get("STACK_CQL_KEYSPACE") or CQL_KEYSPACE,
        cql_replication_factor=env_int(environ, "STACK_CQL_REPLICATION_FACTOR", 1),
        cql_external=bool(contact_points),
        aeron_external=environ.get("STACK_AERON_EXTERNAL") == "1",
        aeron_stream_id=env_int(environ, "STACK_AERON_STREAM_ID", AERON_STREAM_ID),
        aeron_response_stream_id=env_int(environ, "STACK_AERON_RESPONSE_STREAM_ID", AERON_RESPONSE_STREAM_ID),
        topic_suffix=environ.get("STACK_TOPIC_SUFFIX", ""),
        ports=ports_for(matcher_shards=shards, settlement_instances=instances),
    )


def saved_stack_home(environ: Mapping[str, str]) -> Path:
    """The home of the stack the tools act on: STACK_HOME, else the repository's .local."""
    return Path(environ.get("STACK_HOME") or LOCAL_DIR).resolve()


def running_stack(environ: Mapping[str, str]) -> StackConfig | None:
    """The settings the last `up` saved under the stack's home (what demo, invariants and apikeys default to)."""
    return StackConfig.load(saved_stack_home(environ))
