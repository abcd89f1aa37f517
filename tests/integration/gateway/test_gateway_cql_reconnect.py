"""The gateway's CQL session finds a restarted CQL server again within seconds, however long it was away
(common/cql.py), and the API keys keep authenticating meanwhile. The driver's default reconnection policy
(exponential, up to 600 s) left the session "marked down", every request failing at once, for tens of seconds after
the server was back (the CQL crash drill, docs/decisions.md). Through a TCP proxy in front of the shared Cassandra."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.app import Gateway
from tools.infra.layout import CQL_PORT, HOST

from ..settlement.conftest import ProxyProcess
from .conftest import KEY_REFRESH_MS, eventually, free_port

pytestmark = pytest.mark.integration

# Down for ~20 s (failed key reloads, KEY_REFRESH_MS apart): the default policy's attempts then come ~15 s and
# ~30 s after the cut, so it would find the server again only ~10 s after its return.
OUTAGE_RELOADS = 20_000 // KEY_REFRESH_MS
BACK_WITHIN_MS = 5_000  # a 0.5 s reconnection attempt, a 0.2 s reload, and room for a busy machine


def test_the_session_finds_the_cql_server_again_within_seconds_of_its_return(
    gateway_factory: Callable[..., Gateway], make_key: Callable[..., tuple[str, str]],
) -> None:
    """Keys loaded through the proxy; proxy killed for ~20 s (reloads fail, the keys still authenticate); proxy
    started again: the key reloads succeed again within BACK_WITHIN_MS."""
    _, key_id = make_key(1011, "trade")
    proxy = ProxyProcess(free_port(), f"{HOST}:{CQL_PORT}")
    proxy.start()
    try:
        gateway = gateway_factory(cql_port=proxy.listen_port)
        eventually(lambda: key_id in gateway.key_cache.keys, timeout_ms=30_000)
        proxy.kill()
        eventually(lambda: gateway.key_cache.refresh_failures >= OUTAGE_RELOADS, timeout_ms=60_000)
        assert gateway.key_cache.lookup(key_id) is not None  # the last good copy still authenticates
        proxy.start()
        eventually(lambda: gateway.key_cache.refresh_failures == 0, timeout_ms=BACK_WITHIN_MS)
    finally:
        if proxy.process is not None and proxy.process.poll() is None:
            proxy.kill()
