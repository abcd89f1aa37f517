"""The gateway's UBSCore client over the real Aeron media driver, against a scripted responder.

The responder (scripted_ubscore.py) speaks UBSCore's wire contract on its own Aeron client and thread; it
stands in for UBSCore only until UBSCore lands (branch ubscore): the end-to-end test against the real service is
still to be written. Stream ids are random so parallel test runs on the shared driver never meet.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from common.aeron.errors import RequestTimeout
from exchange.v1 import common_pb2, ubscore_pb2
from gateway.errors import Refused
from gateway.ubscore_client import BreakerState, CircuitBreaker, UbscoreClient, UbscoreClientConfig

from .conftest import eventually
from .scripted_ubscore import ScriptedUbscore

pytestmark = pytest.mark.integration


def place(coid: str) -> ubscore_pb2.UbscoreRequest:
    return ubscore_pb2.UbscoreRequest(
        place_order=ubscore_pb2.OrderRequest(user_id=1001, client_order_id=coid, symbol="BTC_USDT")
    )


def make_client(
    aeron_directory: Path, streams: tuple[int, int], *, request_timeout_ms: int = 500, **breaker: int
) -> UbscoreClient:
    config = UbscoreClientConfig(
        aeron_dir=str(aeron_directory), request_stream_id=streams[0], response_stream_id=streams[1],
        request_timeout_ms=request_timeout_ms,
    )
    return UbscoreClient(config, breaker=CircuitBreaker(**breaker))


def test_many_worker_threads_each_get_their_own_answer_with_a_deadline(
    aeron_directory: Path, streams: tuple[int, int], responder: ScriptedUbscore
) -> None:
    """8 threads x 100 requests through one owner thread: every answer matches its request; every request
    carried a wall-clock deadline about request_timeout_ms ahead."""
    client = make_client(aeron_directory, streams)
    client.start()
    try:
        eventually(client.connected.is_set, timeout_ms=10_000)
        sent_ns = time.time_ns()

        def worker(thread: int) -> list[str]:
            coids = [f"t{thread}-{i}" for i in range(100)]
            return [client.ask(place(coid)).order_accepted.client_order_id for coid in coids] == coids

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(worker, range(8)))
        assert len(responder.deadlines_ns) == 800
        assert all(sent_ns + 400_000_000 < d < time.time_ns() + 600_000_000 for d in responder.deadlines_ns)
    finally:
        client.stop()


def test_unanswered_request_times_out_and_busy_answers_open_the_breaker(
    aeron_directory: Path, streams: tuple[int, int], responder: ScriptedUbscore
) -> None:
    """Silence -> RequestTimeout (DEADLINE_EXCEEDED: outcome unknown); 3 BUSY answers open the breaker, which
    then refuses at once without sending."""
    client = make_client(aeron_directory, streams, failures_to_open=3, open_ms=60_000)
    client.start()
    try:
        eventually(client.connected.is_set, timeout_ms=10_000)
        started_ns = time.monotonic_ns()
        with pytest.raises(RequestTimeout):
            client.ask(place("silent-1"))
        assert (time.monotonic_ns() - started_ns) / 1e6 >= 500
        for i in range(2):
            assert client.ask(place(f"busy-{i}")).rejected.reason == common_pb2.REJECT_REASON_UBSCORE_BUSY
        assert client.breaker.state == BreakerState.OPEN
        seen = len(responder.deadlines_ns)
        with pytest.raises(Refused) as caught:
            client.ask(place("ok-1"))
        assert caught.value.reason == common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE
        assert len(responder.deadlines_ns) == seen  # refused without touching UBSCore
    finally:
        client.stop()


def test_no_ubscore_is_unavailable_at_once_and_opens_the_breaker(
    aeron_directory: Path, streams: tuple[int, int]
) -> None:
    """Nobody subscribed to the request stream: every call is refused UNAVAILABLE immediately (no timeout), and
    after enough refusals the breaker is open; the health check says why. (The elapsed-time bound checks that no
    call waited for its deadline, a behaviour, not a speed.)"""
    client = make_client(aeron_directory, streams, request_timeout_ms=5_000, failures_to_open=2, open_ms=60_000)
    client.start()
    try:
        for _ in range(2):
            started_ns = time.monotonic_ns()
            with pytest.raises(Refused) as caught:
                client.ask(place("ok-1"))
            assert caught.value.reason == common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE
            assert (time.monotonic_ns() - started_ns) / 1e6 < 2_500  # not a wait for the 5 s deadline
        assert client.breaker.state == BreakerState.OPEN
        with pytest.raises(RuntimeError, match="not connected"):
            client.check()
    finally:
        client.stop()


def test_client_notices_ubscore_leaving_and_reconnects_when_it_is_back(
    aeron_directory: Path, streams: tuple[int, int]
) -> None:
    """A responder goes away: the client drops to not connected (health red, calls refused at once); a new
    responder on the same stream is found again and answers."""
    first = ScriptedUbscore(str(aeron_directory), streams[0])
    first.start()
    assert first.ready.wait(10)
    client = make_client(aeron_directory, streams, failures_to_open=1_000)
    client.start()
    try:
        eventually(client.connected.is_set, timeout_ms=10_000)
        assert client.ask(place("before")).order_accepted.client_order_id == "before"
        first.stopping.set()
        first.join(10)
        eventually(lambda: not client.connected.is_set(), timeout_ms=30_000)
        with pytest.raises(Refused):
            client.ask(place("while-away"))
        second = ScriptedUbscore(str(aeron_directory), streams[0])
        second.start()
        try:
            assert second.ready.wait(10)
            eventually(client.connected.is_set, timeout_ms=30_000)
            assert client.ask(place("after")).order_accepted.client_order_id == "after"
        finally:
            second.stopping.set()
            second.join(10)
    finally:
        client.stop()
