"""Subscriber side of a matcher shard's feed: live ZeroMQ SUB + gap fill from the replay endpoint + chain checks.

The ZeroMQ guide's "Clone" pattern: subscribe to the live feed first, then fetch from the replay endpoint what
is missing (everything after the (seq, hash) the subscriber's own state holds), then go on with live messages,
dropping those already seen. Every output handed to the caller has been verified to link to the previous one
(`common.engine_chain.link_problem`: same shard, seq + 1, prev_hash = held hash, hash recomputed). A broken link raises
`ChainBroken`: the subscriber halts loudly and never skips (DESIGN.md "Never lose, never double").

Usage (UBSCore, Settlement):

    feed = EngineFeed(context, sub_endpoint=..., replay_endpoint=..., shard_id=0,
                      last_seq=state.seq, last_hash=state.hash)      # from the subscriber's own state
    while running:
        for output in feed.poll(timeout_ms=100):                     # verified, dense, in seq order
            apply(output)                                            # then persist (output.seq, output.hash)
    feed.close()

`poll` also asks the replay endpoint for news after `idle_check_ms` of silence, so outputs lost at the tail
(no later live message to reveal the gap) are still fetched.
"""

from __future__ import annotations

import logging
import time

import zmq

from common.engine_chain import GENESIS_HASH, link_problem
from common.errors import ChainBroken, Timeout
from exchange.v1 import engine_pb2

FEED_TOPIC_PREFIX = b"engine."
SUB_RCVHWM = 100_000
LIVE_MESSAGES_PER_POLL_MAX = 1_000
REPLAY_BATCH_MAX = 1_000
REPLAY_TIMEOUT_MS = 2_000
REPLAY_ATTEMPTS_MAX = 3
REPLAY_ROUNDS_PER_GAP_MAX = 10_000  # bounds one gap fill to 10M outputs
IDLE_CHECK_MS_DEFAULT = 500

log = logging.getLogger(__name__)


class ReplayClient:
    """REQ client of a matcher's replay endpoint, with a timeout and a fresh socket per retry (Lazy Pirate)."""

    def __init__(self, context: zmq.Context, endpoint: str, *, shard_id: int, timeout_ms: int = REPLAY_TIMEOUT_MS):
        self.context = context
        self.endpoint = endpoint
        self.shard_id = shard_id
        self.timeout_ms = timeout_ms
        self.socket: zmq.Socket | None = None

    def _connect(self) -> zmq.Socket:
        socket = self.context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVTIMEO, self.timeout_ms)
        socket.setsockopt(zmq.SNDTIMEO, self.timeout_ms)
        socket.connect(self.endpoint)
        return socket

    def fetch(self, from_seq: int, limit: int = REPLAY_BATCH_MAX) -> engine_pb2.ReplayResponse:
        """Outputs from `from_seq` (at most `limit`) and the server's last seq; raise Timeout if it never answers."""
        request = engine_pb2.ReplayRequest(shard_id=self.shard_id, from_seq=from_seq, limit=limit).SerializeToString()
        for attempt in range(1, REPLAY_ATTEMPTS_MAX + 1):
            if self.socket is None:
                self.socket = self._connect()
            try:
                self.socket.send(request)
                reply = self.socket.recv()
            except zmq.Again:
                log.warning("replay %s: no answer in %d ms (attempt %d)", self.endpoint, self.timeout_ms, attempt)
                self.socket.close(linger=0)  # a REQ socket that missed its reply is stuck: start a new one
                self.socket = None
                continue
            response = engine_pb2.ReplayResponse()
            response.ParseFromString(reply)
            return response
        raise Timeout(f"replay endpoint {self.endpoint} did not answer {REPLAY_ATTEMPTS_MAX} times")

    def close(self) -> None:
        """Close the socket."""
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None


