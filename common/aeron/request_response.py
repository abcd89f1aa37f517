"""Request/response over Aeron: a requester (e.g. the Gateway) and a responder (e.g. UBSCore).

Every requester owns a response stream (its own channel + stream id) and tells the responder where to answer
in each request, so one responder serves many requesters and each sees only its own responses.

Wire format (little-endian), after Aeron framing and reassembly:

    request  = [long correlation id][int response stream id][short channel length][channel ascii][payload]
    response = [long correlation id][payload]

Correlation ids come from a per-requester counter that starts at a random point (`secrets`, 62 bits), so ids are
unique per response stream as they must be, and two requesters that share a response stream by mistake (two
gateways given the same stream id) drop each other's responses as unknown instead of taking them: a
requester only accepts a response whose id it has pending.
The responder creates one exclusive publication per (response channel, stream id) on first use and keeps it.

Both sides belong to the client's owner thread (README.md "Threading model"): call `poll()` (which also drives
`client.do_work()`), and pass the work it returns to an idle strategy in your loop.
`RequestClient.request()` is the blocking convenience; `send()` + `poll()` pipelines many requests (collect their
answers with `take(id)`, or, with many in flight, `take_arrived()` and `take_expired()`).
A peer that has gone away (NOT_CONNECTED after having been connected) fails fast with Undeliverable;
back-pressure is retried until the deadline.
"""

from __future__ import annotations

import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.aeron.client import AeronClient
from common.aeron.errors import RequestTimeout, Undeliverable
from common.aeron.idle import BackoffIdleStrategy, IdleStrategy
from common.aeron.image import Header
from common.aeron.publication import ExclusivePublication, OfferResult
from common.aeron.subscription import FragmentAssembler, Subscription

_REQUEST_PREFIX = struct.Struct("<qiH")
_RESPONSE_PREFIX = struct.Struct("<q")
CORRELATION_START_BITS = 62  # a random start below 2**62 leaves 2**62 ids before the signed long overflows
POLL_FRAGMENTS_MAX = 64
PENDING_REQUESTS_MAX = 65_536
RESPONSE_PUBLICATIONS_MAX = 1_024


@dataclass(slots=True, frozen=True, kw_only=True)
class Request:
    """A request as seen by the responder."""

    correlation_id: int
    response_channel: str
    response_stream_id: int
    payload: bytes


@dataclass(slots=True, frozen=True, kw_only=True)
class Response:
    """A response as seen by the requester."""

    correlation_id: int
    payload: bytes


def encode_request(correlation_id: int, response_channel: str, response_stream_id: int, payload: bytes) -> bytes:
    """Envelope a request payload with its correlation id and where to respond."""
    channel = response_channel.encode("ascii")
    return _REQUEST_PREFIX.pack(correlation_id, response_stream_id, len(channel)) + channel + payload


def decode_request(message: bytes | memoryview) -> Request:
    """Inverse of encode_request."""
    correlation_id, stream_id, channel_length = _REQUEST_PREFIX.unpack_from(message, 0)
    start = _REQUEST_PREFIX.size
    channel = bytes(message[start : start + channel_length]).decode("ascii")
    return Request(correlation_id=correlation_id, response_channel=channel, response_stream_id=stream_id,
                   payload=bytes(message[start + channel_length :]))


def _offer_until(client: AeronClient, publication: ExclusivePublication, message: bytes, deadline_ns: int, *,
                 wait_for_subscriber: bool, idle: IdleStrategy) -> int:
    """Offer, retrying BACK_PRESSURED/ADMIN_ACTION until the deadline; the new position.

    NOT_CONNECTED is retried only while `wait_for_subscriber` (a publication just created); otherwise the peer
    is gone and waiting would only stall the caller, so Undeliverable is raised at once.
    """
    idle.reset()
    while True:
        result = publication.offer(message)
        if result > 0:
            return result
        final = result in (OfferResult.CLOSED, OfferResult.MAX_POSITION_EXCEEDED) or (
            result == OfferResult.NOT_CONNECTED and not wait_for_subscriber)
        if final or time.monotonic_ns() > deadline_ns:
            raise Undeliverable(f"offer on {publication.channel} stream {publication.stream_id}: "
                                f"{OfferResult(result).name}")
        if result != OfferResult.ADMIN_ACTION:  # a rotated term is retried at once
            idle.idle(client.do_work())


