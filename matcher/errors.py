"""Errors of the matcher shell (operating errors; bugs are assertions).

    ExchangeError                     (common/errors.py)
    ├── InputRejected                 an `orders` record carrying no command: logged, counted, recorded, skipped
    └── ReplayUnavailable             the WAL no longer holds the outputs a replay request asked for

`InputRejected.reason` is a stable machine-readable code (UNDECODABLE, TOO_LARGE, NO_COMMAND, NO_SEQUENCE).
"""

from __future__ import annotations

from common.errors import ExchangeError


class InputRejected(ExchangeError):
    """An input record that cannot become a core command; the service skips it and never crashes on it."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ReplayUnavailable(ExchangeError):
    """The outputs asked for were truncated from the WAL (older than the oldest kept snapshot)."""
