"""Request/response helper against the real driver: correlation, per-requester response streams, timeouts."""

from __future__ import annotations

import threading
import time

import pytest

from common.aeron.errors import RequestTimeout, Undeliverable
from common.aeron.request_response import Request, RequestClient, ResponseServer

REQUESTS = "aeron:ipc"
RESPONSES = "aeron:ipc"
TIMEOUT_MS = 5_000


class EchoResponder(threading.Thread):
    """A responder on its own client and thread (one client per thread): answers b'echo:' + payload."""

    def __init__(self, client, *, ignore: bytes = b"") -> None:
        super().__init__(daemon=True)
        self.server = ResponseServer(client, request_channel=REQUESTS, request_stream_id=6001)
        self.ignore = ignore
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        def handle(request: Request) -> None:
            if request.payload != self.ignore:
                self.server.respond(request, b"echo:" + request.payload, timeout_ms=TIMEOUT_MS)

        try:
            while not self.stopping.is_set():
                self.server.poll(handle)
        except BaseException as error:  # surfaced by the test thread
            self.errors.append(error)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        assert not self.errors, self.errors


def test_requests_get_their_own_responses(client_factory) -> None:
    """Two requesters with their own response streams each receive exactly their own responses, in order."""
    responder = EchoResponder(client_factory())
    responder.start()
    try:
        client = client_factory()
        first = RequestClient(client, request_channel=REQUESTS, request_stream_id=6001, response_channel=RESPONSES,
                              response_stream_id=6101, connect_timeout_ms=TIMEOUT_MS)
        second = RequestClient(client, request_channel=REQUESTS, request_stream_id=6001,
                               response_channel=RESPONSES, response_stream_id=6102, connect_timeout_ms=TIMEOUT_MS)
        for i in range(200):
            assert first.request(b"a%d" % i, timeout_ms=TIMEOUT_MS) == b"echo:a%d" % i
            assert second.request(b"b%d" % i + b"x" * (i * 37), timeout_ms=TIMEOUT_MS) == b"echo:b%d" % i + b"x" * (
                i * 37)
    finally:
        responder.stop()


def test_pipelined_requests_are_matched_by_correlation_id(client_factory, wait_until) -> None:
    """Many requests in flight at once are all answered and matched to the right correlation id."""
    responder = EchoResponder(client_factory())
    responder.start()
    try:
        requester = RequestClient(client_factory(), request_channel=REQUESTS, request_stream_id=6001,
                                  response_channel=RESPONSES, response_stream_id=6103, connect_timeout_ms=TIMEOUT_MS)
        ids = {requester.send(b"%d" % i, timeout_ms=TIMEOUT_MS): i for i in range(500)}
        answers: dict[int, bytes] = {}

        def collect() -> None:
            requester.poll()
            for correlation_id in list(ids):
                if correlation_id not in answers:
                    response = requester.take(correlation_id)
                    if response is not None:
                        answers[correlation_id] = response

        wait_until(lambda: len(answers) == len(ids), timeout_s=30, step=collect, message="500 responses")
        assert all(answers[cid] == b"echo:%d" % i for cid, i in ids.items())
    finally:
        responder.stop()


def test_take_arrived_and_take_expired_hand_over_answers_and_timeouts_once(client_factory, wait_until) -> None:
    """Many requests in flight, one ignored: take_arrived hands each answer over exactly once (by correlation id),
    and take_expired names the ignored one once its deadline passes, and only once."""
    responder = EchoResponder(client_factory(), ignore=b"drop me")
    responder.start()
    try:
        requester = RequestClient(client_factory(), request_channel=REQUESTS, request_stream_id=6001,
                                  response_channel=RESPONSES, response_stream_id=6107, connect_timeout_ms=TIMEOUT_MS)
        ids = {requester.send(b"%d" % i, timeout_ms=TIMEOUT_MS): i for i in range(300)}
        dropped = requester.send(b"drop me", timeout_ms=200)
        answers: dict[int, bytes] = {}
        expired: list[int] = []

        def collect() -> None:
            requester.poll()
            arrived = requester.take_arrived()
            assert not set(arrived) & set(answers), "an answer handed over twice"
            answers.update(arrived)
            expired.extend(requester.take_expired())

        wait_until(lambda: len(answers) == len(ids) and expired, timeout_s=30, step=collect, message="answers")
        assert answers == {cid: b"echo:%d" % i for cid, i in ids.items()}
        assert expired == [dropped]
        assert requester.take_expired() == []
        assert requester.take_arrived() == {}
    finally:
        responder.stop()


