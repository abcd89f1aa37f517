"""The stack runner CLI: `bin/stack infra up|down|status|reset [COMPONENT...]`.

Also installed as `exchange-stack` and runnable as `python -m tools.stack`.
"""

from __future__ import annotations

import enum
import subprocess
import sys
import time

import typer

from tools.infra import runner
from tools.infra.errors import InfraError
from tools.infra.gotools import install_go_tools
from tools.infra.layout import KAFKA_BOOTSTRAP, LOGS_DIR, aeron_dir

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


def main() -> None:
    """Entry point of `exchange-stack` and `python -m tools.stack`."""
    app(prog_name="bin/stack")


if __name__ == "__main__":
    sys.exit(main())
