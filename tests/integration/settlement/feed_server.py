"""A scripted matcher feed for tests: real ZeroMQ PUB and replay (REP) sockets serving outputs the test chooses.

The test decides what goes out live (so it can leave a gap) and what the replay endpoint holds (so it can serve a
tampered output); the outputs themselves come from the matcher's pure core (tests/unit/settlement/conftest.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import zmq

from common.engine_feed import encode_feed_message, feed_topic
from exchange.v1 import engine_pb2

POLL_MS = 20


@dataclass(slots=True)
class FeedServer:
    """PUB on `pub_endpoint`, replay REP on `replay_endpoint` (a thread), for one shard."""

    context: zmq.Context
    shard_id: int
    pub_endpoint: str
    replay_endpoint: str
    stored: list[engine_pb2.EngineOutput] = field(default_factory=list)  # what replay serves: seq 1..head
    replay_from_seqs: list[int] = field(default_factory=list)  # from_seq of every replay request served
    publisher: zmq.Socket = field(init=False)
    thread: threading.Thread = field(init=False)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.publisher = self.context.socket(zmq.PUB)
        self.publisher.setsockopt(zmq.LINGER, 0)
        self.publisher.bind(self.pub_endpoint)
        self.thread = threading.Thread(target=self._serve_replay, daemon=True)
        self.thread.start()

    def store(self, outputs: list[engine_pb2.EngineOutput]) -> None:
        """Make outputs available from replay (the head moves to the last of them)."""
        with self.lock:
            self.stored.extend(outputs)

    def publish(self, outputs: list[engine_pb2.EngineOutput]) -> None:
        """Send outputs live (they must be stored first, as a matcher makes them durable before publishing)."""
        for output in outputs:  # one output per message (the matcher may batch several; both are valid)
            self.publisher.send(encode_feed_message(feed_topic(self.shard_id), [output.SerializeToString()]))

    def _serve_replay(self) -> None:
        socket = self.context.socket(zmq.REP)
        socket.setsockopt(zmq.LINGER, 0)
        socket.bind(self.replay_endpoint)
        try:
            while not self.stopping.is_set():
                if not socket.poll(POLL_MS, zmq.POLLIN):
                    continue
                request = engine_pb2.ReplayRequest.FromString(socket.recv())
                with self.lock:
                    self.replay_from_seqs.append(request.from_seq)
                    wanted = self.stored[request.from_seq - 1:request.from_seq - 1 + max(request.limit, 0)]
                    response = engine_pb2.ReplayResponse(outputs=wanted, last_seq=len(self.stored),
                                                         status=engine_pb2.REPLAY_STATUS_OK)
                socket.send(response.SerializeToString())
        finally:
            socket.close(linger=0)

    def close(self) -> None:
        """Stop the replay thread and close the sockets."""
        self.stopping.set()
        self.thread.join(timeout=10)
        self.publisher.close(linger=0)
