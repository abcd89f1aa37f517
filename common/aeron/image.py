"""Images: one publisher session's stream as seen by one subscription, and the fragment `Header` flyweight.

`Image.poll(handler, fragment_limit)` reads frames from the subscriber position onwards, calls
`handler(payload, header)` for each data fragment (padding frames are skipped), then advances the subscriber
position counter with a release store. That counter is what the driver uses for flow control: the publisher may
not run more than a term window ahead of the slowest subscriber, so a subscriber that stops polling back-pressures
the publisher instead of losing data.

`payload` is a memoryview *into the shared log*; it is valid only during the call. Copy it (`bytes(payload)`)
to keep it. `header` is a flyweight reused for every fragment, with the same rule.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from common.aeron.atomics import AtomicBuffer
from common.aeron.log_buffer import (
    FLAGS_OFFSET,
    HDR_TYPE_PAD,
    HEADER_LENGTH,
    PARTITION_COUNT,
    LogBuffers,
    term_begin_position,
)

_HEADER_FIELDS = struct.Struct("<iBBhiiiiq")


class Header:
    """The header of the fragment being delivered (a flyweight: read it inside the handler only)."""

    __slots__ = ("_bytes", "_initial_term_id", "_position_bits", "offset")

    def __init__(self, log_bytes: memoryview, *, initial_term_id: int, position_bits: int) -> None:
        self._bytes = log_bytes
        self._initial_term_id = initial_term_id
        self._position_bits = position_bits
        self.offset = 0

    def _fields(self) -> tuple[int, int, int, int, int, int, int, int, int]:
        return _HEADER_FIELDS.unpack_from(self._bytes, self.offset)

    @property
    def frame_length(self) -> int:
        """Length of the frame including its 32-byte header."""
        return self._fields()[0]

    @property
    def flags(self) -> int:
        """BEGIN (0x80) / END (0x40) fragment flags."""
        return self._bytes[self.offset + FLAGS_OFFSET]

    @property
    def term_offset(self) -> int:
        """Offset of the frame in its term."""
        return self._fields()[4]

    @property
    def session_id(self) -> int:
        """Publisher session id (identifies the image within the subscription)."""
        return self._fields()[5]

    @property
    def stream_id(self) -> int:
        """Stream id of the publication."""
        return self._fields()[6]

    @property
    def term_id(self) -> int:
        """Term id of the frame."""
        return self._fields()[7]

    @property
    def reserved_value(self) -> int:
        """The frame's reserved 64-bit value."""
        return self._fields()[8]

    @property
    def position(self) -> int:
        """Stream position just after this fragment."""
        fields = self._fields()
        aligned = (fields[0] + 31) & ~31
        return term_begin_position(fields[7], self._initial_term_id, self._position_bits) + fields[4] + aligned


FragmentHandler = Callable[[memoryview, Header], None]


class Image:
    """A connected publisher session on a subscription."""

    __slots__ = (
        "_bytes",
        "_cnc",
        "_end_of_stream_at_close",
        "_get_i64",
        "_header",
        "_log",
        "_partition_mask",
        "_position",
        "_position_index",
        "_position_offset",
        "_set_position",
        "_term_length",
        "_term_mask",
        "buffer",
        "correlation_id",
        "is_closed",
        "join_position",
        "position_bits",
        "session_id",
        "source_identity",
        "stream_id",
        "subscription_registration_id",
    )

    def __init__(self, *, log: LogBuffers, cnc: AtomicBuffer, position_offset: int, correlation_id: int,
                 session_id: int, stream_id: int, subscription_registration_id: int, source_identity: str) -> None:
        geometry = log.geometry
        self._log = log
        self.buffer = log.buffer
        self._bytes = log.buffer.bytes
        self._cnc = cnc
        self._position_offset = position_offset
        self._position_index = position_offset >> 3
        self._get_i64 = log.buffer.i64_acquire_getter()
        self._set_position = cnc.i64_release_setter()
        self._term_length = geometry.term_length
        self._term_mask = geometry.term_length - 1
        self.position_bits = geometry.position_bits
        self._position = cnc.get_i64_acquire(position_offset)
        self.join_position = self._position
        self._header = Header(self._bytes, initial_term_id=geometry.initial_term_id,
                              position_bits=geometry.position_bits)
        self.correlation_id = correlation_id
        self.session_id = session_id
        self.stream_id = stream_id
        self.subscription_registration_id = subscription_registration_id
        self.source_identity = source_identity
        self.is_closed = False
        self._end_of_stream_at_close = False

    @property
    def position(self) -> int:
        """This subscriber's position in the stream (bytes consumed)."""
        return self._position

    @property
    def is_end_of_stream(self) -> bool:
        """True only when the publisher ended the stream (closed its publication) and everything up to that end
        was consumed. An image that went away otherwise (publisher's driver died, image liveness timeout, our
        own client or subscription closed) is `is_closed` but not at end of stream: the stream may be cut short.
        """
        if self.is_closed:
            return self._end_of_stream_at_close
        return self._position >= self._log.end_of_stream_position()

    def poll(self, handler: FragmentHandler, fragment_limit: int) -> int:
        """Deliver up to `fragment_limit` fragments to `handler`; returns how many were delivered."""
        if self.is_closed:
            return 0
        position = self._position
        term_offset = position & self._term_mask
        base = ((position >> self.position_bits) % PARTITION_COUNT) * self._term_length
        term_length = self._term_length
        get_word = self._get_i64
        view = self._bytes
        header = self._header
        offset = term_offset
        fragments = 0
        try:
            while fragments < fragment_limit and offset < term_length:
                frame = base + offset
                # One 8-byte acquire load gives the length (low int) and, behind it, version/flags/type.
                word = get_word(frame >> 3)
                frame_length = word & 0xFFFF_FFFF
                if frame_length == 0 or frame_length & 0x8000_0000:
                    break  # not written yet, or being written (negative length)
                offset += (frame_length + 31) & ~31
                if (word >> 48) == HDR_TYPE_PAD:
                    continue
                fragments += 1
                header.offset = frame
                handler(view[frame + HEADER_LENGTH : frame + frame_length], header)
        finally:
            if offset > term_offset:
                self._position = position + (offset - term_offset)
                self._set_position(self._position_index, self._position)
        return fragments

    def _mark_closed(self) -> None:
        if self.is_closed:
            return
        self._end_of_stream_at_close = self._position >= self._log.end_of_stream_position()
        self.is_closed = True
        self._log.close()
