"""A key id the API key cache lacks is read from CQL by itself: found keys work at once, built exactly as a reload
builds them; misses are remembered briefly in a bounded negative cache; reads are rate-bounded and paused while
CQL fails; revocation still bites at the next reload."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.v1 import common_pb2
from gateway.api_keys import ApiKeyStore, Role, hash_secret, new_key
from gateway.auth import KeyCache, authenticate
from gateway.errors import Refused

KEYSPACE = "ks"


class FakeSession:
    """The two SELECTs ApiKeyStore sends, answered from `rows` (tuples in the table's column order)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple] = {}
        self.point_reads: list[tuple[str, object]] = []  # (key id, timeout) of each read by key id
        self.down = False
        self.before_point_read: Any = None  # called inside a read by key id, before it answers

    def add(self, key_id: str, secret: str, *, user_id: int = 1001, roles: tuple[str, ...] = ("read", "trade"),
            revoked_ns: int = 0) -> None:
        self.rows[key_id] = (key_id, hash_secret(secret), user_id, set(roles), "label", 123, revoked_ns)

    def execute(self, query: str, parameters: tuple = (), **options: object) -> list[tuple]:
        assert f"FROM {KEYSPACE}.api_keys" in query, query
        if "WHERE key_id = %s" in query:
            self.point_reads.append((parameters[0], options.get("timeout")))
            if self.down:
                raise ConnectionError("Host has been marked down or removed")
            if self.before_point_read is not None:
                self.before_point_read()
            row = self.rows.get(parameters[0])
            return [row] if row is not None else []
        if self.down:
            raise ConnectionError("Host has been marked down or removed")
        return list(self.rows.values())


class Clock:
    def __init__(self) -> None:
        self.now_ms = 1_000

    def __call__(self) -> int:
        return self.now_ms * 1_000_000


def loaded_cache(session: FakeSession, clock: Clock, **options: Any) -> KeyCache:
    cache = KeyCache(ApiKeyStore(session, KEYSPACE), refresh_ms=60_000, clock_ns=clock, **options)
    cache.refresh()
    return cache


def metadata(full_key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {full_key}"}


def test_a_key_created_after_the_last_reload_works_at_once_exactly_as_the_reload_builds_it() -> None:
    session, clock = FakeSession(), Clock()
    cache = loaded_cache(session, clock)
    full_key, key_id, secret = new_key()
    session.add(key_id, secret, user_id=4242, roles=("read", "transfer"))

    principal = authenticate(metadata(full_key), cache)

    assert (principal.key_id, principal.user_id, principal.roles) == (key_id, 4242, {Role.READ, Role.TRANSFER})
    assert session.point_reads == [(key_id, cache.miss_timeout_s)]  # one bounded read, by primary key
    found = cache.keys[key_id]  # now cached: the next call reads nothing
    assert cache.lookup(key_id) is found
    assert len(session.point_reads) == 1
    cache.refresh()
    assert cache.keys[key_id] == found  # the reload's row -> key gives the very same key


def test_an_unknown_key_is_unauthenticated_and_remembered_absent_for_a_second() -> None:
    session, clock = FakeSession(), Clock()
    cache = loaded_cache(session, clock, miss_negative_ttl_ms=1_000)
    full_key, key_id, _ = new_key()

    for _ in range(3):
        with pytest.raises(Refused) as refused:
            authenticate(metadata(full_key), cache)
        assert refused.value.reason == common_pb2.REJECT_REASON_UNAUTHENTICATED
        assert "unknown API key" in str(refused.value)
    assert [read[0] for read in session.point_reads] == [key_id]  # the repeats were answered from the negative cache
    clock.now_ms += 1_001
    assert cache.lookup(key_id) is None
    assert [read[0] for read in session.point_reads] == [key_id, key_id]


def test_a_wrong_secret_for_a_key_found_by_the_miss_read_is_unauthenticated() -> None:
    session, clock = FakeSession(), Clock()
    cache = loaded_cache(session, clock)
    _, key_id, secret = new_key()
    session.add(key_id, secret)
    with pytest.raises(Refused, match="unknown API key"):
        authenticate(metadata(f"exk_{key_id}_{new_key()[2]}"), cache)


def test_the_negative_cache_is_bounded_oldest_forgotten_first() -> None:
    session, clock = FakeSession(), Clock()
    cache = loaded_cache(session, clock, miss_negative_max=3)
    ids = [new_key()[1] for _ in range(5)]
    for key_id in ids:
        assert cache.lookup(key_id) is None
    assert list(cache._negative) == ids[2:]
    session.point_reads.clear()
    for key_id in ids[2:]:
        assert cache.lookup(key_id) is None
    assert session.point_reads == []  # the remembered three are not read
    assert cache.lookup(ids[0]) is None
    assert [read[0] for read in session.point_reads] == [ids[0]]  # a forgotten one is read again
    assert list(cache._negative) == [*ids[3:], ids[0]]


def test_miss_reads_are_rate_bounded_beyond_which_unknown_keys_are_refused_without_a_read() -> None:
    session, clock = FakeSession(), Clock()
    cache = loaded_cache(session, clock, miss_lookups_per_s=5)
    for _ in range(20):  # random bearer tokens, all at the same instant
        with pytest.raises(Refused, match="unknown API key"):
            authenticate(metadata(new_key()[0]), cache)
    assert len(session.point_reads) == 5
    assert (cache.miss_lookups, cache.miss_skipped) == (5, 15)

    full_key, key_id, secret = new_key()  # over the bound, even a real new key waits for a token (or the reload)
    session.add(key_id, secret)
    assert cache.lookup(key_id) is None
    clock.now_ms += 200  # one token back at 5 per second
    assert authenticate(metadata(full_key), cache).key_id == key_id
    assert len(session.point_reads) == 6
    clock.now_ms += 10_000  # refills to the burst (one second's worth), no more
    for _ in range(20):
        cache.lookup(new_key()[1])
    assert len(session.point_reads) == 11


def test_a_failing_miss_read_answers_unknown_key_and_pauses_further_reads() -> None:
    session, clock = FakeSession(), Clock()
    cache = loaded_cache(session, clock, miss_failure_pause_ms=1_000)
    full_key, key_id, secret = new_key()
    session.add(key_id, secret)
    session.down = True

    with pytest.raises(Refused) as refused:
        authenticate(metadata(full_key), cache)
    assert refused.value.reason == common_pb2.REJECT_REASON_UNAUTHENTICATED
    assert cache.lookup(new_key()[1]) is None  # paused: no read at all
    assert len(session.point_reads) == 1
    assert key_id not in cache._negative  # a failure is not an absence

    session.down = False
    clock.now_ms += 1_001
    assert authenticate(metadata(full_key), cache).key_id == key_id
    assert len(session.point_reads) == 2


def test_a_stale_cache_refuses_unavailable_without_reading_and_health_never_reads() -> None:
    session, clock = FakeSession(), Clock()
    cache = loaded_cache(session, clock)
    cache.check()
    clock.now_ms += cache.stale_max_ms + 1
    with pytest.raises(Refused) as refused:
        cache.lookup(new_key()[1])
    assert refused.value.reason == common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE
    with pytest.raises(Refused):
        cache.check()
    assert session.point_reads == []


def test_a_key_revoked_after_the_miss_read_is_refused_at_the_next_reload() -> None:
    session, clock = FakeSession(), Clock()
    cache = loaded_cache(session, clock)
    full_key, key_id, secret = new_key()
    session.add(key_id, secret)
    assert authenticate(metadata(full_key), cache).key_id == key_id

    session.add(key_id, secret, revoked_ns=999)
    cache.refresh()
    with pytest.raises(Refused, match="API key revoked"):
        authenticate(metadata(full_key), cache)


def test_a_miss_read_overtaken_by_a_reload_does_not_overwrite_what_the_reload_saw() -> None:
    """The read sees the key valid; a revocation and a reload land before it answers: the cache keeps the revoked
    row of the reload, not the older valid one of the read."""
    session, clock = FakeSession(), Clock()
    cache = loaded_cache(session, clock)
    full_key, key_id, secret = new_key()
    session.add(key_id, secret)
    valid_row = session.rows[key_id]

    def revoke_and_reload() -> None:
        session.add(key_id, secret, revoked_ns=999)
        cache.refresh()
        session.rows[key_id] = valid_row  # what this (older) read answers

    session.before_point_read = revoke_and_reload
    assert cache.lookup(key_id) is not None  # this call used what its own read found
    session.before_point_read = None
    assert cache.keys[key_id].revoked
    with pytest.raises(Refused, match="API key revoked"):
        authenticate(metadata(full_key), cache)