def test_unanswered_request_raises_request_timeout(client_factory) -> None:
    """A request the responder ignores raises RequestTimeout (retriable) after its timeout; later ones work."""
    responder = EchoResponder(client_factory(), ignore=b"drop me")
    responder.start()
    try:
        requester = RequestClient(client_factory(), request_channel=REQUESTS, request_stream_id=6001,
                                  response_channel=RESPONSES, response_stream_id=6104, connect_timeout_ms=TIMEOUT_MS)
        with pytest.raises(RequestTimeout) as caught:
            requester.request(b"drop me", timeout_ms=200)
        assert caught.value.retriable
        assert requester.request(b"keep me", timeout_ms=TIMEOUT_MS) == b"echo:keep me"
    finally:
        responder.stop()


def test_request_to_a_departed_responder_fails_fast(client_factory, wait_until) -> None:
    """When the responder's client closes, the next request raises Undeliverable (retriable) at once instead of
    waiting for its timeout."""
    responder_client = client_factory()
    server = ResponseServer(responder_client, request_channel=REQUESTS, request_stream_id=6002)
    requester = RequestClient(client_factory(), request_channel=REQUESTS, request_stream_id=6002,
                              response_channel=RESPONSES, response_stream_id=6105, connect_timeout_ms=TIMEOUT_MS)
    server.close()
    responder_client.close()
    wait_until(lambda: not requester.is_connected, timeout_s=10, step=requester.client.do_work,
               message="the request publication to notice the responder left")
    started = time.monotonic()
    with pytest.raises(Undeliverable) as caught:
        requester.send(b"anyone?", timeout_ms=60_000)
    assert caught.value.retriable
    assert time.monotonic() - started < 5


def test_requesters_sharing_a_response_stream_take_only_their_own_responses(client_factory, wait_until) -> None:
    """Two requesters given the same response stream by mistake (two gateways, one stream id) each send requests
    whose answers both see; with random correlation starts each takes only its own answers, never the other's
    (with counters from 1 both would take whichever answer to id 1 came first)."""
    responder = EchoResponder(client_factory())
    responder.start()
    try:
        requesters = [
            RequestClient(client_factory(), request_channel=REQUESTS, request_stream_id=6001,
                          response_channel=RESPONSES, response_stream_id=6104, connect_timeout_ms=TIMEOUT_MS)
            for _ in range(2)
        ]
        sent = [{requester.send(b"%d:%d" % (index, i), timeout_ms=TIMEOUT_MS): i for i in range(50)}
                for index, requester in enumerate(requesters)]
        assert not set(sent[0]) & set(sent[1])
        answers: list[dict[int, bytes]] = [{}, {}]

        def collect() -> None:
            for index, requester in enumerate(requesters):
                requester.poll()
                for correlation_id in set(sent[index]) - set(answers[index]):
                    payload = requester.take(correlation_id)
                    if payload is not None:
                        answers[index][correlation_id] = payload

        wait_until(lambda: all(len(answers[index]) == len(sent[index]) for index in range(2)), timeout_s=30,
                   step=collect, message="100 responses")
        for index in range(2):
            assert answers[index] == {cid: b"echo:%d:%d" % (index, i) for cid, i in sent[index].items()}
    finally:
        responder.stop()
