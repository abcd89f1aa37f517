"""Authentication and authorization of every call: `authorization: Bearer <key>` and the per-method role table.

The account comes from the key, never from the request body (DESIGN.md, Gateway). The interceptor:
- no `authorization` metadata, a malformed, unknown or revoked key, or a wrong secret -> UNAUTHENTICATED;
- a valid key without the method's role -> PERMISSION_DENIED;
- otherwise the call runs with `current_principal()` = (key id, user id, roles).

Keys come from a `KeyCache`, which reloads the whole `api_keys` table every GATEWAY_KEY_REFRESH_MS (2 s), so a
revocation takes effect within that time on every running gateway instance, without a known key's call reading
CQL. A key id the cache does not hold (a key created since the last reload) is read by its primary key at once,
with a short timeout, so a new key works on its first call; a miss is remembered for `MISS_NEGATIVE_TTL_MS` in a
bounded negative cache, and such reads are limited to `MISS_LOOKUPS_PER_S` per gateway (beyond that, and while
CQL does not answer them, an unknown key is refused without a read), so random bearer tokens cannot flood CQL.
If reloading fails, the last good copy is used for at most `stale_max_ms` (5 min); after that every
call is refused UNAVAILABLE, because honouring keys that may have been revoked long ago would be worse. Within
that bound a CQL outage does not stop trading: order entry needs the database only for the keys (docs/decisions.md).

Methods outside the exchange services (health, reflection) need no key.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from exchange.v1 import common_pb2
from gateway.api_keys import ApiKey, ApiKeyStore, Role, split_key
from gateway.errors import Refused
from gateway.interceptors import AroundInterceptor, Invoke
from gateway.token_bucket import BucketLimit, TokenBucket

# How long the last good copy of the keys is honoured while the key store is unreachable. A revocation is written
# to that same database, so during a plain outage none can be missed; the bound only limits what a partition (this
# gateway cut off from a database others still write) could let through. 5 min covers a CQL server restart
# (8-90 s on the dev machine, the CQL crash drill) with room to spare; at 30 s, trading stopped in every outage.
STALE_MAX_MS_DEFAULT = 300_000
VERIFIED_HEADERS_MAX = 10_000
# The read of one key id the cache lacks (a key created since the last reload): it runs on the caller's thread, so
# it is bounded in time; a key id found absent is not read again for MISS_NEGATIVE_TTL_MS (at most
# MISS_NEGATIVE_MAX remembered); all such reads share one token bucket (a few hundred a second: far above how fast
# keys are created, far below what would load CQL); after a read fails (CQL unreachable), none is tried for
# MISS_FAILURE_PAUSE_MS, so an outage does not hold each unknown key's call for the timeout.
MISS_LOOKUP_TIMEOUT_S = 0.5
MISS_NEGATIVE_TTL_MS = 1_000
MISS_NEGATIVE_MAX = 10_000
MISS_LOOKUPS_PER_S = 200
MISS_FAILURE_PAUSE_MS = 1_000
MARKET = "market"  # the role class of market data: any valid key

_TRADING = "/exchange.v1.TradingService/"
_ACCOUNT = "/exchange.v1.AccountService/"
_MARKET_DATA = "/exchange.v1.MarketDataService/"

# Every RPC of the three services and the role it needs (None: any valid key). A unit test checks that every
# method in the service descriptors has a row, so a new RPC cannot slip through unauthenticated.
METHOD_ROLES: Mapping[str, Role | None] = {
    _TRADING + "PlaceOrder": Role.TRADE,
    _TRADING + "PlaceOrders": Role.TRADE,
    _TRADING + "StreamOrders": Role.TRADE,
    _TRADING + "CancelOrder": Role.TRADE,
    _TRADING + "GetOrder": Role.READ,
    _TRADING + "ListOrders": Role.READ,
    _TRADING + "ListFills": Role.READ,
    _ACCOUNT + "GetBalances": Role.READ,
    _ACCOUNT + "TransferIn": Role.TRANSFER,
    _ACCOUNT + "TransferOut": Role.TRANSFER,
    _ACCOUNT + "GetTransfer": Role.READ,
    _ACCOUNT + "ListLedger": Role.READ,
    _ACCOUNT + "StreamUserData": Role.READ,
    _MARKET_DATA + "ListMarkets": None,
    _MARKET_DATA + "GetOrderBook": None,
    _MARKET_DATA + "ListTrades": None,
    _MARKET_DATA + "StreamMarketData": None,
    _MARKET_DATA + "GetServerTime": None,
}
# A second role that also grants a method: an operator (transfer only) reads the outcome of the transfers it sends.
METHOD_ROLES_ALSO: Mapping[str, Role] = {_ACCOUNT + "GetTransfer": Role.TRANSFER}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key and the one user it is bound to."""

    key_id: str
    user_id: int
    roles: frozenset[Role]


_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("gateway_principal")


def current_principal() -> Principal:
    """The authenticated caller of the call running on this thread (set by AuthInterceptor)."""
    return _principal.get()


