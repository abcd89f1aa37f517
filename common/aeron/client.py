"""The client conductor: connection to the media driver, commands, driver events, liveness.

Threads: README.md "Threading model" (the one statement of it). In short, the client and everything it creates
belong to one owner thread, which calls `do_work()` regularly (at least every keepalive interval, 500 ms by
default, well within the driver's client liveness timeout, 10 s by default); only `ConcurrentPublication`
(and the optional keepalive thread) may be used from other threads. When the client closes, the CnC stays
mapped until its last user is gone, because another thread may be inside `ConcurrentPublication.offer`.

do_work(): reads driver events from the broadcast buffer (command responses, images coming and going, client
timeout), sends a keepalive each interval and checks the driver's heartbeat; if the driver has been silent for
longer than `driver_timeout_ms` the client closes itself and raises DriverTimeout.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.aeron import protocol
from common.aeron.atomics import AtomicBuffer, map_file
from common.aeron.broadcast import BroadcastLapped, CopyBroadcastReceiver
from common.aeron.cnc import CncFile, default_aeron_dir
from common.aeron.concurrent_publication import ConcurrentPublication
from common.aeron.counters import CountersReader
from common.aeron.errors import (
    AeronError,
    BufferFull,
    ClientClosed,
    ClientTimeout,
    ConductorTimeout,
    DriverTimeout,
    DriverUnavailable,
    EventsLost,
    driver_error,
)
from common.aeron.idle import BackoffIdleStrategy
from common.aeron.image import Image
from common.aeron.log_buffer import LogBuffers
from common.aeron.protocol import Command, Response
from common.aeron.publication import ExclusivePublication
from common.aeron.ring_buffer import ManyToOneRingBufferWriter
from common.aeron.subscription import ImageHandler, Subscription

BROADCAST_MESSAGES_MAX = 64


@dataclass(slots=True, kw_only=True)
class ClientConfig:
    """Connection options; every timeout is explicit at the call site (STYLE: pass options explicitly)."""

    aeron_dir: str = ""
    driver_timeout_ms: int = 10_000
    keepalive_interval_ms: int = 500
    connect_timeout_ms: int = 10_000

    def resolved_dir(self) -> str:
        """The driver directory: explicit, else $AERON_DIR, else the Java driver's default."""
        return self.aeron_dir or os.environ.get("AERON_DIR") or default_aeron_dir()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class AeronClient:
    """A connection to one media driver. Use as a context manager or call `close()`."""

    def __init__(self, config: ClientConfig | None = None) -> None:
        self.config = config or ClientConfig()
        self.aeron_dir = self.config.resolved_dir()
        self._cnc = _connect(self.aeron_dir, self.config)
        layout = self._cnc.layout
        if self.config.keepalive_interval_ms * 1_000_000 >= layout.client_liveness_timeout_ns:
            self._cnc.close()
            raise ValueError(f"keepalive interval {self.config.keepalive_interval_ms} ms must be shorter than the "
                             f"driver's client liveness timeout {layout.client_liveness_timeout_ns // 1_000_000} ms")
        self.cnc_buffer = self._cnc.buffer
        self._to_driver = ManyToOneRingBufferWriter(self.cnc_buffer, offset=layout.to_driver_offset,
                                                    length=layout.to_driver_length)
        self._to_clients = CopyBroadcastReceiver(self.cnc_buffer, offset=layout.to_clients_offset,
                                                 length=layout.to_clients_length)
        self.counters = CountersReader(self.cnc_buffer, metadata_offset=layout.counters_metadata_offset,
                                       values_offset=layout.counters_values_offset,
                                       values_length=layout.counters_values_length)
        self.client_id = self._to_driver.next_correlation_id()
        self._responses: dict[int, object] = {}
        self._publications: dict[int, ExclusivePublication | ConcurrentPublication] = {}
        self._subscriptions: dict[int, Subscription] = {}
        self._close_cause: AeronError | None = None
        self.is_closed = False
        self._keepalive_thread: _KeepaliveThread | None = None
        self._last_keepalive_ms = 0
        self._send(Command.CLIENT_KEEPALIVE, protocol.encode_correlated(self.client_id, 0))
        self._last_keepalive_ms = _now_ms()

    def __enter__(self) -> AeronClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API ----------------------------------------------------------------------------------------------
    def add_exclusive_publication(self, channel: str, stream_id: int, *, timeout_ms: int | None = None
                                  ) -> ExclusivePublication:
        """Create a single-writer publication; raises DriverError (e.g. InvalidChannel) or ConductorTimeout."""
        ready = self._add_publication(Command.ADD_EXCLUSIVE_PUBLICATION, channel, stream_id, timeout_ms)
        return self._register_publication(ExclusivePublication, ready, channel)  # type: ignore[return-value]

    def add_publication(self, channel: str, stream_id: int, *, timeout_ms: int | None = None
                        ) -> ConcurrentPublication:
        """Create (or join) a concurrent publication, shared with other clients on the same channel/stream."""
        ready = self._add_publication(Command.ADD_PUBLICATION, channel, stream_id, timeout_ms)
        return self._register_publication(ConcurrentPublication, ready, channel)  # type: ignore[return-value]

    def add_subscription(self, channel: str, stream_id: int, *, on_available_image: ImageHandler | None = None,
                         on_unavailable_image: ImageHandler | None = None, timeout_ms: int | None = None
                         ) -> Subscription:
        """Create a subscription; images arrive later through `do_work()` (see `Subscription.wait_connected`)."""
        self._check_open()
        correlation_id = self._to_driver.next_correlation_id()
        subscription = Subscription(client=self, registration_id=correlation_id, stream_id=stream_id,
                                    channel=channel, on_available_image=on_available_image,
                                    on_unavailable_image=on_unavailable_image)
        # Registered before the command: images may follow the ready response in the same do_work batch.
        self._subscriptions[correlation_id] = subscription
        try:
            self._send(Command.ADD_SUBSCRIPTION,
                       protocol.encode_add_subscription(self.client_id, correlation_id, stream_id, channel))
            ready = self._await(correlation_id, timeout_ms)
        except AeronError:
            self._subscriptions.pop(correlation_id, None)
            subscription.is_closed = True
            raise
        assert isinstance(ready, protocol.SubscriptionReady), ready
        subscription.channel_status_indicator_id = ready.channel_status_indicator_id
        return subscription

    def remove_publication(self, publication: ExclusivePublication | ConcurrentPublication) -> None:
        """Release a publication (normally via `publication.close()`)."""
        try:
            if self._publications.pop(publication.registration_id, None) is not None and not self.is_closed:
                self._remove(Command.REMOVE_PUBLICATION,
                             lambda cid: protocol.encode_remove_publication(self.client_id, cid,
                                                                            publication.registration_id))
        finally:
            publication._mark_closed()  # released locally even if the driver is gone

    def remove_subscription(self, subscription: Subscription) -> None:
        """Release a subscription (normally via `subscription.close()`)."""
        try:
            if self._subscriptions.pop(subscription.registration_id, None) is not None and not self.is_closed:
                self._remove(Command.REMOVE_SUBSCRIPTION,
                             lambda cid: protocol.encode_remove(self.client_id, cid, subscription.registration_id))
        finally:
            subscription._notify_unavailable(subscription._mark_closed())

    def do_work(self) -> int:
        """Process driver events and liveness; returns the amount of work done (0 when idle)."""
        self._check_open()
        try:
            work = self._to_clients.receive(self._on_driver_event, messages_max=BROADCAST_MESSAGES_MAX)
        except BroadcastLapped as error:
            self._close_locally(EventsLost(f"client fell behind the driver's events: {error}"))
            raise self._close_cause from error  # type: ignore[misc]
        now_ms = _now_ms()
        if now_ms - self._last_keepalive_ms >= self.config.keepalive_interval_ms:
            self._check_driver_alive(now_ms)
            self._send(Command.CLIENT_KEEPALIVE, protocol.encode_correlated(self.client_id, 0))
            self._last_keepalive_ms = now_ms
            work += 1
        if self._close_cause is not None:
            self._close_locally(self._close_cause)
            raise self._close_cause
        return work

    def driver_heartbeat_age_ms(self) -> int:
        """Milliseconds since the driver last updated its heartbeat."""
        return _now_ms() - self._to_driver.consumer_heartbeat_time_ms()

    def start_keepalive_thread(self) -> None:
        """Send keepalives from a daemon thread too (for owners that block longer than the keepalive interval)."""
        if self._keepalive_thread is None:
            self._keepalive_thread = _KeepaliveThread(self)
            self._keepalive_thread.start()

    def close(self) -> None:
        """Release every publication and subscription, tell the driver we are gone, unmap the CnC (idempotent)."""
        if self.is_closed:
            return
        driver_alive = self._close_cause is None and self.driver_heartbeat_age_ms() <= self.config.driver_timeout_ms
        if driver_alive:
            with contextlib.suppress(BufferFull):  # if full, the driver times the client out instead
                self._send(Command.CLIENT_CLOSE, protocol.encode_correlated(self.client_id, 0))
        self._close_locally(None)

    # -- internals -----------------------------------------------------------------------------------------------
    def _close_locally(self, cause: AeronError | None) -> None:
        self._close_cause = cause
        self.is_closed = True
        if self._keepalive_thread is not None:
            self._keepalive_thread.stop()
            self._keepalive_thread = None
        for publication in list(self._publications.values()):
            publication._mark_closed()
        closed = [(subscription, subscription._mark_closed()) for subscription in self._subscriptions.values()]
        self._publications.clear()
        self._subscriptions.clear()
        # The CnC stays mapped until the last object holding it is gone: a ConcurrentPublication may be inside
        # offer on another thread, reading its publication limit from it (README "Threading model").
        for subscription, images in closed:  # as Java: every image of a closed subscription is reported gone
            subscription._notify_unavailable(images)

    def _check_open(self) -> None:
        if self._close_cause is not None:
            raise self._close_cause
        if self.is_closed:
            raise ClientClosed("the Aeron client is closed")

    def _check_driver_alive(self, now_ms: int) -> None:
        age_ms = now_ms - self._to_driver.consumer_heartbeat_time_ms()
        if age_ms > self.config.driver_timeout_ms:
            self._close_locally(DriverTimeout(f"driver heartbeat is {age_ms} ms old (timeout "
                                              f"{self.config.driver_timeout_ms} ms): media driver gone"))
            raise self._close_cause  # type: ignore[misc]

    def _send(self, command: Command, payload: bytes) -> None:
        if not self._to_driver.write(command, payload):
            raise BufferFull(f"to-driver buffer full sending {command.name}")

    def _add_publication(self, command: Command, channel: str, stream_id: int,
                         timeout_ms: int | None) -> protocol.PublicationReady:
        self._check_open()
        correlation_id = self._to_driver.next_correlation_id()
        self._send(command, protocol.encode_add_publication(self.client_id, correlation_id, stream_id, channel))
        ready = self._await(correlation_id, timeout_ms)
        assert isinstance(ready, protocol.PublicationReady), ready
        return ready

    def _register_publication(self, kind: type[ExclusivePublication] | type[ConcurrentPublication],
                              ready: protocol.PublicationReady, channel: str
                              ) -> ExclusivePublication | ConcurrentPublication:
        log = LogBuffers(ready.log_file_name)
        publication = kind(client=self, log=log, cnc=self.cnc_buffer,
                           limit_offset=self.counters.value_offset(ready.publication_limit_counter_id),
                           registration_id=ready.registration_id, session_id=ready.session_id,
                           stream_id=ready.stream_id, channel=channel)
        self._publications[ready.registration_id] = publication
        return publication

    def _remove(self, command: Command, encode: Callable[[int], bytes]) -> None:
        correlation_id = self._to_driver.next_correlation_id()
        self._send(command, encode(correlation_id))
        self._await(correlation_id, None)

    def _await(self, correlation_id: int, timeout_ms: int | None) -> object:
        """Drive do_work until the driver answers `correlation_id`; raise its error, or ConductorTimeout."""
        wait_ms = self.config.driver_timeout_ms if timeout_ms is None else timeout_ms
        deadline_ns = time.monotonic_ns() + wait_ms * 1_000_000
        self._responses[correlation_id] = None
        idle = BackoffIdleStrategy()
        try:
            while True:
                work = self.do_work()
                response = self._responses.get(correlation_id)
                if isinstance(response, AeronError):
                    raise response
                if response is not None:
                    return response
                if time.monotonic_ns() > deadline_ns:
                    raise ConductorTimeout(f"no response from the driver to command {correlation_id} in {wait_ms} ms")
                idle.idle(work)
        finally:
            self._responses.pop(correlation_id, None)

    def _on_driver_event(self, type_id: int, payload: bytes) -> None:
        if type_id in (Response.ON_PUBLICATION_READY, Response.ON_EXCLUSIVE_PUBLICATION_READY):
            ready = protocol.decode_publication_ready(payload)
            if ready.correlation_id in self._responses:
                self._responses[ready.correlation_id] = ready
        elif type_id == Response.ON_SUBSCRIPTION_READY:
            subscription_ready = protocol.decode_subscription_ready(payload)
            if subscription_ready.correlation_id in self._responses:
                self._responses[subscription_ready.correlation_id] = subscription_ready
        elif type_id == Response.ON_OPERATION_SUCCESS:
            correlation_id = protocol.decode_long(payload)
            if correlation_id in self._responses:
                self._responses[correlation_id] = True
        elif type_id == Response.ON_ERROR:
            error = protocol.decode_error(payload)
            if error.offending_correlation_id in self._responses:
                self._responses[error.offending_correlation_id] = driver_error(
                    error.message, code=error.error_code, correlation_id=error.offending_correlation_id)
        elif type_id == Response.ON_AVAILABLE_IMAGE:
            self._on_available_image(protocol.decode_image_ready(payload))
        elif type_id == Response.ON_UNAVAILABLE_IMAGE:
            gone = protocol.decode_image_gone(payload)
            subscription = self._subscriptions.get(gone.subscription_registration_id)
            if subscription is not None:
                subscription._remove_image(gone.correlation_id)
        elif type_id == Response.ON_CLIENT_TIMEOUT and protocol.decode_long(payload) == self.client_id:
            # Closed by do_work after the receive loop: the broadcast mapping must outlive this callback.
            self._close_cause = ClientTimeout("the driver timed this client out (keepalives missed)")

    def _on_available_image(self, ready: protocol.ImageReady) -> None:
        subscription = self._subscriptions.get(ready.subscription_registration_id)
        if subscription is None or any(image.correlation_id == ready.correlation_id for image in subscription.images):
            return
        image = Image(log=LogBuffers(ready.log_file_name), cnc=self.cnc_buffer,
                      position_offset=self.counters.value_offset(ready.subscriber_position_id),
                      correlation_id=ready.correlation_id, session_id=ready.session_id, stream_id=ready.stream_id,
                      subscription_registration_id=ready.subscription_registration_id,
                      source_identity=ready.source_identity)
        subscription._add_image(image)