class RequestClient:
    """Sends requests on (request channel, stream) and receives responses on its own response stream."""

    def __init__(self, client: AeronClient, *, request_channel: str, request_stream_id: int,
                 response_channel: str, response_stream_id: int, connect_timeout_ms: int,
                 idle_strategy: IdleStrategy | None = None, first_correlation_id: int | None = None) -> None:
        """`first_correlation_id` None (the default) draws a random start; tests may pin it."""
        self.client = client
        self._idle = idle_strategy or BackoffIdleStrategy()
        self.response_channel = response_channel
        self.response_stream_id = response_stream_id
        self._responses: Subscription = client.add_subscription(response_channel, response_stream_id)
        self._requests = client.add_exclusive_publication(request_channel, request_stream_id)
        self._requests.wait_connected(timeout_ms=connect_timeout_ms)
        if first_correlation_id is None:
            first_correlation_id = 1 + secrets.randbits(CORRELATION_START_BITS)
        assert 0 < first_correlation_id < 2**CORRELATION_START_BITS + 1, first_correlation_id
        self._next_correlation_id = first_correlation_id
        self._pending: dict[int, int] = {}  # correlation id -> deadline (monotonic ns)
        self._completed: dict[int, bytes] = {}
        self._assembler = FragmentAssembler(self._on_response)

    @property
    def is_connected(self) -> bool:
        """True while a responder subscribes to the request stream."""
        return self._requests.is_connected

    def send(self, payload: bytes, *, timeout_ms: int) -> int:
        """Send one request; its correlation id. Raises Undeliverable if it cannot be offered in time."""
        assert len(self._pending) < PENDING_REQUESTS_MAX, "too many requests in flight"
        correlation_id = self._next_correlation_id
        self._next_correlation_id += 1
        deadline_ns = time.monotonic_ns() + timeout_ms * 1_000_000
        message = encode_request(correlation_id, self.response_channel, self.response_stream_id, payload)
        # The constructor waited for the responder: NOT_CONNECTED now means it went away (fail fast).
        _offer_until(self.client, self._requests, message, deadline_ns, wait_for_subscriber=False, idle=self._idle)
        self._pending[correlation_id] = deadline_ns
        return correlation_id

    def poll(self) -> int:
        """Receive responses (and drive the client); returns fragments read."""
        fragments = self._responses.poll(self._assembler, POLL_FRAGMENTS_MAX)
        self.client.do_work()
        return fragments

    def take(self, correlation_id: int) -> bytes | None:
        """The response to `correlation_id` if it has arrived (removing it), else None.

        Raises RequestTimeout (and forgets the request) once its deadline has passed without a response.
        """
        payload = self._completed.pop(correlation_id, None)
        if payload is not None:
            return payload
        deadline_ns = self._pending.get(correlation_id)
        if deadline_ns is None:
            raise KeyError(f"unknown or already taken correlation id {correlation_id}")
        if time.monotonic_ns() > deadline_ns:
            del self._pending[correlation_id]
            raise RequestTimeout(f"no response to request {correlation_id} before its deadline")
        return None

    def take_arrived(self) -> dict[int, bytes]:
        """Every response that arrived since the last call, by correlation id (removing them): O(arrived), where
        `take` per pending id would cost O(pending) per poll to a requester with many requests in flight."""
        arrived, self._completed = self._completed, {}
        return arrived

    def take_expired(self) -> list[int]:
        """The correlation ids whose deadline has passed without a response (forgetting them); O(pending)."""
        now_ns = time.monotonic_ns()
        expired = [correlation_id for correlation_id, deadline_ns in self._pending.items() if now_ns > deadline_ns]
        for correlation_id in expired:
            del self._pending[correlation_id]
        return expired

    def request(self, payload: bytes, *, timeout_ms: int) -> bytes:
        """Send a request and wait for its response; RequestTimeout / Undeliverable after `timeout_ms`."""
        correlation_id = self.send(payload, timeout_ms=timeout_ms)
        self._idle.reset()
        while True:
            response = self.take(correlation_id)
            if response is not None:
                return response
            self._idle.idle(self.poll())

    def close(self) -> None:
        """Close the request publication and the response subscription."""
        self._requests.close()
        self._responses.close()

    def _on_response(self, message: bytes | memoryview, header: Header) -> None:
        (correlation_id,) = _RESPONSE_PREFIX.unpack_from(message, 0)
        if self._pending.pop(correlation_id, None) is not None:
            self._completed[correlation_id] = bytes(message[_RESPONSE_PREFIX.size :])
        # else: a response to a request that already timed out; dropped on purpose.