def role_class_of(method: str) -> str | None:
    """The rate-limit class of `method`: its role's name, "market" for market data, None outside our services."""
    if method not in METHOD_ROLES:
        return None
    role = METHOD_ROLES[method]
    return MARKET if role is None else role.value


def _unauthenticated(message: str) -> Refused:
    return Refused(common_pb2.REJECT_REASON_UNAUTHENTICATED, message)


class KeyCache:
    """All API keys in memory, reloaded from CQL every `refresh_ms` on a daemon thread; a key id it lacks is read
    from CQL by itself (bounded in time and rate, misses remembered briefly)."""

    def __init__(
        self, store: ApiKeyStore, *, refresh_ms: int, stale_max_ms: int = STALE_MAX_MS_DEFAULT,
        clock_ns: Callable[[], int] = time.monotonic_ns, miss_lookups_per_s: float = MISS_LOOKUPS_PER_S,
        miss_timeout_s: float = MISS_LOOKUP_TIMEOUT_S, miss_negative_ttl_ms: int = MISS_NEGATIVE_TTL_MS,
        miss_negative_max: int = MISS_NEGATIVE_MAX, miss_failure_pause_ms: int = MISS_FAILURE_PAUSE_MS,
    ) -> None:
        assert refresh_ms > 0, refresh_ms
        assert miss_lookups_per_s > 0, miss_lookups_per_s
        assert miss_negative_max > 0, miss_negative_max
        self.store = store
        self.refresh_ms = refresh_ms
        self.stale_max_ms = max(stale_max_ms, 2 * refresh_ms)
        self.clock_ns = clock_ns
        self.keys: dict[str, ApiKey] = {}
        self.loaded_ns = 0  # monotonic time of the last successful load; 0 = never
        self.refresh_failures = 0
        self.miss_timeout_s = miss_timeout_s
        self.miss_negative_ttl_ns = miss_negative_ttl_ms * 1_000_000
        self.miss_negative_max = miss_negative_max
        self.miss_failure_pause_ns = miss_failure_pause_ms * 1_000_000
        self.miss_lookups = 0  # reads of one key id (whatever their outcome)
        self.miss_found = 0  # ... that found the key
        self.miss_skipped = 0  # misses refused without a read: remembered absent, over the rate, or CQL failing
        self._negative: OrderedDict[str, int] = OrderedDict()  # key id -> monotonic ns until which it is "absent"
        miss_limit = BucketLimit(miss_lookups_per_s, max(1, int(miss_lookups_per_s)))  # burst: one second's worth
        self._miss_bucket = TokenBucket(miss_limit, tokens=float(miss_limit.burst), updated_ns=clock_ns())
        self._miss_paused_until_ns = 0
        self._miss_lock = threading.Lock()  # guards the negative cache, the bucket and the pause
        self._swap_lock = threading.Lock()  # orders a reload's swap against a miss read's insert
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Reload every key now (raises what the driver raises)."""
        keys = {key.key_id: key for key in self.store.all()}
        with self._swap_lock:
            self.keys = keys  # one reference swap: readers see the old or the new dict, never a mix
        self.loaded_ns = self.clock_ns()

    def lookup(self, key_id: str) -> ApiKey | None:
        """The key with `key_id` from the last load, else read from CQL (None if absent, refused by the miss bounds,
        or unreadable); Refused(SERVICE_UNAVAILABLE) if the last load is too old."""
        self._check_fresh()
        keys = self.keys
        key = keys.get(key_id)
        if key is None and key_id:
            key = self._lookup_miss(key_id, keys)
        return key

    def _check_fresh(self) -> None:
        age_ms = (self.clock_ns() - self.loaded_ns) / 1e6
        if self.loaded_ns == 0 or age_ms > self.stale_max_ms:
            raise Refused(
                common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE,
                "API keys cannot be verified right now (key store unreachable)",
            )

    def _lookup_miss(self, key_id: str, keys: dict[str, ApiKey]) -> ApiKey | None:
        """Read one key id the cache (`keys`, the dict current before the read) lacks, within the miss bounds."""
        if not self._may_read_miss(key_id):
            return None
        try:
            key = self.store.get(key_id, timeout_s=self.miss_timeout_s)
        except Exception as error:  # the driver raises many types; answer as for an unknown key, pause the reads
            with self._miss_lock:
                self._miss_paused_until_ns = self.clock_ns() + self.miss_failure_pause_ns
            log.warning("API key read of an uncached key id failed (no such reads for %d ms): %s",
                        self.miss_failure_pause_ns // 1_000_000, error)
            return None
        if key is None:
            with self._miss_lock:
                self._negative[key_id] = self.clock_ns() + self.miss_negative_ttl_ns
                self._negative.move_to_end(key_id)
                while len(self._negative) > self.miss_negative_max:
                    self._negative.popitem(last=False)
            return None
        # Only into the dict current before the read: if a reload swapped in another since, that one's scan may
        # postdate a revocation this read missed, and must not be overwritten (the key is simply read again).
        with self._swap_lock:
            self.miss_found += 1
            if self.keys is keys:
                keys.setdefault(key_id, key)
        return key

    def _may_read_miss(self, key_id: str) -> bool:
        """False if `key_id` is remembered absent, the reads are paused after a failure, or the bucket is empty;
        True (one token taken) if it may be read now."""
        now_ns = self.clock_ns()
        with self._miss_lock:
            absent_until_ns = self._negative.get(key_id)
            if absent_until_ns is not None and now_ns >= absent_until_ns:
                del self._negative[key_id]
                absent_until_ns = None
            if absent_until_ns is not None or now_ns < self._miss_paused_until_ns or self._miss_bucket.take(now_ns):
                self.miss_skipped += 1
                return False
            self.miss_lookups += 1
            return True

    def check(self) -> None:
        """Health check: raise unless the keys were loaded recently enough to be trusted."""
        self._check_fresh()

    def start(self) -> None:
        """Try a first load now (a failure leaves the cache empty and health red), then reload on a daemon thread."""
        self._reload()
        self._thread = threading.Thread(target=self._loop, name="api-key-cache", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reloading."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_ms / 1000):
            self._reload()

    def _reload(self) -> None:
        try:
            self.refresh()
            self.refresh_failures = 0
        except Exception as error:  # the driver raises many types; the cache keeps its last good copy
            self.refresh_failures += 1
            log.warning("API key reload failed (%d in a row): %s", self.refresh_failures, error)


def authenticate(metadata: Mapping[str, str], cache: KeyCache) -> Principal:
    """The principal of a call's metadata; Refused(UNAUTHENTICATED) for a missing, bad or revoked key."""
    header = metadata.get("authorization")
    if header is None:
        raise _unauthenticated("missing authorization metadata: send 'authorization: Bearer <api key>'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("authorization must be 'Bearer <api key>'")
    parts = split_key(token.strip())
    if parts is None:
        raise _unauthenticated("malformed API key")
    key_id, secret = parts
    key = cache.lookup(key_id)
    if key is None or not key.matches(secret):
        raise _unauthenticated("unknown API key")
    if key.revoked:
        raise _unauthenticated("API key revoked")
    return Principal(key_id=key.key_id, user_id=key.user_id, roles=key.roles)


def authorize(principal: Principal, method: str) -> None:
    """Refused(PERMISSION_DENIED) unless the principal holds the role `method` needs."""
    role = METHOD_ROLES[method]
    if role is not None and role not in principal.roles and METHOD_ROLES_ALSO.get(method) not in principal.roles:
        raise Refused(
            common_pb2.REJECT_REASON_PERMISSION_DENIED,
            f"this API key lacks the {role.value!r} role {method} needs",
            metadata={"required_role": role.value},
        )


class AuthInterceptor(AroundInterceptor):
    """Authenticates and authorizes every call of the exchange services, then exposes the principal."""

    def __init__(self, cache: KeyCache) -> None:
        self.cache = cache
        # authorization header -> (the key it was verified against, its principal): a repeat of a header skips the
        # parse and the SHA-256 while the cache holds that same key object (a reload makes new objects, so a
        # revocation is seen at the next reload as before; a stale cache still refuses in `lookup`).
        self._verified: dict[str, tuple[ApiKey, Principal]] = {}

    def applies(self, method: str) -> bool:
        """The exchange services' methods; health and reflection stay open."""
        return method in METHOD_ROLES

    def _principal(self, method: str, context: grpc.ServicerContext) -> Principal:
        invocation_metadata = context.invocation_metadata() or ()
        header = ""
        for key, value in invocation_metadata:  # the last text value, as the dict below would keep
            if key == "authorization" and isinstance(value, str):
                header = value
        verified = self._verified.get(header) if header else None
        if verified is not None and self.cache.lookup(verified[1].key_id) is verified[0]:
            principal = verified[1]
        else:  # first sight of this header (or a reloaded key): the full check, on a dict of the metadata
            metadata = {key: value for key, value in invocation_metadata if isinstance(value, str)}
            principal = authenticate(metadata, self.cache)
            if len(self._verified) >= VERIFIED_HEADERS_MAX:
                self._verified.clear()
            key = self.cache.lookup(principal.key_id)
            if key is not None:
                self._verified[header] = (key, principal)
        authorize(principal, method)
        return principal

    def around_unary(self, method: str, invoke: Invoke, context: grpc.ServicerContext) -> Any:
        """Run the call as the key's principal."""
        token = _principal.set(self._principal(method, context))
        try:
            return invoke()
        finally:
            _principal.reset(token)

    def around_stream(
        self, method: str, invoke: Callable[[], Iterator[Any]], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        """Run the stream as the key's principal.

        The principal is set around each step of the inner stream rather than across the whole generator: grpcio
        may finish (close) an abandoned stream's generator on another thread, where a context token from this
        thread cannot be reset.
        """
        principal = self._principal(method, context)
        inner = iter(invoke())
        try:
            while True:
                token = _principal.set(principal)
                try:
                    item = next(inner)
                except StopIteration:
                    return
                finally:
                    _principal.reset(token)
                yield item
        finally:
            close = getattr(inner, "close", None)  # a generator: run its cleanup (unsubscribe) now, not at GC
            if close is not None:
                close()
