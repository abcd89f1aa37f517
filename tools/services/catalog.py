"""The table of services the stack runs, built from the stack settings, in start (dependency) order.

Each service is one `ServiceSpec`. UBSCore, Settlement and the gateway are enabled once their package has a
`__main__.py` (they are being built on other branches); until then they are listed as "not landed" and skipped,
so the stack runs today and picks them up as they land. How services find each other:

- matcher shard i publishes on tcp://127.0.0.1:<pub_i> and serves replays on <replay_i> (see `stack_config.Ports`);
  UBSCore gets every shard in UBSCORE_FEEDS, each Settlement instance its share in SETTLEMENT_SHARDS, the gateway
  every shard in GATEWAY_MATCHER_FEEDS.
- the gateway dials UBSCore over Aeron (same AERON_DIR, stream 1001); the REST proxy dials the gateway's gRPC port.
"""

from __future__ import annotations

import os
import sys

from tools.infra.layout import HOST, LOCAL_DIR, REPO_ROOT, aeron_dir
from tools.services.probes import GrpcHealthProbe, HttpProbe
from tools.services.spec import ServiceSpec
from tools.stack_config import StackConfig

REST_BINARY = LOCAL_DIR / "bin" / "exchange-rest"
OPENAPI_PATH = REPO_ROOT / "gen" / "openapi" / "exchange.swagger.json"
CASSANDRA_READY_DEADLINE_S = 120.0


def _python(module: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", module, *args)


def _landed(package: str) -> tuple[bool, str]:
    """A Python service is enabled once `<package>/__main__.py` exists in this checkout."""
    main = REPO_ROOT / package / "__main__.py"
    return (True, "") if main.exists() else (False, f"not landed yet (no {package}/__main__.py)")


def _metrics(port: int) -> str:
    return f"http://{HOST}:{port}/metrics"


def _ready(port: int) -> HttpProbe:
    """A service's /healthz (common/metrics.py): 200 once it has recovered and consumes, 503 while it recovers."""
    return HttpProbe(url=f"http://{HOST}:{port}/healthz")


READY_NOTE = "/healthz answers 200 (recovered, consuming)"


def base_env() -> dict[str, str]:
    """Environment every service gets on top of the runner's: this checkout's code first on the path."""
    paths = [str(REPO_ROOT), str(REPO_ROOT / "gen" / "python")]
    inherited = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join([*paths, inherited] if inherited else paths),
            "PYTHONUNBUFFERED": "1", "AERON_DIR": str(aeron_dir())}


def matcher_specs(config: StackConfig) -> list[ServiceSpec]:
    """One spec per matcher shard: its partitions, ports and state dir; healthy once its /healthz says ready."""
    specs = []
    for shard in range(config.matcher_shards):
        name = f"matcher-{shard}"
        ports = config.ports
        env = {
            "MATCHER_SHARD_ID": str(shard),
            "MATCHER_PARTITIONS": ",".join(str(p) for p in config.matcher_partitions(shard)),
            "MATCHER_TOPIC": config.topic("orders"),
            "MATCHER_KAFKA_BOOTSTRAP": config.kafka_bootstrap,
            "MATCHER_PUB_ENDPOINT": f"tcp://{HOST}:{ports.matcher_pub[shard]}",
            "MATCHER_REPLAY_ENDPOINT": f"tcp://{HOST}:{ports.matcher_replay[shard]}",
            "MATCHER_METRICS_PORT": str(ports.matcher_metrics[shard]),
            "MATCHER_STATE_DIR": str(config.state_dir(name)),
        }
        specs.append(ServiceSpec(
            name=name, argv=_python("matcher"), env=env, infra=("kafka",),
            probe=_ready(ports.matcher_metrics[shard]), health_note=READY_NOTE,
            metrics_url=_metrics(ports.matcher_metrics[shard]), lag_metrics=("matcher_consumer_lag_records",),
            endpoints=(f"feed {env['MATCHER_PUB_ENDPOINT']}", f"replay {env['MATCHER_REPLAY_ENDPOINT']}",
                       f"metrics {_metrics(ports.matcher_metrics[shard])}"),
        ))
    return specs


def ubscore_spec(config: StackConfig) -> ServiceSpec:
    """UBSCore: all matcher feeds, Aeron requests from the gateway; healthy once its /healthz says ready."""
    enabled, reason = _landed("ubscore")
    port = config.ports.ubscore_metrics
    env = {
        "UBSCORE_KAFKA_BOOTSTRAP": config.kafka_bootstrap,
        "UBSCORE_OPERATIONS_TOPIC": config.topic("balance.operations"),
        "UBSCORE_EVENTS_TOPIC": config.topic("balance.events"),
        "UBSCORE_ORDERS_TOPIC": config.topic("orders"),
        "UBSCORE_AERON_DIR": str(aeron_dir()),
        "UBSCORE_AERON_STREAM_ID": str(config.aeron_stream_id),
        "UBSCORE_FEEDS": config.matcher_feeds(),
        "UBSCORE_STATE_DIR": str(config.state_dir("ubscore")),
        "UBSCORE_METRICS_PORT": str(port),
    }
    return ServiceSpec(
        name="ubscore", argv=_python("ubscore"), env=env, infra=("kafka", "aeron"),
        needs=tuple(f"matcher-{shard}" for shard in range(config.matcher_shards)),
        probe=_ready(port), health_note=READY_NOTE, metrics_url=_metrics(port),
        lag_metrics=("ubscore_operations_lag_records", "ubscore_feed_lag_outputs"),
        endpoints=(f"metrics {_metrics(port)}",),
        enabled=enabled, disabled_reason=reason,
    )