class ResponseServer:
    """Receives requests on (channel, stream) and answers each on its requester's response stream."""

    def __init__(self, client: AeronClient, *, request_channel: str, request_stream_id: int,
                 idle_strategy: IdleStrategy | None = None, first_correlation_id: int | None = None) -> None:
        """`first_correlation_id` None (the default) draws a random start; tests may pin it."""
        self.client = client
        self._idle = idle_strategy or BackoffIdleStrategy()
        self._requests = client.add_subscription(request_channel, request_stream_id)
        self._publications: dict[tuple[str, int], ExclusivePublication] = {}
        self._connected: set[tuple[str, int]] = set()
        self._handler: Callable[[Request], None] | None = None
        self._assembler = FragmentAssembler(self._on_request)

    def poll(self, handler: Callable[[Request], None], *, fragments_max: int = POLL_FRAGMENTS_MAX) -> int:
        """Deliver up to `fragments_max` fragments' worth of requests to `handler`; drives the client too."""
        self._handler = handler
        fragments = self._requests.poll(self._assembler, fragments_max)
        self.client.do_work()
        return fragments

    def respond(self, request: Request, payload: bytes, *, timeout_ms: int) -> None:
        """Send the response to `request`'s requester; Undeliverable if it cannot be offered in time."""
        deadline_ns = time.monotonic_ns() + timeout_ms * 1_000_000
        publication = self._publication_for(request, timeout_ms)
        # A new response publication waits for the requester's subscription to be linked; one that was
        # connected before and is not any more means the requester is gone (fail fast, do not stall).
        fresh = (request.response_channel, request.response_stream_id) not in self._connected
        _offer_until(self.client, publication, _RESPONSE_PREFIX.pack(request.correlation_id) + payload, deadline_ns,
                     wait_for_subscriber=fresh, idle=self._idle)
        self._connected.add((request.response_channel, request.response_stream_id))

    def close(self) -> None:
        """Close the request subscription and every response publication."""
        self._requests.close()
        for publication in self._publications.values():
            publication.close()
        self._publications.clear()

    def _publication_for(self, request: Request, timeout_ms: int) -> ExclusivePublication:
        key = (request.response_channel, request.response_stream_id)
        publication = self._publications.get(key)
        if publication is None or publication.is_closed:
            assert len(self._publications) < RESPONSE_PUBLICATIONS_MAX, "too many requesters"
            publication = self.client.add_exclusive_publication(*key, timeout_ms=timeout_ms)
            self._publications[key] = publication
        return publication

    def _on_request(self, message: bytes | memoryview, header: Header) -> None:
        assert self._handler is not None
        self._handler(decode_request(message))
