"""The whole stack, infrastructure and services: `up`, `down`, `status` as `bin/stack` and `make` run them.

`up`: the local infrastructure (the components not configured as external), then the topics and the keyspace if
missing, then Settlement's schema migrations and the services in dependency order, each waited on until healthy;
then the endpoints and first commands. `down`: the services (reverse order), then the local infrastructure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from common.errors import ConfigInvalid
from tools.infra import runner as infra_runner
from tools.infra.layout import LOCAL_DIR, aeron_dir
from tools.infra.runner import Printer
from tools.services import schema
from tools.services.catalog import build_specs
from tools.services.runner import ServiceRunner, ServiceStatus, format_status
from tools.stack_config import StackConfig, from_env, running_stack

GRPCURL = LOCAL_DIR / "bin" / "grpcurl"


def config_for_up(environ: Mapping[str, str], *, matcher_shards: int | None,
                  settlement_instances: int | None) -> StackConfig:
    """Settings for `up`: those of the running stack if some service of it still runs (same ports), else fresh.

    The shape (matcher shards, Settlement instances) not given by a flag or STACK_* variable is the last `up`'s, so
    `up` of one service, or a plain `make up`, keeps a several-shard stack as it was. The number of matcher shards
    cannot change on a stack whose matchers hold history: each market's partitions would move to a shard that never
    matched them, which would match their orders again from the start of the topic (trades twice, UBSCore halted).
    """
    saved = running_stack(environ)
    if saved is not None:
        if matcher_shards is None and "STACK_MATCHER_SHARDS" not in environ:
            matcher_shards = saved.matcher_shards
        if settlement_instances is None and "STACK_SETTLEMENT_INSTANCES" not in environ:
            settlement_instances = saved.settlement_instances
    fresh = from_env(environ, matcher_shards=matcher_shards, settlement_instances=settlement_instances)
    if saved is None:
        return fresh
    specs = build_specs(saved)
    if any(ServiceRunner(saved, specs).is_running(spec.name) for spec in specs):
        if (saved.matcher_shards, saved.settlement_instances) != (fresh.matcher_shards, fresh.settlement_instances):
            raise ConfigInvalid(f"the running stack has {saved.matcher_shards} matcher shard(s) and "
                                f"{saved.settlement_instances} settlement instance(s); run `bin/stack down` first "
                                "to change the Settlement instances (the matcher shards stay: see tools/README.md)")
        return saved
    if fresh.matcher_shards != saved.matcher_shards and _matchers_hold_history(saved):
        raise ConfigInvalid(
            f"this stack's orders were matched by {saved.matcher_shards} matcher shard(s) (their WAL is under "
            f"{saved.home}): the shard count cannot change on a stack with history, or each market moved to another "
            f"shard would be matched again from the start; keep {saved.matcher_shards}, or start a new stack "
            "(another STACK_HOME, topic suffix and keyspace)"
        )
    return fresh


def _matchers_hold_history(config: StackConfig) -> bool:
    """True if a matcher shard of `config` has written anything to its state directory (WAL, snapshots)."""
    return any(path.is_file() for shard in range(config.matcher_shards)
               for path in config.state_dir(f"matcher-{shard}").rglob("*"))  # fmt: skip


def config_for_inspect(environ: Mapping[str, str]) -> StackConfig:
    """Settings for `status`, `logs`, `down`: those saved by the last `up`, else from the environment."""
    fresh = from_env(environ)
    return StackConfig.load(fresh.home) or fresh


def up(config: StackConfig, names: Sequence[str] | None = None, *, out: Printer = print) -> ServiceRunner:
    """Bring up the local infrastructure, the schema and the selected services (all by default). Raises InfraError."""
    local = config.local_infra()
    if local:
        out(f"infrastructure ({', '.join(local)}) ...")
        infra_runner.up(local, out=out)
    services = ServiceRunner(config, build_specs(config), out=out)
    chosen = [spec for spec in services.select(names) if spec.enabled]
    needs_infra = {component for spec in chosen for component in spec.infra}
    if "kafka" in needs_infra:
        created = schema.ensure_topics(config)
        out(f"topics: {'created ' + ', '.join(created) if created else 'present'} on {config.kafka_bootstrap}")
    if "cassandra" in needs_infra:
        replication = schema.ensure_keyspace(config)
        out(f"keyspace {config.cql_keyspace}: present ({replication} if it was created)")
    with services.locked():
        config.save()
        out("services ...")
        services.start(names)
    return services


def down(config: StackConfig, names: Sequence[str] | None = None, *, keep_infra: bool = False,
         out: Printer = print) -> None:
    """Stop the selected services (all by default), then, for a full `down`, the local infrastructure."""
    services = ServiceRunner(config, build_specs(config), out=out)
    with services.locked():
        out("services ...")
        services.stop(names)
    local = config.local_infra()
    if names or keep_infra or not local:
        return
    out(f"infrastructure ({', '.join(local)}) ...")
    infra_runner.down(local, out=out)


def status_text(config: StackConfig) -> tuple[str, bool]:
    """The status report (infrastructure, then services) and whether everything enabled is up and healthy."""
    lines = []
    ok = True
    local = config.local_infra()
    if local:
        rows = infra_runner.status(local)
        ok = all(row.ready for row in rows)
        lines.append(infra_runner.format_status(rows))
    externals = []
    if config.kafka_external:
        externals.append(f"kafka external at {config.kafka_bootstrap}")
    if config.cql_external:
        externals.append(f"CQL external at {','.join(config.cql_contact_points)}:{config.cql_port}")
    if config.aeron_external:
        externals.append(f"aeron external, dir {aeron_dir()}")
    if externals:
        lines.append("; ".join(externals))
    services = ServiceRunner(config, build_specs(config))
    rows_services = services.status()
    lines.append("")
    lines.append(format_status(rows_services))
    ok = ok and all(_healthy(row) for spec, row in zip(services.specs.values(), rows_services, strict=True)
                    if spec.enabled)
    return "\n".join(lines), ok


def _healthy(row: ServiceStatus) -> bool:
    return row.running and row.health is not None and row.health.ok


def endpoints_text(services: ServiceRunner) -> str:
    """Where everything listens, and first commands that work against what runs now."""
    config = services.config
    lines = ["", "endpoints:", f"  kafka      {config.kafka_bootstrap}",
             f"  cql        {','.join(config.cql_contact_points)}:{config.cql_port} keyspace {config.cql_keyspace}",
             f"  aeron dir  {aeron_dir()}"]
    for spec in services.specs.values():
        if spec.enabled and services.is_running(spec.name):
            lines.append(f"  {spec.name:<10} {'; '.join(spec.endpoints)}")
    rest = f"http://127.0.0.1:{config.ports.rest}"
    grpc_address = f"127.0.0.1:{config.ports.gateway_grpc}"
    lines.append("")
    lines.append("try:")
    if services.is_running("gateway"):
        lines.append(f"  {GRPCURL} -plaintext {grpc_address} grpc.health.v1.Health/Check")
        lines.append(f"  {GRPCURL} -plaintext {grpc_address} list")
    else:
        lines.append(f"  {GRPCURL} -plaintext {grpc_address} list     "
                     "# needs the gateway (not landed yet: no gRPC server runs)")
    if services.is_running("rest"):
        lines.append(f"  curl -s {rest}/openapi.json | head -c 300; echo")
        lines.append(f"  curl -si {rest}/healthz     # 200 once the gateway serves, 503 without it")
    if services.is_running("matcher-0"):
        lines.append(f"  curl -s http://127.0.0.1:{config.ports.matcher_metrics[0]}/metrics | grep '^matcher_last_seq'")
    lines.append("  bin/stack status      # every process, its health, log and lag")
    return "\n".join(lines)

