"""Errors of the Settlement shell (operating errors; bugs are assertions).

    ExchangeError                     (common/errors.py)
    ├── ChainBroken                   (common) a matcher output does not link: the service halts naming shard and seq
    ├── InputMalformed                a balance.events record Settlement cannot use: recorded, counted, skipped
    ├── SchemaMismatch                a migration already applied differs from the file in the repo (edited later)
    ├── InvalidPageToken              a query's page token is not one queries.py produced (the caller's error)
    └── TransportError > Unavailable  (common) the CQL server stayed unreachable past the retry deadline

`InputMalformed.reason` is a stable machine-readable code (UNDECODABLE, NO_EVENT_ID, BAD_TYPE, ...).
"""

from __future__ import annotations

from common.errors import ExchangeError


class InputMalformed(ExchangeError):
    """An input record that cannot become rows; the service records it in `malformed_inputs` and skips it."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SchemaMismatch(ExchangeError):
    """An applied migration's checksum differs from the file: migrations are append-only, never edited."""


class InvalidPageToken(ExchangeError):
    """A page token that queries.py did not produce, or one for a different query."""
