"""EngineFeed against a scripted replay server and publisher on real ZeroMQ loopback sockets (no matcher).

The server thread answers ReplayRequests from a prepared chain, and can go silent or be handed a broken chain,
so each failure the feed must survive happens exactly where the test wants it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import zmq

from common.engine_chain import Chain
from common.engine_feed import EngineFeed, encode_feed_message, feed_topic
from common.errors import ChainBroken, Timeout
from exchange.v1 import engine_pb2

SHARD_ID = 5
SERVE_POLL_MS = 10


def chained_outputs(count: int) -> list[engine_pb2.EngineOutput]:
    """`count` sealed outputs of shard SHARD_ID, seq 1..count."""
    chain = Chain(shard_id=SHARD_ID)
    return [chain.seal(engine_pb2.EngineOutput(ts_event_ns=1_000 + index)) for index in range(count)]


@dataclass(slots=True)
class ScriptedReplayServer:
    """A ROUTER socket answering ReplayRequests from `outputs`; silent while `silent` is set, or after `answers_max`."""

    context: zmq.Context
    outputs: list[engine_pb2.EngineOutput]
    answers_max: int = 1_000_000
    answers: int = 0
    silent: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    endpoint: str = ""
    thread: threading.Thread | None = None

    def start(self) -> None:
        socket = self.context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        port = socket.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self._serve, args=(socket,), daemon=True)
        self.thread.start()

    def _serve(self, socket: zmq.Socket) -> None:
        while not self.stop.is_set():
            if not socket.poll(SERVE_POLL_MS, zmq.POLLIN):
                continue
            frames = socket.recv_multipart()
            if self.silent.is_set() or self.answers >= self.answers_max:
                continue  # the request is swallowed, as by a killed matcher
            request = engine_pb2.ReplayRequest()
            request.ParseFromString(frames[-1])
            start = request.from_seq - 1
            served = self.outputs[start : start + request.limit]
            beyond = request.from_seq > len(self.outputs)
            status = engine_pb2.REPLAY_STATUS_BEYOND_HEAD if beyond else engine_pb2.REPLAY_STATUS_OK
            response = engine_pb2.ReplayResponse(outputs=served, last_seq=len(self.outputs), status=status)
            socket.send_multipart([*frames[:-1], response.SerializeToString()])
            self.answers += 1
        socket.close(linger=0)

    def close(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(timeout=5)


@pytest.fixture
def context() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def serve(context: zmq.Context) -> Iterator[Callable[..., ScriptedReplayServer]]:
    """Start scripted servers; each is stopped (its thread joined) before the context goes."""
    started: list[ScriptedReplayServer] = []

    def start(outputs: list[engine_pb2.EngineOutput], **kwargs: object) -> ScriptedReplayServer:
        server = ScriptedReplayServer(context, outputs, **kwargs)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def open_feed(context: zmq.Context, server: ScriptedReplayServer, sub_endpoint: str, **kwargs: object) -> EngineFeed:
    options: dict[str, object] = {
        "idle_check_ms": 50, "replay_timeout_ms": 100, "replay_batch_max": 10, "work_budget_ms": 10_000, **kwargs,
    }
    return EngineFeed(
        context, sub_endpoint=sub_endpoint, replay_endpoint=server.endpoint, shard_id=SHARD_ID,
        **options,  # type: ignore[arg-type]
    )


def test_replay_timeout_mid_poll_hands_over_accepted_outputs_then_raises(
    context: zmq.Context, serve: Callable[..., ScriptedReplayServer]
) -> None:
    """The server answers 3 fetches of 10 then goes silent: the poll returns seqs 1..30 instead of dropping them,
    the next poll raises Timeout, and once the server answers again the caller gets 31..100: each seq once."""
    outputs = chained_outputs(100)
    server = serve(outputs, answers_max=3)
    feed = open_feed(context, server, "tcp://127.0.0.1:1")

    first = feed.poll(timeout_ms=0, outputs_max=1_000)
    with pytest.raises(Timeout):
        feed.poll(timeout_ms=0)
    server.answers_max = 1_000_000
    rest: list[engine_pb2.EngineOutput] = []
    for _ in range(100):
        batch = feed.poll(timeout_ms=0, outputs_max=7)
        assert len(batch) <= 7
        rest.extend(batch)
        if feed.last_seq == 100 and not feed.ready:
            break
    feed.close()

    assert [o.seq for o in first] == list(range(1, 31))
    assert [o.seq for o in first + rest] == list(range(1, 101))


def test_poll_returns_at_most_outputs_max_and_keeps_the_rest(
    context: zmq.Context, serve: Callable[..., ScriptedReplayServer]
) -> None:
    """With 100 outputs waiting, polls of at most 30 hand them over 30, 30, 30, 10 in order."""
    server = serve(chained_outputs(100))
    feed = open_feed(context, server, "tcp://127.0.0.1:1", replay_batch_max=1_000)

    sizes = []
    seqs: list[int] = []
    while len(seqs) < 100:
        batch = feed.poll(timeout_ms=0, outputs_max=30)
        sizes.append(len(batch))
        seqs.extend(o.seq for o in batch)
    feed.close()

    assert sizes == [30, 30, 30, 10]
    assert seqs == list(range(1, 101))


def test_chain_break_after_good_outputs_hands_them_over_then_halts_for_good(
    context: zmq.Context, serve: Callable[..., ScriptedReplayServer]
) -> None:
    """Output 15 carries a wrong hash: the poll returns 1..14, and every later poll raises ChainBroken."""
    outputs = chained_outputs(40)
    outputs[14].hash = bytes(32)
    server = serve(outputs)
    feed = open_feed(context, server, "tcp://127.0.0.1:1")

    good = feed.poll(timeout_ms=0, outputs_max=1_000)
    for _ in range(2):
        with pytest.raises(ChainBroken, match="seq 15"):
            feed.poll(timeout_ms=0)
    feed.close()

    assert [o.seq for o in good] == list(range(1, 15))


def test_live_buffer_overflow_is_dropped_and_filled_from_replay(
    context: zmq.Context, serve: Callable[..., ScriptedReplayServer]
) -> None:
    """Seqs 101..300 arrive live while the feed still replays 1..100 into a 50-message live buffer: the buffer
    overflows, is dropped, and replay fills the hole, so the caller still sees 1..300 exactly once."""
    outputs = chained_outputs(300)
    server = serve(outputs)
    publisher = context.socket(zmq.XPUB)
    publisher.setsockopt(zmq.LINGER, 0)
    pub_port = publisher.bind_to_random_port("tcp://127.0.0.1")
    feed = open_feed(context, server, f"tcp://127.0.0.1:{pub_port}", live_buffer_max=50)
    assert publisher.poll(5_000, zmq.POLLIN), "the feed never subscribed"
    publisher.recv()  # the subscription: from now on every message reaches the feed
    for start in range(100, 300, 20):  # 20 outputs per feed message, as the matcher batches them
        chunk = [output.SerializeToString() for output in outputs[start : start + 20]]
        publisher.send(encode_feed_message(feed_topic(SHARD_ID), chunk))

    seqs: list[int] = []
    for _ in range(1_000):
        seqs.extend(o.seq for o in feed.poll(timeout_ms=10, outputs_max=20))
        if len(seqs) >= 300:
            break
    feed.close()
    publisher.close(linger=0)

    assert seqs == list(range(1, 301))
    assert feed.live_overflows >= 1
    assert feed.replayed_outputs > 100


def poll_until_timeout(feed: EngineFeed, seqs: list[int], polls_max: int = 50) -> Timeout:
    """Poll (collecting seqs) until a poll raises Timeout; return it."""
    for _ in range(polls_max):
        try:
            seqs.extend(o.seq for o in feed.poll(timeout_ms=100))
        except Timeout as error:
            return error
    raise AssertionError(f"no Timeout in {polls_max} polls")


def test_a_replay_server_behind_the_live_feed_is_a_timeout_not_a_halt(
    context: zmq.Context, serve: Callable[..., ScriptedReplayServer]
) -> None:
    """Live outputs 16..20 arrive while the replay server only has 1..10 (a matcher instance still recovering): the
    feed hands over 1..10, then raises Timeout (retriable), never ChainBroken; once the server has 1..20 the caller
    gets 11..20, each seq once."""
    outputs = chained_outputs(20)
    server = serve(outputs[:10])
    publisher = context.socket(zmq.XPUB)
    publisher.setsockopt(zmq.LINGER, 0)
    pub_port = publisher.bind_to_random_port("tcp://127.0.0.1")
    feed = open_feed(context, server, f"tcp://127.0.0.1:{pub_port}")
    assert publisher.poll(5_000, zmq.POLLIN), "the feed never subscribed"
    publisher.recv()
    publisher.send(encode_feed_message(feed_topic(SHARD_ID), [o.SerializeToString() for o in outputs[15:]]))

    seqs = [o.seq for o in feed.poll(timeout_ms=0)]
    while len(seqs) < 10:
        seqs.extend(o.seq for o in feed.poll(timeout_ms=100))
    error = poll_until_timeout(feed, seqs)  # once the live message has arrived and revealed the gap 11..15
    server.outputs = outputs
    for _ in range(50):
        seqs.extend(o.seq for o in feed.poll(timeout_ms=100))
        if len(seqs) >= 20:
            break
    feed.close()
    publisher.close(linger=0)

    assert "behind" in str(error)
    assert seqs == list(range(1, 21))
    assert feed.halted is None


def test_undecodable_live_message_is_skipped_and_its_outputs_come_from_replay(
    context: zmq.Context, serve: Callable[..., ScriptedReplayServer]
) -> None:
    """A garbled live message between two good ones is counted and set aside, never fatal: the seqs it would have
    carried are a gap that replay fills, so the caller still sees 1..30 exactly once and verified."""
    outputs = chained_outputs(30)
    server = serve(outputs)
    publisher = context.socket(zmq.XPUB)
    publisher.setsockopt(zmq.LINGER, 0)
    pub_port = publisher.bind_to_random_port("tcp://127.0.0.1")
    feed = open_feed(context, server, f"tcp://127.0.0.1:{pub_port}", idle_check_ms=60_000)
    assert publisher.poll(5_000, zmq.POLLIN), "the feed never subscribed"
    publisher.recv()
    seqs = [output.seq for output in feed.poll(timeout_ms=10)]  # the first poll catches up from replay: 1..30
    server.outputs.extend(chained_outputs(60)[30:])  # the server's history grows as the matcher goes on
    topic = feed_topic(SHARD_ID)
    publisher.send(encode_feed_message(topic, [o.SerializeToString() for o in server.outputs[30:40]]))
    publisher.send(topic + b"\xff\xff\xff garbage")  # would have carried 41..50
    publisher.send(encode_feed_message(topic, [o.SerializeToString() for o in server.outputs[50:60]]))

    for _ in range(500):
        seqs.extend(output.seq for output in feed.poll(timeout_ms=10))
        if len(seqs) >= 60:
            break
    feed.close()
    publisher.close(linger=0)

    assert seqs == list(range(1, 61))
    assert feed.malformed_live_messages == 1
