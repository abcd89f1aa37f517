"""The API key cache honours its last good copy for a bounded time while the key store is unreachable."""

from __future__ import annotations

import pytest

from gateway.api_keys import ApiKey, Role, hash_secret
from gateway.auth import STALE_MAX_MS_DEFAULT, KeyCache
from gateway.errors import Refused

KEY = ApiKey(key_id="00112233aabbccdd", secret_sha256=hash_secret("s"), user_id=1001, roles=frozenset({Role.TRADE}),
             label="t", created_ns=1, revoked_ns=0)


class Store:
    """A key store that answers until `down` is set (then raises what the driver raises when no host answers)."""

    def __init__(self) -> None:
        self.down = False

    def all(self) -> list[ApiKey]:
        """The one key, or ConnectionError while down."""
        if self.down:
            raise ConnectionError("Host has been marked down or removed")
        return [KEY]


def test_keys_authenticate_through_an_outage_up_to_the_bound_then_unavailable() -> None:
    """A CQL outage shorter than stale_max_ms (5 min: a CQL server restart takes 8-90 s here) does not stop
    trading; a longer one refuses every call until the keys load again."""
    now_ms = [1_000]  # loaded_ns 0 means never loaded
    store = Store()
    cache = KeyCache(store, refresh_ms=2_000, clock_ns=lambda: now_ms[0] * 1_000_000)  # type: ignore[arg-type]
    cache.refresh()
    store.down = True
    for now_ms[0] in range(3_000, STALE_MAX_MS_DEFAULT + 1_001, 2_000):
        with pytest.raises(ConnectionError):
            cache.refresh()
        assert cache.lookup(KEY.key_id) == KEY
    now_ms[0] = 1_000 + STALE_MAX_MS_DEFAULT + 1
    with pytest.raises(Refused):
        cache.lookup(KEY.key_id)
    store.down = False
    cache.refresh()
    assert cache.lookup(KEY.key_id) == KEY