def _connect(aeron_dir: str, config: ClientConfig) -> CncFile:
    """Map the CnC file once the driver is up and heart-beating; DriverUnavailable after connect_timeout_ms."""
    deadline_ns = time.monotonic_ns() + config.connect_timeout_ms * 1_000_000
    while True:
        try:
            cnc = CncFile(aeron_dir)
        except DriverUnavailable:
            if time.monotonic_ns() > deadline_ns:
                raise
        else:
            writer = ManyToOneRingBufferWriter(cnc.buffer, offset=cnc.layout.to_driver_offset,
                                               length=cnc.layout.to_driver_length)
            age_ms = _now_ms() - writer.consumer_heartbeat_time_ms()
            if age_ms <= config.driver_timeout_ms:
                return cnc
            cnc.close()
            if time.monotonic_ns() > deadline_ns:
                raise DriverUnavailable(f"{aeron_dir}: driver heartbeat is {age_ms} ms old (driver not running)")
        time.sleep(0.01)


class _KeepaliveThread(threading.Thread):
    """Sends keepalives through a private writer on a private mapping; touches no other client state."""

    def __init__(self, client: AeronClient) -> None:
        super().__init__(name=f"aeron-keepalive-{client.client_id}", daemon=True)
        self._client_id = client.client_id
        self._interval_s = client.config.keepalive_interval_ms / 1000
        self._mapping = map_file(client._cnc.path)
        self._buffer = AtomicBuffer(self._mapping)
        layout = client._cnc.layout
        self._writer = ManyToOneRingBufferWriter(self._buffer, offset=layout.to_driver_offset,
                                                 length=layout.to_driver_length)
        self._stop_event = threading.Event()

    def run(self) -> None:
        payload = protocol.encode_correlated(self._client_id, 0)
        while not self._stop_event.wait(self._interval_s):
            self._writer.write(Command.CLIENT_KEEPALIVE, payload)
        self._buffer.release()
        self._mapping.close()

    def stop(self) -> None:
        self._stop_event.set()
        if threading.current_thread() is not self:
            self.join(timeout=5)
