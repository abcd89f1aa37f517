"""Errors raised by the Aeron client (operating errors, not bugs: bugs are assertions).

    AeronError
    ├── DriverError                the driver answered a command with ON_ERROR (`code` is a DriverErrorCode)
    │   ├── InvalidChannel         the channel URI was refused (bad syntax, unknown parameter, ...)
    │   └── ChannelEndpointError   the driver could not open the endpoint (port in use, bad interface)
    ├── DriverUnavailable          no driver at the directory, CnC not ready, or version mismatch (retriable)
    ├── DriverTimeout              the driver stopped heart-beating; the client is closed (retriable)
    ├── ClientTimeout              the driver timed this client out (keepalives missed); the client is closed
    ├── EventsLost                 do_work fell a whole broadcast buffer behind the driver; the client is closed
    ├── ConductorTimeout           a command got no answer within the driver timeout (retriable)
    ├── ClientClosed               an operation on a closed client, publication or subscription
    ├── BufferFull                 the to-driver ring buffer has no room (retriable)
    ├── MessageTooLong             a message is longer than the publication's max message length
    ├── RequestTimeout             request/response: no response within the deadline (retriable)
    └── Undeliverable              request/response: offer kept failing (no subscriber, back-pressure) (retriable)

`retriable` tells a caller whether trying the same thing again later can succeed (a restarted driver, a
freed buffer). Back-pressure and not-connected are *not* errors: `offer` returns them as `OfferResult`
values because they are the normal flow-control signals of a publication.

The tree is standalone (no import from the rest of the project) so the package can be lifted out as-is.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class DriverErrorCode(enum.IntEnum):
    """Mirrors io.aeron.ErrorCode (the driver's wire values). Never renumber."""

    UNUSED = 0
    INVALID_CHANNEL = 1
    UNKNOWN_SUBSCRIPTION = 2
    UNKNOWN_PUBLICATION = 3
    CHANNEL_ENDPOINT_ERROR = 4
    UNKNOWN_COUNTER = 5
    UNKNOWN_COMMAND_TYPE_ID = 6
    MALFORMED_COMMAND = 7
    NOT_SUPPORTED = 8
    UNKNOWN_HOST = 9
    RESOURCE_TEMPORARILY_UNAVAILABLE = 10
    GENERIC_ERROR = 11
    STORAGE_SPACE = 12
    IMAGE_REJECTED = 13
    PUBLICATION_REVOKED = 14
    UNKNOWN_CODE_VALUE = -1

    @classmethod
    def from_wire(cls, value: int) -> DriverErrorCode:
        """Map a wire value to a code; values from a newer driver become UNKNOWN_CODE_VALUE."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN_CODE_VALUE


class AeronError(Exception):
    """Root of every operating error raised by common.aeron."""

    retriable: ClassVar[bool] = False


class DriverError(AeronError):
    """The media driver refused a command; `code` says why and the message is the driver's own text."""

    def __init__(self, message: str, *, code: DriverErrorCode, correlation_id: int) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.correlation_id = correlation_id
        self.driver_message = message


class InvalidChannel(DriverError):
    """The driver refused the channel URI."""


class ChannelEndpointError(DriverError):
    """The driver could not open the channel's endpoint (address in use, unknown interface, ...)."""

    retriable = True


class DriverUnavailable(AeronError):
    """No active media driver: the CnC file is missing, not ready, stale, or of an incompatible version."""

    retriable = True


class DriverTimeout(AeronError):
    """The driver stopped updating its heartbeat for longer than the driver timeout; the client closed itself."""

    retriable = True


class ClientTimeout(AeronError):
    """The driver declared this client dead (keepalives missed) and released its resources."""

    retriable = True


class EventsLost(AeronError):
    """The driver overwrote events this client had not read (do_work called too rarely); the client closed."""

    retriable = True


class ConductorTimeout(AeronError):
    """The driver did not answer a command within the driver timeout."""

    retriable = True


class ClientClosed(AeronError):
    """The client, publication or subscription was already closed."""


class BufferFull(AeronError):
    """The to-driver command ring buffer is full (the driver is not consuming)."""

    retriable = True


class MessageTooLong(AeronError):
    """The message exceeds the publication's max message length (min(term length / 8, 16 MiB))."""


class RequestTimeout(AeronError):
    """No response arrived for a request within its deadline."""

    retriable = True


def driver_error(message: str, *, code: int, correlation_id: int) -> DriverError:
    """Build the most specific DriverError subclass for a driver ON_ERROR response."""
    error_code = DriverErrorCode.from_wire(code)
    if error_code == DriverErrorCode.INVALID_CHANNEL:
        return InvalidChannel(message, code=error_code, correlation_id=correlation_id)
    if error_code == DriverErrorCode.CHANNEL_ENDPOINT_ERROR:
        return ChannelEndpointError(message, code=error_code, correlation_id=correlation_id)
    return DriverError(message, code=error_code, correlation_id=correlation_id)


class Undeliverable(AeronError):
    """A message could not be offered before its deadline (NOT_CONNECTED or BACK_PRESSURED throughout)."""

    retriable = True
