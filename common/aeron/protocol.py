"""Client <-> driver control protocol (io.aeron.command.*): type ids, command encoders, response decoders.

All fields are little-endian. Commands start with `[long client_id][long correlation_id]`. Strings are
`[int length][ascii bytes]`. Only the commands this client sends and the responses it reads are here.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass


class Command(enum.IntEnum):
    """Client-to-driver message type ids (ControlProtocolEvents)."""

    ADD_PUBLICATION = 0x01
    REMOVE_PUBLICATION = 0x02
    ADD_EXCLUSIVE_PUBLICATION = 0x03
    ADD_SUBSCRIPTION = 0x04
    REMOVE_SUBSCRIPTION = 0x05
    CLIENT_KEEPALIVE = 0x06
    CLIENT_CLOSE = 0x0B


class Response(enum.IntEnum):
    """Driver-to-client message type ids (ControlProtocolEvents)."""

    ON_ERROR = 0x0F01
    ON_AVAILABLE_IMAGE = 0x0F02
    ON_PUBLICATION_READY = 0x0F03
    ON_OPERATION_SUCCESS = 0x0F04
    ON_UNAVAILABLE_IMAGE = 0x0F05
    ON_EXCLUSIVE_PUBLICATION_READY = 0x0F06
    ON_SUBSCRIPTION_READY = 0x0F07
    ON_COUNTER_READY = 0x0F08
    ON_UNAVAILABLE_COUNTER = 0x0F09
    ON_CLIENT_TIMEOUT = 0x0F0A
    ON_STATIC_COUNTER = 0x0F0B
    ON_PUBLICATION_ERROR = 0x0F0C
    ON_NEXT_AVAILABLE_SESSION_ID = 0x0F0D


_CORRELATED = struct.Struct("<qq")
_PUBLICATION = struct.Struct("<qqii")
_SUBSCRIPTION = struct.Struct("<qqqii")
_REMOVE_PUBLICATION = struct.Struct("<qqqq")
_REMOVE = struct.Struct("<qqq")
_PUBLICATION_READY = struct.Struct("<qqiiiii")
_SUBSCRIPTION_READY = struct.Struct("<qi")
_IMAGE_READY = struct.Struct("<qiiqii")
_IMAGE_MESSAGE = struct.Struct("<qqii")
_ERROR = struct.Struct("<qii")
_LONG = struct.Struct("<q")
_INT = struct.Struct("<i")


def encode_correlated(client_id: int, correlation_id: int) -> bytes:
    """Keepalive and close: just the client and correlation ids."""
    return _CORRELATED.pack(client_id, correlation_id)


def encode_add_publication(client_id: int, correlation_id: int, stream_id: int, channel: str) -> bytes:
    """ADD_PUBLICATION / ADD_EXCLUSIVE_PUBLICATION."""
    text = channel.encode("ascii")
    return _PUBLICATION.pack(client_id, correlation_id, stream_id, len(text)) + text


def encode_add_subscription(client_id: int, correlation_id: int, stream_id: int, channel: str) -> bytes:
    """ADD_SUBSCRIPTION (registration correlation id -1: not a destination of another subscription)."""
    text = channel.encode("ascii")
    return _SUBSCRIPTION.pack(client_id, correlation_id, -1, stream_id, len(text)) + text


def encode_remove_publication(client_id: int, correlation_id: int, registration_id: int) -> bytes:
    """REMOVE_PUBLICATION with flags 0 (no revoke)."""
    return _REMOVE_PUBLICATION.pack(client_id, correlation_id, registration_id, 0)


def encode_remove(client_id: int, correlation_id: int, registration_id: int) -> bytes:
    """REMOVE_SUBSCRIPTION (and other removes keyed by registration id)."""
    return _REMOVE.pack(client_id, correlation_id, registration_id)


def _string_at(payload: bytes, offset: int) -> tuple[str, int]:
    (length,) = _INT.unpack_from(payload, offset)
    start = offset + 4
    return payload[start : start + length].decode("ascii", "replace"), start + length


@dataclass(slots=True, frozen=True, kw_only=True)
class PublicationReady:
    """ON_PUBLICATION_READY / ON_EXCLUSIVE_PUBLICATION_READY."""

    correlation_id: int
    registration_id: int
    session_id: int
    stream_id: int
    publication_limit_counter_id: int
    channel_status_indicator_id: int
    log_file_name: str


def decode_publication_ready(payload: bytes) -> PublicationReady:
    """Decode a publication-ready response."""
    correlation_id, registration_id, session_id, stream_id, limit_id, status_id, _ = _PUBLICATION_READY.unpack_from(
        payload, 0)
    log_file_name, _ = _string_at(payload, 32)
    return PublicationReady(correlation_id=correlation_id, registration_id=registration_id, session_id=session_id,
                            stream_id=stream_id, publication_limit_counter_id=limit_id,
                            channel_status_indicator_id=status_id, log_file_name=log_file_name)


@dataclass(slots=True, frozen=True, kw_only=True)
class SubscriptionReady:
    """ON_SUBSCRIPTION_READY."""

    correlation_id: int
    channel_status_indicator_id: int


def decode_subscription_ready(payload: bytes) -> SubscriptionReady:
    """Decode a subscription-ready response."""
    correlation_id, status_id = _SUBSCRIPTION_READY.unpack_from(payload, 0)
    return SubscriptionReady(correlation_id=correlation_id, channel_status_indicator_id=status_id)


@dataclass(slots=True, frozen=True, kw_only=True)
class ImageReady:
    """ON_AVAILABLE_IMAGE: a publication's stream became available to one of our subscriptions."""

    correlation_id: int
    session_id: int
    stream_id: int
    subscription_registration_id: int
    subscriber_position_id: int
    log_file_name: str
    source_identity: str


