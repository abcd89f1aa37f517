"""Authentication and authorization of every call: `authorization: Bearer <key>` and the per-method role table.

The account comes from the key, never from the request body (DESIGN.md, Gateway). The interceptor:
- no `authorization` metadata, a malformed, unknown or revoked key, or a wrong secret -> UNAUTHENTICATED;
- a valid key without the method's role -> PERMISSION_DENIED;
- otherwise the call runs with `current_principal()` = (key id, user id, roles).

Keys come from a `KeyCache`, which reloads the whole `api_keys` table every GATEWAY_KEY_REFRESH_MS (2 s), so a
revocation (or a new key) takes effect within that time on every running gateway instance, without any call
reading CQL. If reloading fails, the last good copy is used for at most `stale_max_ms` (5 min); after that every
call is refused UNAVAILABLE, because honouring keys that may have been revoked long ago would be worse. Within
that bound a CQL outage does not stop trading: order entry needs the database only for the keys (docs/decisions.md).

Methods outside the exchange services (health, reflection) need no key.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from exchange.v1 import common_pb2
from gateway.api_keys import ApiKey, ApiKeyStore, Role, split_key
from gateway.errors import Refused
from gateway.interceptors import AroundInterceptor, Invoke

# How long the last good copy of the keys is honoured while the key store is unreachable. A revocation is written
# to that same database, so during a plain outage none can be missed; the bound only limits what a partition (this
# gateway cut off from a database others still write) could let through. 5 min covers a CQL server restart
# (8-90 s on the dev machine, the CQL crash drill) with room to spare; at 30 s, trading stopped in every outage.
STALE_MAX_MS_DEFAULT = 300_000
VERIFIED_HEADERS_MAX = 10_000
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
    """All API keys in memory, reloaded from CQL every `refresh_ms` on a daemon thread."""

    def __init__(
        self, store: ApiKeyStore, *, refresh_ms: int, stale_max_ms: int = STALE_MAX_MS_DEFAULT,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        assert refresh_ms > 0, refresh_ms
        self.store = store
        self.refresh_ms = refresh_ms
        self.stale_max_ms = max(stale_max_ms, 2 * refresh_ms)
        self.clock_ns = clock_ns
        self.keys: dict[str, ApiKey] = {}
        self.loaded_ns = 0  # monotonic time of the last successful load; 0 = never
        self.refresh_failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Reload every key now (raises what the driver raises)."""
        keys = {key.key_id: key for key in self.store.all()}
        self.keys = keys  # one reference swap: readers see the old or the new dict, never a mix
        self.loaded_ns = self.clock_ns()

    def lookup(self, key_id: str) -> ApiKey | None:
        """The key with `key_id` from the last load; Refused(SERVICE_UNAVAILABLE) if that load is too old."""
        age_ms = (self.clock_ns() - self.loaded_ns) / 1e6
        if self.loaded_ns == 0 or age_ms > self.stale_max_ms:
            raise Refused(
                common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE,
                "API keys cannot be verified right now (key store unreachable)",
            )
        return self.keys.get(key_id)

    def check(self) -> None:
        """Health check: raise unless the keys were loaded recently enough to be trusted."""
        self.lookup("")

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
    if role is not None and role not in principal.roles:
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
