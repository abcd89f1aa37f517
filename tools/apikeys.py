"""`python -m tools.apikeys create|list|revoke|init`: manage the gateway's API keys in CQL table `api_keys`.

    python -m tools.apikeys create --user-id 1001 --role read --role trade --label "alice laptop"
    python -m tools.apikeys list [--user-id 1001]
    python -m tools.apikeys revoke <key id>
    python -m tools.apikeys init        # only create the table if missing (the stack's schema step)

`create` prints the full key once (only its hash is stored). `init` runs as the gateway's schema step, its output
appended to the gateway's log, so it prints nothing on stdout and logs JSON lines on stderr through common/logs.py
(GATEWAY_LOG_LEVEL, LOG_FORMAT=text for a terminal); the other commands print for people.

Every command creates the table first if it does not exist. Where: the flags, else GATEWAY_CQL_HOSTS /
GATEWAY_CQL_PORT / GATEWAY_CQL_KEYSPACE (what the gateway reads), else the running stack's settings
(`STACK_HOME/run/stack.json`, as the demo and the invariants checker read them, so a key lands in the keyspace that
stack's gateway reads), else 127.0.0.1:9042, keyspace exchange. A new key works on a running gateway at once; a
revoked one is refused within GATEWAY_KEY_REFRESH_MS.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from common import logs
from gateway.api_keys import ApiKey, ApiKeyStore, KeyRefused, parse_roles
from gateway.config import CQL_KEYSPACE_DEFAULT, CQL_PORT_DEFAULT
from gateway.cql import connect
from tools.stack_config import running_stack

log = logging.getLogger("tools.apikeys")

app = typer.Typer(help="Create, list and revoke the gateway's API keys.", no_args_is_help=True)

Hosts = Annotated[str | None, typer.Option("--cql-hosts", envvar="GATEWAY_CQL_HOSTS", help="CQL contact points")]
Port = Annotated[int | None, typer.Option("--cql-port", envvar="GATEWAY_CQL_PORT", help="CQL port")]
Keyspace = Annotated[str | None, typer.Option("--keyspace", envvar="GATEWAY_CQL_KEYSPACE", help="keyspace of api_keys")]


def _where(hosts: str | None, port: int | None, keyspace: str | None) -> tuple[list[str], int, str]:
    """Contact points, port and keyspace: what was given, else the running stack's, else the local defaults."""
    stack = running_stack(os.environ)
    if hosts is None:
        hosts = ",".join(stack.cql_contact_points) if stack is not None else "127.0.0.1"
    if port is None:
        port = stack.cql_port if stack is not None else CQL_PORT_DEFAULT
    if keyspace is None:
        keyspace = stack.cql_keyspace if stack is not None else CQL_KEYSPACE_DEFAULT
    return [host.strip() for host in hosts.split(",") if host.strip()], port, keyspace


@contextmanager
def _store(hosts: str | None, port: int | None, keyspace: str | None) -> Iterator[ApiKeyStore]:
    contact_points, cql_port, cql_keyspace = _where(hosts, port, keyspace)
    session = connect(contact_points, cql_port)
    try:
        store = ApiKeyStore(session, cql_keyspace)
        store.create_table()
        yield store
    finally:
        session.cluster.shutdown()


def _describe(key: ApiKey) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "user_id": key.user_id,
        "roles": sorted(role.value for role in key.roles),
        "label": key.label,
        "created_ns": key.created_ns,
        "revoked_ns": key.revoked_ns,
        "revoked": key.revoked,
    }


@app.command()
def create(
    user_id: Annotated[int, typer.Option("--user-id", help="the account the key acts for (1000 and above)")],
    role: Annotated[list[str], typer.Option("--role", help="read, trade, transfer or admin; repeat for several")],
    label: Annotated[str, typer.Option("--label", help="a note for people (who holds the key)")] = "",
    cql_hosts: Hosts = None,
    cql_port: Port = None,
    keyspace: Keyspace = None,
) -> None:
    """Create a key and print it once, with its id (the id is what `revoke` takes)."""
    try:
        roles = parse_roles(role)
        with _store(cql_hosts, cql_port, keyspace) as store:
            full_key, row = store.create(user_id=user_id, roles=roles, label=label, now_ns=time.time_ns())
    except KeyRefused as error:
        typer.echo(f"refused: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps({"api_key": full_key, **_describe(row)}))
    typer.echo("store the api_key now: it is not shown again", err=True)


@app.command("list")
def list_keys(
    user_id: Annotated[int, typer.Option("--user-id", help="only this account's keys (0: all)")] = 0,
    cql_hosts: Hosts = None,
    cql_port: Port = None,
    keyspace: Keyspace = None,
) -> None:
    """Print every key (never a secret) as one JSON object per line, oldest first."""
    with _store(cql_hosts, cql_port, keyspace) as store:
        keys = [key for key in store.all() if user_id in (0, key.user_id)]
    for key in sorted(keys, key=lambda k: (k.created_ns, k.key_id)):
        typer.echo(json.dumps(_describe(key)))


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="the key id (from create or list)")],
    cql_hosts: Hosts = None,
    cql_port: Port = None,
    keyspace: Keyspace = None,
) -> None:
    """Revoke a key; running gateways refuse it within their refresh interval."""
    try:
        with _store(cql_hosts, cql_port, keyspace) as store:
            row = store.revoke(key_id, now_ns=time.time_ns())
    except KeyRefused as error:
        typer.echo(f"refused: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(json.dumps(_describe(row)))


@app.command()
def init(cql_hosts: Hosts = None, cql_port: Port = None, keyspace: Keyspace = None) -> None:
    """Create the table if it does not exist, and nothing else; log one JSON line (never a key), or the failure."""
    # Its output lands in the gateway's log (the stack's schema step): JSON lines like the gateway's own.
    logs.configure(os.environ.get("GATEWAY_LOG_LEVEL", "INFO"))
    try:
        with _store(cql_hosts, cql_port, keyspace) as store:
            table = store.table
    except Exception as error:  # the CQL driver raises many types (NoHostAvailable, OperationTimedOut, ...)
        log.critical("api_keys table not created: %s", error, exc_info=True)  # a JSON line, not typer's traceback
        raise typer.Exit(1) from error
    log.info("api_keys table present: %s", table, extra={"table": table})


if __name__ == "__main__":
    app()
