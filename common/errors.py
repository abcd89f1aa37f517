"""Errors shared by every service (operating errors, not bugs: bugs are assertions).

    ExchangeError
    ├── ConfigInvalid          a config file breaks a rule (inexact market, unknown asset, ...)
    ├── InvalidAmount          a decimal string or integer is not an acceptable amount (`reason` says why)
    ├── WalCorrupt             a write-ahead-log record fails its CRC or framing check
    ├── ChainBroken            an engine output does not link to the hash chain held (never skipped: halt)
    └── TransportError         a broker, socket or driver did not do what was asked
        ├── Unavailable        the peer is down or not connected (retriable)
        └── Timeout            no answer within the deadline (retriable)

`retriable` tells a caller whether trying the same thing again later can succeed.
"""

from __future__ import annotations

from typing import ClassVar


class ExchangeError(Exception):
    """Root of every operating error raised by this project."""

    retriable: ClassVar[bool] = False


class ConfigInvalid(ExchangeError):
    """A configuration file or value breaks a rule; the message names the file, the entry and the rule."""


class InvalidAmount(ExchangeError):
    """An amount is malformed or out of range. `reason` is a stable machine-readable code (e.g. TOO_MANY_DECIMALS)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class WalCorrupt(ExchangeError):
    """A write-ahead-log record fails its CRC or framing check."""


class ChainBroken(ExchangeError):
    """An engine output fails the seq/hash-chain check, or the history needed to close a gap is gone."""


class TransportError(ExchangeError):
    """A broker, socket or driver did not do what was asked."""


class Unavailable(TransportError):
    """The peer is down or not connected."""

    retriable = True


class Timeout(TransportError):
    """No answer arrived within the deadline."""

    retriable = True
