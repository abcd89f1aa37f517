"""API keys: their format, their hash, and the CQL table `api_keys` they live in.

A key is `exk_<key id>_<secret>`: the key id (16 hex characters, public, the table's primary key) finds the row,
the secret (32 random bytes, base64url) proves possession. Only SHA-256(secret) is stored. A fast hash is enough
because the secret is 256 bits from `secrets`, not a password a person chose: guessing it is hopeless however
fast each guess is, so a slow password hash (bcrypt, argon2) would only cost milliseconds of CPU on every call.
The full key is shown once, when it is created.

Each key is bound to one user (never a system account: ids below 1000) and holds a set of roles:
read (own balances, orders, fills, ledger), trade (place and cancel orders), transfer (operator: deposits and
withdrawals), admin (reserved for administrative RPCs; it grants none of the others). Revoking sets `revoked_ns`;
rows are never deleted, so the audit trail of who held which key stays.

The table is in Settlement's migrations (`settlement/migrations/0002_api_keys.cql`); `python -m tools.apikeys`
also creates it idempotently (same definition), so the command works before the first `migrate`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from common.errors import ExchangeError
from common.markets import SYSTEM_USER_ID_END

KEY_PREFIX = "exk_"
KEY_ID_BYTES = 8
SECRET_BYTES = 32
_KEY_RE = re.compile(r"exk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


class Role(enum.StrEnum):
    """What a key may do."""

    READ = "read"
    TRADE = "trade"
    TRANSFER = "transfer"
    ADMIN = "admin"


class KeyRefused(ExchangeError):
    """An admin request about keys breaks a rule (system account, unknown role, unknown key)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """One row of `api_keys`."""

    key_id: str
    secret_sha256: bytes
    user_id: int
    roles: frozenset[Role]
    label: str
    created_ns: int
    revoked_ns: int  # 0 while valid

    @property
    def revoked(self) -> bool:
        """True once revoked."""
        return self.revoked_ns != 0

    def matches(self, secret: str) -> bool:
        """True if `secret` hashes to this key's stored hash (constant-time compare)."""
        return hmac.compare_digest(hash_secret(secret), self.secret_sha256)


def hash_secret(secret: str) -> bytes:
    """SHA-256 of the secret's ASCII bytes."""
    return hashlib.sha256(secret.encode("ascii")).digest()


def new_key() -> tuple[str, str, str]:
    """(full key to show once, key id, secret) from the OS's CSPRNG."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return f"{KEY_PREFIX}{key_id}_{secret}", key_id, secret


def split_key(text: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    match = _KEY_RE.fullmatch(text)
    return (match.group(1), match.group(2)) if match else None


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Roles from their names; KeyRefused for an unknown name or none at all."""
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip().lower()))
        except ValueError as error:
            raise KeyRefused(f"unknown role {name!r} (one of {', '.join(r.value for r in Role)})") from error
    if not roles:
        raise KeyRefused("a key needs at least one role")
    return frozenset(roles)


class ApiKeyStore:
    """The `api_keys` table in one keyspace (scylla-driver session)."""

    def __init__(self, session: object, keyspace: str) -> None:
        assert keyspace.isidentifier(), keyspace
        self.session = session
        self.table = f"{keyspace}.api_keys"

    def create_table(self) -> None:
        """Create the table if it does not exist (idempotent)."""
        self.session.execute(  # type: ignore[attr-defined]
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "key_id text PRIMARY KEY, secret_sha256 blob, user_id bigint, roles set<text>, label text, "
            "created_ns bigint, revoked_ns bigint)"
        )

    def create(self, *, user_id: int, roles: frozenset[Role], label: str, now_ns: int) -> tuple[str, ApiKey]:
        """Store a new key for `user_id`; return (the full key, to show once, and its row)."""
        if user_id < SYSTEM_USER_ID_END:
            raise KeyRefused(f"user {user_id} is a system account (ids below {SYSTEM_USER_ID_END}): no API keys")
        if user_id >= 2**63:
            raise KeyRefused(f"user {user_id} does not fit int64")
        full_key, key_id, secret = new_key()
        row = ApiKey(
            key_id=key_id, secret_sha256=hash_secret(secret), user_id=user_id, roles=roles, label=label,
            created_ns=now_ns, revoked_ns=0,
        )
        self.session.execute(  # type: ignore[attr-defined]
            f"INSERT INTO {self.table} (key_id, secret_sha256, user_id, roles, label, created_ns, revoked_ns) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) IF NOT EXISTS",
            (key_id, row.secret_sha256, user_id, {r.value for r in roles}, label, now_ns, 0),
        )
        return full_key, row

    def revoke(self, key_id: str, *, now_ns: int) -> ApiKey:
        """Mark a key revoked (kept for the audit trail); KeyRefused if there is no such key."""
        row = self.get(key_id)
        if row is None:
            raise KeyRefused(f"no key with id {key_id!r}")
        if not row.revoked:
            self.session.execute(  # type: ignore[attr-defined]
                f"UPDATE {self.table} SET revoked_ns = %s WHERE key_id = %s", (now_ns, key_id)
            )
        return self.get(key_id) or row

    def get(self, key_id: str, *, timeout_s: float | None = None) -> ApiKey | None:
        """The row of `key_id`, or None; `timeout_s` bounds the request (None: the session's default timeout)."""
        options = {} if timeout_s is None else {"timeout": timeout_s}  # the driver's timeout=None means "wait forever"
        rows = list(
            self.session.execute(  # type: ignore[attr-defined]
                f"SELECT key_id, secret_sha256, user_id, roles, label, created_ns, revoked_ns FROM {self.table} "
                "WHERE key_id = %s",
                (key_id,),
                **options,
            )
        )
        return _row(rows[0]) if rows else None

    def all(self) -> list[ApiKey]:
        """Every key, revoked ones included (the driver pages through the table)."""
        rows = self.session.execute(  # type: ignore[attr-defined]
            f"SELECT key_id, secret_sha256, user_id, roles, label, created_ns, revoked_ns FROM {self.table}"
        )
        return [_row(row) for row in rows]


def _row(row: tuple) -> ApiKey:
    key_id, secret_sha256, user_id, roles, label, created_ns, revoked_ns = row
    return ApiKey(
        key_id=key_id, secret_sha256=bytes(secret_sha256), user_id=user_id,
        roles=frozenset(Role(name) for name in roles or ()), label=label or "", created_ns=created_ns or 0,
        revoked_ns=revoked_ns or 0,
    )