def settlement_specs(config: StackConfig) -> list[ServiceSpec]:
    """Settlement instances (the shards dealt round robin); `python -m settlement migrate` runs before each start."""
    enabled, reason = _landed("settlement")
    specs = []
    for instance in range(config.settlement_instances):
        port = config.ports.settlement_metrics[instance]
        env = {
            "SETTLEMENT_CQL_HOSTS": ",".join(config.cql_contact_points),
            "SETTLEMENT_CQL_PORT": str(config.cql_port),
            "SETTLEMENT_KEYSPACE": config.cql_keyspace,
            "SETTLEMENT_SHARDS": config.matcher_feeds(config.settlement_shards(instance)),
            "SETTLEMENT_KAFKA_BOOTSTRAP": config.kafka_bootstrap,
            "SETTLEMENT_BALANCE_TOPIC": config.topic("balance.events"),
            "SETTLEMENT_GROUP_ID": f"settlement{config.topic_suffix}",  # one group per stack (tests: private)
            "SETTLEMENT_METRICS_PORT": str(port),
        }
        specs.append(ServiceSpec(
            name=f"settlement-{instance}", argv=_python("settlement", "run"), env=env, infra=("kafka", "cassandra"),
            needs=tuple(f"matcher-{shard}" for shard in config.settlement_shards(instance)),
            migrate=_python("settlement", "migrate") if instance == 0 else None,  # once, before the first
            migrate_timeout_s=CASSANDRA_READY_DEADLINE_S,
            probe=_ready(port), health_note=READY_NOTE, metrics_url=_metrics(port),
            lag_metrics=("settlement_kafka_lag_records", "settlement_shard_lag_outputs"),
            endpoints=(f"metrics {_metrics(port)}",), enabled=enabled, disabled_reason=reason,
        ))
    return specs


def gateway_spec(config: StackConfig) -> ServiceSpec:
    """The gRPC gateway; healthy when grpc.health.v1 Check answers SERVING."""
    enabled, reason = _landed("gateway")
    ports = config.ports
    env = {
        "GATEWAY_GRPC_ADDRESS": f"{HOST}:{ports.gateway_grpc}",
        "GATEWAY_METRICS_PORT": str(ports.gateway_metrics),
        "GATEWAY_KAFKA_BOOTSTRAP": config.kafka_bootstrap,
        "GATEWAY_TRANSFER_TOPIC": config.topic("balance.operations"),
        "GATEWAY_BALANCE_EVENTS_TOPIC": config.topic("balance.events"),  # the private user streams follow it
        "GATEWAY_CQL_HOSTS": ",".join(config.cql_contact_points),
        "GATEWAY_CQL_PORT": str(config.cql_port),
        "GATEWAY_CQL_KEYSPACE": config.cql_keyspace,
        "GATEWAY_MATCHER_FEEDS": config.matcher_feeds(),
        "GATEWAY_AERON_DIR": str(aeron_dir()),
        "GATEWAY_UBSCORE_STREAM_ID": str(config.aeron_stream_id),
        "GATEWAY_UBSCORE_RESPONSE_STREAM_ID": str(config.aeron_response_stream_id),
    }
    needs = [f"matcher-{shard}" for shard in range(config.matcher_shards)]  # it follows every shard's feed
    if _landed("ubscore")[0]:
        needs.append("ubscore")
    # Its `api_keys` table (also in Settlement's migrations): `init` creates it if missing and prints one line.
    migrate = _python("tools.apikeys", "init") if (REPO_ROOT / "tools" / "apikeys.py").exists() else None
    return ServiceSpec(
        name="gateway", argv=_python("gateway"), env=env, infra=("kafka", "cassandra", "aeron"), needs=tuple(needs),
        migrate=migrate, migrate_timeout_s=CASSANDRA_READY_DEADLINE_S,
        probe=GrpcHealthProbe(address=f"{HOST}:{ports.gateway_grpc}"), health_note="gRPC health Check SERVING",
        metrics_url=_metrics(ports.gateway_metrics),
        endpoints=(f"gRPC {HOST}:{ports.gateway_grpc}", f"metrics {_metrics(ports.gateway_metrics)}"),
        enabled=enabled, disabled_reason=reason,
    )


def rest_spec(config: StackConfig) -> ServiceSpec:
    """The REST proxy (Go). Healthy = up and answering HTTP on /healthz, whatever the code.

    /healthz mirrors the gateway's gRPC health (503 while the gateway is absent or not serving); the gateway's
    own row shows that, so the proxy's row only says whether the proxy itself serves.
    """
    ports = config.ports
    built = REST_BINARY.exists()
    url = f"http://{HOST}:{ports.rest}"
    return ServiceSpec(
        name="rest",
        argv=(str(REST_BINARY), "--listen", f"{HOST}:{ports.rest}", "--grpc", f"{HOST}:{ports.gateway_grpc}",
              "--openapi", str(OPENAPI_PATH)),
        env={}, needs=("gateway",) if _landed("gateway")[0] else (),
        probe=HttpProbe(url=f"{url}/healthz", any_status=True), health_note="answers HTTP on /healthz (any code)",
        endpoints=(f"REST {url}", f"OpenAPI {url}/openapi.json"),
        enabled=built, disabled_reason="" if built else f"not built ({REST_BINARY}: run `make setup`)",
    )


def build_specs(config: StackConfig) -> list[ServiceSpec]:
    """Every service of the stack, enabled or not, in start order (each after the services it needs)."""
    specs = [*matcher_specs(config), ubscore_spec(config), *settlement_specs(config), gateway_spec(config),
             rest_spec(config)]
    seen: set[str] = set()
    for spec in specs:
        assert set(spec.needs) <= seen, (spec.name, spec.needs)  # the list itself is the start order
        seen.add(spec.name)
    return specs