def decode_image_ready(payload: bytes) -> ImageReady:
    """Decode an available-image response (log file name, then source identity at a 4-aligned offset)."""
    correlation_id, session_id, stream_id, subscription_id, position_id, _ = _IMAGE_READY.unpack_from(payload, 0)
    log_file_name, end = _string_at(payload, 28)
    source_identity, _ = _string_at(payload, (end + 3) & ~3)
    return ImageReady(correlation_id=correlation_id, session_id=session_id, stream_id=stream_id,
                      subscription_registration_id=subscription_id, subscriber_position_id=position_id,
                      log_file_name=log_file_name, source_identity=source_identity)


@dataclass(slots=True, frozen=True, kw_only=True)
class ImageGone:
    """ON_UNAVAILABLE_IMAGE."""

    correlation_id: int
    subscription_registration_id: int
    stream_id: int
    channel: str


def decode_image_gone(payload: bytes) -> ImageGone:
    """Decode an unavailable-image response."""
    correlation_id, subscription_id, stream_id, _ = _IMAGE_MESSAGE.unpack_from(payload, 0)
    channel, _ = _string_at(payload, 20)
    return ImageGone(correlation_id=correlation_id, subscription_registration_id=subscription_id,
                     stream_id=stream_id, channel=channel)


@dataclass(slots=True, frozen=True, kw_only=True)
class ErrorResponse:
    """ON_ERROR: the driver refused the command with this correlation id."""

    offending_correlation_id: int
    error_code: int
    message: str


def decode_error(payload: bytes) -> ErrorResponse:
    """Decode an error response."""
    correlation_id, code, _ = _ERROR.unpack_from(payload, 0)
    message, _ = _string_at(payload, 12)
    return ErrorResponse(offending_correlation_id=correlation_id, error_code=code, message=message)


def decode_long(payload: bytes) -> int:
    """The leading long of a response (ON_OPERATION_SUCCESS correlation id, ON_CLIENT_TIMEOUT client id)."""
    return _LONG.unpack_from(payload, 0)[0]
