"""Subscriptions (a set of images on one channel + stream) and fragment reassembly.

Images come and go as publishers connect and disconnect; the client conductor adds/removes them when the driver
says so (ON_AVAILABLE_IMAGE / ON_UNAVAILABLE_IMAGE) and calls the subscription's callbacks. `poll` visits the
images round-robin, starting one further each call so that one busy publisher cannot starve the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from common.aeron.errors import ClientClosed
from common.aeron.image import FragmentHandler, Header, Image
from common.aeron.log_buffer import BEGIN_FLAG, END_FLAG, UNFRAGMENTED

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
        while not self.images:
            if self.is_closed:
                raise ClientClosed("subscription closed while waiting for a publisher")
            if time.monotonic_ns() > deadline_ns:
                raise TimeoutError(f"no publisher on {self.channel} stream {self.stream_id} after {timeout_ms} ms")
            self._client.do_work()
            time.sleep(0.0005)

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


class FragmentAssembler:
    """Wraps a message handler: passes whole messages on, reassembling fragmented ones per session.

    Unfragmented messages are passed as the zero-copy memoryview; reassembled ones as `bytes`.
    """

    __slots__ = ("_builders", "handler")

    def __init__(self, handler: MessageHandler) -> None:
        self.handler = handler
        self._builders: dict[int, bytearray] = {}

    def __call__(self, payload: memoryview, header: Header) -> None:
        """The FragmentHandler to give to `poll`."""
        flags = header.flags
        if flags & UNFRAGMENTED == UNFRAGMENTED:
            self.handler(payload, header)
            return
        session_id = header.session_id
        if flags & BEGIN_FLAG:
            self._builders[session_id] = bytearray(payload)
            return
        builder = self._builders.get(session_id)
        if builder is None:
            return  # a middle/end fragment without its beginning (joined mid-message): drop until next BEGIN
        if len(builder) + len(payload) > REASSEMBLY_BYTES_MAX:
            del self._builders[session_id]
            raise AssertionError(f"reassembly beyond {REASSEMBLY_BYTES_MAX} bytes: the publisher broke framing")
        builder += payload
        if flags & END_FLAG:
            del self._builders[session_id]
            self.handler(bytes(builder), header)
