"""The stack runner CLI: `bin/stack up|down|status|logs|run [SERVICE...]` and `bin/stack infra up|down|status|reset`.

The services layer is `tools/services/` (settings: `tools/stack_config.py`); the infrastructure layer `tools/infra/`.

Also installed as `exchange-stack` and runnable as `python -m tools.stack`.
"""

from __future__ import annotations

import enum
import os
import subprocess
import sys
import threading
import time

import typer

from common.errors import ConfigInvalid
from tools.infra import runner
from tools.infra.errors import InfraError
from tools.infra.gotools import install_go_tools
from tools.infra.layout import KAFKA_BOOTSTRAP, LOGS_DIR, aeron_dir
from tools.infra.process import log_tail
from tools.services import foreground, lifecycle
from tools.services.catalog import build_specs
from tools.services.runner import ServiceRunner

app = typer.Typer(help="Run the exchange stack locally.", no_args_is_help=True, add_completion=False)
infra_app = typer.Typer(
    help="Local infrastructure: Kafka, Cassandra (stand-in for ScyllaDB), the Aeron media driver.",
    no_args_is_help=True,
)
app.add_typer(infra_app, name="infra")

EXIT_NOT_READY = 3


class Component(enum.StrEnum):
    """Names accepted on the command line."""

    aeron = "aeron"
    kafka = "kafka"
    cassandra = "cassandra"


COMPONENTS_ARGUMENT = typer.Argument(None, help="Components to act on (default: all).", show_default=False)


def _names(components: list[Component] | None) -> list[str] | None:
    return [component.value for component in components] if components else None


def _echo(line: str) -> None:
    typer.echo(line)


@infra_app.command()
def up(
    components: list[Component] | None = COMPONENTS_ARGUMENT,
    go_tools: bool = typer.Option(True, "--go-tools/--no-go-tools", help="Also install the Go tools (full up)."),
) -> None:
    """Start the components (all by default) and wait until each is ready; a no-op for those already up."""
    started_s = time.monotonic()
    names = _names(components)
    try:
        runner.up(names, out=_echo)
    except InfraError as error:
        typer.echo(f"infra up failed: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"infra ready in {time.monotonic() - started_s:.1f} s: kafka {KAFKA_BOOTSTRAP}, "
               f"cql 127.0.0.1:9042 keyspace exchange, aeron dir {aeron_dir()}, logs {LOGS_DIR}")
    if go_tools and names is None:
        typer.echo("installing Go tools ...")
        try:
            typer.echo(f"  go tools in {install_go_tools()}")
        except (OSError, subprocess.SubprocessError) as error:  # the infrastructure is up; only Go tools are missing
            typer.echo(f"Go tools install failed (infra is up): {error!r}; retry: python -m tools.infra.gotools",
                       err=True)
            raise typer.Exit(code=1) from error


@infra_app.command()
def down(components: list[Component] | None = COMPONENTS_ARGUMENT) -> None:
    """Stop the components (all by default): SIGTERM, then SIGKILL after a deadline."""
    runner.down(_names(components), out=_echo)


@infra_app.command()
def status(components: list[Component] | None = COMPONENTS_ARGUMENT) -> None:
    """Print a table of the components; exit code 3 if any is not ready."""
    rows = runner.status(_names(components))
    typer.echo(runner.format_status(rows))
    if not all(row.ready for row in rows):
        raise typer.Exit(code=EXIT_NOT_READY)


@infra_app.command()
def reset(components: list[Component] | None = COMPONENTS_ARGUMENT) -> None:
    """Stop the components and wipe their data (a clean slate; run `infra up` afterwards)."""
    runner.reset(_names(components), out=_echo)


SERVICES_ARGUMENT = typer.Argument(
    None, help="Services to act on, e.g. matcher-0 rest (default: all; see `bin/stack status`).", show_default=False
)
SHARDS_OPTION = typer.Option(None, "--matcher-shards", help="Matcher shards, 1-4 (env STACK_MATCHER_SHARDS; 1).")
INSTANCES_OPTION = typer.Option(
    None, "--settlement-instances", help="Settlement processes (env STACK_SETTLEMENT_INSTANCES; 1)."
)


@app.command("up")
def stack_up(
    services: list[str] | None = SERVICES_ARGUMENT,
    matcher_shards: int | None = SHARDS_OPTION,
    settlement_instances: int | None = INSTANCES_OPTION,
) -> None:
    """Start the infrastructure, the schema and the services, each waited on until healthy; print the endpoints."""
    started_s = time.monotonic()
    try:
        config = lifecycle.config_for_up(os.environ, matcher_shards=matcher_shards,
                                         settlement_instances=settlement_instances)
        runner_ = lifecycle.up(config, services or None, out=_echo)
    except (InfraError, ConfigInvalid) as error:
        typer.echo(f"up failed: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"stack up in {time.monotonic() - started_s:.1f} s")
    typer.echo(lifecycle.endpoints_text(runner_))


@app.command("down")
def stack_down(
    services: list[str] | None = SERVICES_ARGUMENT,
    keep_infra: bool = typer.Option(False, "--keep-infra", help="Stop the services only."),
) -> None:
    """Stop the services (SIGTERM, SIGKILL after a deadline), then the local infrastructure."""
    try:
        lifecycle.down(lifecycle.config_for_inspect(os.environ), services or None, keep_infra=keep_infra, out=_echo)
    except (InfraError, ConfigInvalid) as error:
        typer.echo(f"down failed: {error}", err=True)
        raise typer.Exit(code=1) from error


@app.command("status")
def stack_status() -> None:
    """Every process (infrastructure and services): pid, state, health, lag, log; exit 3 unless all is healthy."""
    text, ok = lifecycle.status_text(lifecycle.config_for_inspect(os.environ))
    typer.echo(text)
    if not ok:
        raise typer.Exit(code=EXIT_NOT_READY)


@app.command("logs")
def stack_logs(
    services: list[str] | None = SERVICES_ARGUMENT,
    lines: int = typer.Option(20, "--lines", help="Lines of each log to show first."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until Ctrl-C."),
) -> None:
    """Print the last lines of each service's log, prefixed with its name (and follow them with --follow)."""
    config = lifecycle.config_for_inspect(os.environ)
    runner_ = ServiceRunner(config, build_specs(config))
    files = foreground.log_files(config, runner_, services or None)
    width = max(len(name) for name in files)
    for name, path in files.items():
        for line in log_tail(path, lines).splitlines():
            typer.echo(f"{name:<{width}} | {line}")
    if follow:
        stop = threading.Event()
        try:
            foreground.LogFollower(files, _echo).follow(stop)
        except KeyboardInterrupt:
            stop.set()


@app.command("run")
def stack_run(
    services: list[str] | None = SERVICES_ARGUMENT,
    matcher_shards: int | None = SHARDS_OPTION,
    settlement_instances: int | None = INSTANCES_OPTION,
) -> None:
    """Foreground: start everything, stream every log prefixed with its name; Ctrl-C stops what this run started."""
    try:
        config = lifecycle.config_for_up(os.environ, matcher_shards=matcher_shards,
                                         settlement_instances=settlement_instances)
    except ConfigInvalid as error:
        typer.echo(f"run failed: {error}", err=True)
        raise typer.Exit(code=1) from error
    raise typer.Exit(code=foreground.run(config, services or None, out=_echo))


def main() -> None:
    """Entry point of `exchange-stack` and `python -m tools.stack`."""
    app(prog_name="bin/stack")


if __name__ == "__main__":
    sys.exit(main())
