"""Subscriptions (a set of images on one channel + stream) and fragment reassembly.

Images come and go as publishers connect and disconnect; the client conductor adds/removes them when the driver
says so (ON_AVAILABLE_IMAGE / ON_UNAVAILABLE_IMAGE) and calls the subscription's callbacks. `poll` visits the
images round-robin, starting one further each call so that one busy publisher cannot starve the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.aeron.errors import ClientClosed
from common.aeron.idle import BackoffIdleStrategy
from common.aeron.image import FragmentHandler, Header, Image
from common.aeron.log_buffer import BEGIN_FLAG, END_FLAG, HEADER_LENGTH, UNFRAGMENTED, align_frame

if TYPE_CHECKING:
    from common.aeron.client import AeronClient

ImageHandler = Callable[[Image], None]
MessageHandler = Callable[[bytes | memoryview, Header], None]
REASSEMBLY_BYTES_MAX = 16 * 1024 * 1024


class Subscription:
    """Receives the streams of every publisher on (channel, stream id)."""

    __slots__ = ("_client", "_round_robin", "channel", "channel_status_indicator_id", "images", "is_closed",
                 "on_available_image", "on_unavailable_image", "registration_id", "stream_id")

    def __init__(self, *, client: AeronClient, registration_id: int, stream_id: int, channel: str,
                 on_available_image: ImageHandler | None, on_unavailable_image: ImageHandler | None) -> None:
        self._client = client
        self.registration_id = registration_id
        self.stream_id = stream_id
        self.channel = channel
        self.channel_status_indicator_id = -1
        self.on_available_image = on_available_image
        self.on_unavailable_image = on_unavailable_image
        self.images: list[Image] = []
        self.is_closed = False
        self._round_robin = 0

    @property
    def is_connected(self) -> bool:
        """True when at least one publisher's image is available."""
        return bool(self.images)

    def image_by_session_id(self, session_id: int) -> Image | None:
        """The image of one publisher session, if connected."""
        for image in self.images:
            if image.session_id == session_id:
                return image
        return None

    def poll(self, handler: FragmentHandler, fragment_limit: int) -> int:
        """Deliver up to `fragment_limit` fragments across the images; returns how many."""
        images = self.images
        count = len(images)
        if count == 0:
            return 0
        if count == 1:
            return images[0].poll(handler, fragment_limit)
        start = self._round_robin = (self._round_robin + 1) % count
        fragments = 0
        for step in range(count):
            if fragments >= fragment_limit:
                break
            fragments += images[(start + step) % count].poll(handler, fragment_limit - fragments)
        return fragments

    def wait_connected(self, *, timeout_ms: int) -> None:
        """Drive the client until an image is available; raises TimeoutError after `timeout_ms`."""
        deadline_ns = time.monotonic_ns() + timeout_ms * 1_000_000
        idle = BackoffIdleStrategy()
        while not self.images:
            if self.is_closed:
                raise ClientClosed("subscription closed while waiting for a publisher")
            if time.monotonic_ns() > deadline_ns:
                raise TimeoutError(f"no publisher on {self.channel} stream {self.stream_id} after {timeout_ms} ms")
            idle.idle(self._client.do_work())

    def close(self) -> None:
        """Remove the subscription from the driver and release its images (idempotent)."""
        if not self.is_closed:
            self._client.remove_subscription(self)

    def _add_image(self, image: Image) -> None:
        self.images = [*self.images, image]
        if self.on_available_image is not None:
            self.on_available_image(image)

    def _remove_image(self, correlation_id: int) -> Image | None:
        for image in self.images:
            if image.correlation_id == correlation_id:
                self.images = [other for other in self.images if other is not image]
                image._mark_closed()
                self._notify_unavailable([image])
                return image
        return None

    def _mark_closed(self) -> list[Image]:
        """Close the subscription and its images; returns them for `_notify_unavailable`."""
        self.is_closed = True
        images, self.images = self.images, []
        for image in images:
            image._mark_closed()
        return images

    def _notify_unavailable(self, images: list[Image]) -> None:
        if self.on_unavailable_image is not None:
            for image in images:
                self.on_unavailable_image(image)


@dataclass(slots=True)
class _Partial:
    """A message being reassembled: the bytes so far and where its next fragment must be."""

    data: bytearray
    term_id: int
    next_term_offset: int


class FragmentAssembler:
    """Wraps a message handler: passes whole messages on, reassembling fragmented ones per session.

    A continuation fragment is only appended when it is the frame right after the previous one (same term id, the
    term offset just past the previous frame), as Java's FragmentAssembler checks. Anything else means fragments
    went missing (a subscriber joined mid-message, its driver restarted, an image was replaced): the partial
    message is dropped, and so is every fragment up to the next first fragment. A new first fragment or a whole
    message of the same session also drops a partial one. So a delivered message is always one publisher
    message, whole; a message whose fragments did not all arrive in sequence is never delivered.

    Unfragmented messages are passed as the zero-copy memoryview; reassembled ones as `bytes`.
    """

    __slots__ = ("_partials", "handler")

    def __init__(self, handler: MessageHandler) -> None:
        self.handler = handler
        self._partials: dict[int, _Partial] = {}

    @property
    def partial_sessions(self) -> int:
        """How many sessions have a message half reassembled."""
        return len(self._partials)

    def __call__(self, payload: memoryview, header: Header) -> None:
        """The FragmentHandler to give to `poll`."""
        flags = header.flags
        if flags & UNFRAGMENTED == UNFRAGMENTED:
            if self._partials:  # a whole message ends any partial one of its session (its rest was lost)
                self._partials.pop(header.session_id, None)
            self.handler(payload, header)
            return
        session_id, term_id, term_offset = header.session_id, header.term_id, header.term_offset
        next_term_offset = term_offset + align_frame(len(payload) + HEADER_LENGTH)
        if flags & BEGIN_FLAG:
            self._partials[session_id] = _Partial(bytearray(payload), term_id, next_term_offset)
            return
        partial = self._partials.get(session_id)
        if partial is None:
            return  # a middle/end fragment without its beginning: drop until the next first fragment
        if partial.term_id != term_id or partial.next_term_offset != term_offset:
            del self._partials[session_id]  # not the next frame: fragments are missing, never join across a gap
            return
        if len(partial.data) + len(payload) > REASSEMBLY_BYTES_MAX:
            del self._partials[session_id]
            raise AssertionError(f"reassembly beyond {REASSEMBLY_BYTES_MAX} bytes: the publisher broke framing")
        partial.data += payload
        if flags & END_FLAG:
            del self._partials[session_id]
            self.handler(bytes(partial.data), header)
        else:
            partial.next_term_offset = next_term_offset