class EngineFeed:
    """Verified, gap-free stream of one matcher shard's outputs, resuming after (last_seq, last_hash)."""

    def __init__(
        self, context: zmq.Context, *, sub_endpoint: str, replay_endpoint: str, shard_id: int, last_seq: int = 0,
        last_hash: bytes = GENESIS_HASH, idle_check_ms: int = IDLE_CHECK_MS_DEFAULT,
        replay_timeout_ms: int = REPLAY_TIMEOUT_MS,
    ) -> None:
        self.shard_id = shard_id
        self.last_seq = last_seq
        self.last_hash = last_hash
        self.idle_check_ms = idle_check_ms
        self.replayed_outputs = 0
        self.dropped_duplicates = 0
        self.subscriber = context.socket(zmq.SUB)
        self.subscriber.setsockopt(zmq.RCVHWM, SUB_RCVHWM)
        self.subscriber.setsockopt(zmq.LINGER, 0)
        self.subscriber.setsockopt(zmq.SUBSCRIBE, FEED_TOPIC_PREFIX + str(shard_id).encode())
        self.subscriber.connect(sub_endpoint)
        self.replay = ReplayClient(context, replay_endpoint, shard_id=shard_id, timeout_ms=replay_timeout_ms)
        self.last_check_ns = 0  # 0: check the replay endpoint on the first poll (catch up at start)

    def poll(self, timeout_ms: int) -> list[engine_pb2.EngineOutput]:
        """Verified outputs after last_seq, in order (maybe none); raise ChainBroken on a broken chain."""
        accepted: list[engine_pb2.EngineOutput] = []
        if self._idle_check_due():
            self._catch_up(accepted, target_seq=None)
        if not self.subscriber.poll(timeout_ms, zmq.POLLIN):
            return accepted
        for _ in range(LIVE_MESSAGES_PER_POLL_MAX):
            try:
                frames = self.subscriber.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            output = engine_pb2.EngineOutput()
            output.ParseFromString(frames[-1])
            self._take_live(output, accepted)
        self.last_check_ns = time.monotonic_ns()
        return accepted

    def _idle_check_due(self) -> bool:
        elapsed_ms = (time.monotonic_ns() - self.last_check_ns) / 1e6
        return self.last_check_ns == 0 or elapsed_ms >= self.idle_check_ms

    def _take_live(self, output: engine_pb2.EngineOutput, accepted: list[engine_pb2.EngineOutput]) -> None:
        if output.seq <= self.last_seq:
            self.dropped_duplicates += 1
            return
        if output.seq > self.last_seq + 1:
            log.info("feed shard %d: gap %d..%d, replaying", self.shard_id, self.last_seq + 1, output.seq - 1)
            self._catch_up(accepted, target_seq=output.seq - 1)
        self._accept(output, accepted)

    def _catch_up(self, accepted: list[engine_pb2.EngineOutput], *, target_seq: int | None) -> None:
        """Fetch from the replay endpoint up to `target_seq` (None: up to the server's last seq)."""
        self.last_check_ns = time.monotonic_ns()
        for _ in range(REPLAY_ROUNDS_PER_GAP_MAX):
            goal = target_seq
            response = self.replay.fetch(self.last_seq + 1)
            if goal is None:
                goal = response.last_seq
            if self.last_seq >= goal:
                return
            if not response.outputs:
                raise ChainBroken(
                    f"shard {self.shard_id}: outputs {self.last_seq + 1}..{goal} are not available from replay "
                    f"(server last seq {response.last_seq}); refusing to skip them"
                )
            for output in response.outputs:
                if output.seq > goal:
                    break
                self.replayed_outputs += 1
                self._accept(output, accepted)
        raise ChainBroken(f"shard {self.shard_id}: gap fill did not finish in {REPLAY_ROUNDS_PER_GAP_MAX} rounds")

    def _accept(self, output: engine_pb2.EngineOutput, accepted: list[engine_pb2.EngineOutput]) -> None:
        problem = link_problem(output, shard_id=self.shard_id, last_seq=self.last_seq, last_hash=self.last_hash)
        if problem:
            log.critical("FEED CHAIN BROKEN on shard %d: %s", self.shard_id, problem)
            raise ChainBroken(f"shard {self.shard_id}: {problem}")
        self.last_seq = output.seq
        self.last_hash = output.hash
        accepted.append(output)

    def close(self) -> None:
        """Close both sockets."""
        self.subscriber.close(linger=0)
        self.replay.close()
