"""Control-protocol encoders/decoders against hand-built 1.51 wire layouts, and error mapping."""

from __future__ import annotations

import struct

from common.aeron import protocol
from common.aeron.errors import ChannelEndpointError, DriverError, DriverErrorCode, InvalidChannel, driver_error


def test_add_publication_layout() -> None:
    """[client id][correlation id][stream id][channel length][channel]."""
    encoded = protocol.encode_add_publication(7, 8, 1001, "aeron:ipc")
    assert encoded == struct.pack("<qqii", 7, 8, 1001, 9) + b"aeron:ipc"


def test_add_subscription_layout() -> None:
    """[client id][correlation id][registration correlation id = -1][stream id][channel length][channel]."""
    encoded = protocol.encode_add_subscription(7, 8, 5, "aeron:ipc")
    assert encoded == struct.pack("<qqqii", 7, 8, -1, 5, 9) + b"aeron:ipc"


def test_remove_publication_layout_has_flags() -> None:
    """1.51's RemovePublicationFlyweight adds a flags long (0: do not revoke)."""
    assert protocol.encode_remove_publication(1, 2, 3) == struct.pack("<qqqq", 1, 2, 3, 0)


def test_decode_publication_ready() -> None:
    """Fields at 0/8/16/20/24/28, log file name string at 32."""
    payload = struct.pack("<qqiiiii", 11, 12, 13, 14, 15, 16, 8) + b"/x/1.log"
    ready = protocol.decode_publication_ready(payload)
    assert (ready.correlation_id, ready.registration_id, ready.session_id, ready.stream_id) == (11, 12, 13, 14)
    assert (ready.publication_limit_counter_id, ready.channel_status_indicator_id) == (15, 16)
    assert ready.log_file_name == "/x/1.log"


def test_decode_image_ready_with_aligned_source_identity() -> None:
    """The source identity follows the log file name at a 4-byte aligned offset."""
    name = b"/dev/shm/a/images/5.logbuffer"  # 29 bytes: padded to 32
    payload = struct.pack("<qiiqii", 1, 2, 3, 4, 5, len(name)) + name + b"\0\0\0" + struct.pack("<i", 9) + b"aeron:ipc"
    image = protocol.decode_image_ready(payload)
    assert (image.correlation_id, image.session_id, image.stream_id) == (1, 2, 3)
    assert (image.subscription_registration_id, image.subscriber_position_id) == (4, 5)
    assert image.log_file_name == name.decode()
    assert image.source_identity == "aeron:ipc"


def test_decode_error_and_map_to_exceptions() -> None:
    """ON_ERROR becomes the most specific DriverError subclass; unknown codes stay DriverError."""
    error = protocol.decode_error(struct.pack("<qii", 42, 1, 3) + b"bad")
    assert (error.offending_correlation_id, error.error_code, error.message) == (42, 1, "bad")
    assert isinstance(driver_error("m", code=1, correlation_id=42), InvalidChannel)
    assert isinstance(driver_error("m", code=4, correlation_id=42), ChannelEndpointError)
    unknown = driver_error("m", code=99, correlation_id=42)
    assert type(unknown) is DriverError
    assert unknown.code == DriverErrorCode.UNKNOWN_CODE_VALUE


def test_decode_image_gone() -> None:
    """ON_UNAVAILABLE_IMAGE: correlation id, subscription registration id, stream id, channel."""
    gone = protocol.decode_image_gone(struct.pack("<qqii", 1, 2, 3, 9) + b"aeron:ipc")
    assert (gone.correlation_id, gone.subscription_registration_id, gone.stream_id, gone.channel) == (
        1, 2, 3, "aeron:ipc")
