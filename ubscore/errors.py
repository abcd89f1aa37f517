"""Errors of the UBSCore shell (operating errors; bugs are assertions).

    ExchangeError                     (common/errors.py)
    └── InputRejected                 an input UBSCore cannot use (any channel): logged with its origin, counted,
                                      refused (Aeron) or set aside (Kafka, recorded in the WAL); never a crash

`InputRejected.reason` is a stable machine-readable code (TOO_LARGE, UNDECODABLE, NO_BODY, BAD_OPERATION, ...).
"""

from __future__ import annotations

from common.errors import ExchangeError


class InputRejected(ExchangeError):
    """An input that cannot become a core request; the service refuses or skips it and never crashes on it."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
