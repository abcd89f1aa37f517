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
        try:
            outputs = feed.poll(timeout_ms=100)                      # verified, dense, in seq order
        except Timeout:                                              # replay endpoint down: nothing was lost,
            continue                                                 # poll again (back off, alert if it lasts)
        for output in outputs:
            apply(output)                                            # then persist (output.seq, output.hash)
    feed.close()

Delivery contract (each verified output reaches the caller exactly once, whatever fails after it):
- An output is verified, then put in the feed's `ready` queue, and `last_seq`/`last_hash` move on. `poll` hands
  outputs over only from that queue, so nothing accepted can be dropped by a later failure in the same poll.
- If a replay fetch times out (or the chain breaks) after some outputs were accepted in this poll, `poll`
  *returns those outputs* and the error comes on the next call: `Timeout` again if the endpoint still does not
  answer, `ChainBroken` on that and every later call (the feed is halted for good). `poll` raises only when it
  has nothing to hand over, so a caller that gets an exception has received everything verified before it.
- A replay answer that says the request cannot be served halts the feed: `WRONG_SHARD` (and any refusal of a
  well-formed request) raises `ConfigInvalid` naming the shard the endpoint serves; `HISTORY_GONE` raises
  `ChainBroken`. Both are raised again by every later poll. A server that is behind what the feed saw live
  (`BEYOND_HEAD` while a gap is open: another instance, or one still recovering) is a `Timeout`, not a halt.
- `last_seq`/`last_hash` are those of the last *accepted* output, which may not have been handed over yet; a
  caller persists the (seq, hash) of the last output it applied, never `feed.last_seq`.

Bounds of one `poll(timeout_ms, outputs_max=...)`: at most `outputs_max` outputs, about `work_budget_ms` of
catch-up work (one replay round may overrun it by one fetch), and at most `timeout_ms` of waiting when there is
nothing to do. A feed behind chases the head it learned when the poll started (not a moving one); the rest
comes in later polls. Live messages that arrive while it catches up are kept in a bounded buffer
(`live_buffer_max`) and used as soon as the replay reaches them; if the buffer overflows it is dropped (logged,
counted in `live_overflows`) and the gap is filled from the replay endpoint later: never a silent loss.

`poll` also asks the replay endpoint for news after `idle_check_ms` of silence, so outputs lost at the tail
(no later live message to reveal the gap) are still fetched.

Feed message format (one ZeroMQ frame, several outputs): `feed_topic(shard_id)`, that is b"engine.<shard_id>"
and a NUL byte (the NUL ends the number, so a subscription to shard 3 does not also match shard 30), then the
bytes of a `ReplayResponse` whose `outputs` are consecutive outputs in seq order (at most
FEED_OUTPUTS_PER_MESSAGE_MAX; no other field set). One C-level parse gives a subscriber every output of a message.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import zmq
from google.protobuf.message import DecodeError

from common.engine_chain import GENESIS_HASH, link_problem
from common.errors import ChainBroken, ConfigInvalid, ExchangeError, Timeout
from common.protowire import varint
from exchange.v1 import engine_pb2

FEED_TOPIC_PREFIX = b"engine."
FEED_OUTPUTS_PER_MESSAGE_MAX = 512
OUTPUTS_TAG = b"\x0a"  # ReplayResponse.outputs: field 1, length-delimited
SUB_RCVHWM = 200  # messages of up to FEED_OUTPUTS_PER_MESSAGE_MAX outputs each (~100k outputs)
LIVE_DRAIN_MESSAGES_MAX = 100  # live messages moved from the socket to the buffer per drain
LIVE_BUFFER_MAX_DEFAULT = 50_000
POLL_OUTPUTS_MAX_DEFAULT = 10_000
WORK_BUDGET_MS_DEFAULT = 200
REPLAY_BATCH_MAX = 1_000
REPLAY_TIMEOUT_MS = 2_000
REPLAY_ATTEMPTS_MAX = 3
IDLE_CHECK_MS_DEFAULT = 500
# Answers that carry outputs or say there are none yet; UNSPECIFIED: a server from before the status field.
REPLAY_ANSWERED = frozenset(
    {engine_pb2.REPLAY_STATUS_OK, engine_pb2.REPLAY_STATUS_BEYOND_HEAD, engine_pb2.REPLAY_STATUS_UNSPECIFIED}
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEndpoints:
    """Where one matcher shard publishes its outputs and serves replays."""

    shard_id: int
    pub_endpoint: str
    replay_endpoint: str


def parse_feeds(text: str, *, setting: str) -> tuple[FeedEndpoints, ...]:
    """Parse "<shard>=<pub>|<replay>,..." (empty: no matcher feed); ConfigInvalid names `setting` when malformed."""
    feeds = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        shard, _, endpoints = item.partition("=")
        pub, _, replay = endpoints.partition("|")
        if not shard.strip().isdigit() or not pub or not replay:
            raise ConfigInvalid(f"{setting} item {item!r}: expected <shard>=<pub endpoint>|<replay endpoint>")
        feeds.append(FeedEndpoints(shard_id=int(shard), pub_endpoint=pub.strip(), replay_endpoint=replay.strip()))
    if len({feed.shard_id for feed in feeds}) != len(feeds):
        raise ConfigInvalid(f"{setting}: a shard is listed twice")
    return tuple(feeds)


def feed_topic(shard_id: int) -> bytes:
    """The prefix of every feed message of `shard_id` (what a subscriber subscribes to)."""
    return FEED_TOPIC_PREFIX + str(shard_id).encode() + b"\0"


def encode_feed_message(topic: bytes, outputs: Iterable[bytes]) -> bytes:
    """One feed message: `topic`, then the serialized outputs as a ReplayResponse's repeated `outputs` field."""
    parts = [topic]
    for data in outputs:  # each output copied once, into the joined frame
        parts.append(OUTPUTS_TAG + varint(len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_feed_message(topic: bytes, frame: bytes) -> Sequence[engine_pb2.EngineOutput]:
    """The outputs of one feed message (parsed, not yet verified)."""
    assert frame.startswith(topic), frame[: len(topic)]
    return engine_pb2.ReplayResponse.FromString(frame[len(topic) :]).outputs


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
            try:
                return engine_pb2.ReplayResponse.FromString(reply)
            except DecodeError:  # a garbled answer is as good as none: ask again, never crash the subscriber
                log.warning("replay %s: undecodable answer of %d bytes (attempt %d)", self.endpoint, len(reply),
                            attempt)
                continue
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
        replay_timeout_ms: int = REPLAY_TIMEOUT_MS, replay_batch_max: int = REPLAY_BATCH_MAX,
        work_budget_ms: int = WORK_BUDGET_MS_DEFAULT, live_buffer_max: int = LIVE_BUFFER_MAX_DEFAULT,
    ) -> None:
        assert replay_batch_max > 0, replay_batch_max
        assert live_buffer_max > 0, live_buffer_max
        self.shard_id = shard_id
        self.last_seq = last_seq  # last accepted (verified) output; handed over or still in `ready`
        self.last_hash = last_hash
        self.idle_check_ms = idle_check_ms
        self.replay_batch_max = replay_batch_max
        self.work_budget_ms = work_budget_ms
        self.live_buffer_max = live_buffer_max
        self.replayed_outputs = 0
        self.dropped_duplicates = 0
        self.live_overflows = 0
        self.malformed_live_messages = 0
        self.ready: deque[engine_pb2.EngineOutput] = deque()  # verified, not yet handed to the caller
        self.live: deque[engine_pb2.EngineOutput] = deque()  # live messages after last_seq, ascending seq
        self.goal_seq = 0  # the server head learned by the last idle check: catch up to here
        self.halted: ExchangeError | None = None  # ChainBroken or ConfigInvalid: raised by every later poll
        self.subscriber = context.socket(zmq.SUB)
        self.subscriber.setsockopt(zmq.RCVHWM, SUB_RCVHWM)
        self.subscriber.setsockopt(zmq.LINGER, 0)
        self.topic = feed_topic(shard_id)
        self.subscriber.setsockopt(zmq.SUBSCRIBE, self.topic)
        self.subscriber.connect(sub_endpoint)
        self.replay = ReplayClient(context, replay_endpoint, shard_id=shard_id, timeout_ms=replay_timeout_ms)
        self.last_check_ns = 0  # 0: check the replay endpoint on the first poll (catch up at start)

    def poll(self, timeout_ms: int, *, outputs_max: int = POLL_OUTPUTS_MAX_DEFAULT) -> list[engine_pb2.EngineOutput]:
        """Up to `outputs_max` verified outputs after the last one handed over, in order (maybe none).

        Raise `Timeout` (replay endpoint silent or behind: poll again), `ChainBroken` or `ConfigInvalid` (halted for
        good) only when no verified output is waiting; see the module docstring for the exact contract.
        """
        assert outputs_max > 0, outputs_max
        if self.halted is None and len(self.ready) < outputs_max:
            try:
                self._work(timeout_ms, outputs_max)
            except (ChainBroken, ConfigInvalid) as fatal:
                log.critical("FEED HALTED on shard %d: %s", self.shard_id, fatal)
                self.halted = fatal
            except Timeout:
                if not self.ready:
                    raise
                log.warning("feed shard %d: replay timed out; handing over %d verified outputs first",
                            self.shard_id, len(self.ready))
        if self.halted is not None and not self.ready:
            raise self.halted
        return [self.ready.popleft() for _ in range(min(outputs_max, len(self.ready)))]

    def _work(self, timeout_ms: int, outputs_max: int) -> None:
        """Move verified outputs into `ready`: from the live buffer, else from replay; wait only when idle."""
        now_ns = time.monotonic_ns()
        work_deadline_ns = now_ns + self.work_budget_ms * 1_000_000
        wait_deadline_ns = now_ns + timeout_ms * 1_000_000
        self._drain_live()
        if self._idle_check_due():
            self._learn_head(outputs_max)
        while len(self.ready) < outputs_max:
            self._take_live(outputs_max)
            target_seq = self.live[0].seq - 1 if self.live else self.goal_seq
            if len(self.ready) < outputs_max and target_seq > self.last_seq:
                if time.monotonic_ns() >= work_deadline_ns:
                    return  # the rest of the catch-up comes in the next polls
                self._replay_round(target_seq, outputs_max)
                self._drain_live()
                continue
            if self.ready:
                return
            wait_ms = (wait_deadline_ns - time.monotonic_ns()) // 1_000_000
            if wait_ms <= 0 or not self.subscriber.poll(wait_ms, zmq.POLLIN):
                return
            self._drain_live()

    def _idle_check_due(self) -> bool:
        if self.goal_seq > self.last_seq:
            return False  # still catching up to the head learned before
        elapsed_ms = (time.monotonic_ns() - self.last_check_ns) / 1e6
        return self.last_check_ns == 0 or elapsed_ms >= self.idle_check_ms

    def _learn_head(self, outputs_max: int) -> None:
        """Ask the replay endpoint where its head is (and take the outputs that answer brings)."""
        self.last_check_ns = time.monotonic_ns()
        limit = min(self.replay_batch_max, outputs_max - len(self.ready))
        response = self._fetch(limit)
        self.goal_seq = max(self.goal_seq, response.last_seq)
        self._take_replayed(response, target_seq=self.goal_seq)

    def _replay_round(self, target_seq: int, outputs_max: int) -> None:
        """One replay fetch towards `target_seq` (inclusive)."""
        limit = min(self.replay_batch_max, target_seq - self.last_seq, outputs_max - len(self.ready))
        assert limit > 0, (limit, target_seq, self.last_seq, len(self.ready))
        self._take_replayed(self._fetch(limit), target_seq=target_seq)

    def _fetch(self, limit: int) -> engine_pb2.ReplayResponse:
        """Fetch from last_seq + 1; raise (halting the feed) when the server says the request cannot be served."""
        response = self.replay.fetch(self.last_seq + 1, limit)
        status = response.status
        if status in REPLAY_ANSWERED:
            return response
        name = engine_pb2.ReplayStatus.Name(status)
        if status == engine_pb2.REPLAY_STATUS_WRONG_SHARD:
            raise ConfigInvalid(
                f"shard {self.shard_id}: the replay endpoint {self.replay.endpoint} serves another shard "
                f"({response.detail}); check this subscriber's shard id and endpoints"
            )
        if status == engine_pb2.REPLAY_STATUS_HISTORY_GONE:
            raise ChainBroken(
                f"shard {self.shard_id}: outputs from {self.last_seq + 1} are gone from the replay endpoint "
                f"({response.detail}); refusing to skip them"
            )
        raise ConfigInvalid(f"shard {self.shard_id}: the replay endpoint refused the request: {name} {response.detail}")

    def _take_replayed(self, response: engine_pb2.ReplayResponse, *, target_seq: int) -> None:
        if self.last_seq >= target_seq:
            return
        if not response.outputs and response.status == engine_pb2.REPLAY_STATUS_BEYOND_HEAD:
            # The server is behind what we saw (another instance, still recovering): not a loss; retry later.
            log.warning("feed shard %d: replay server at seq %d, behind the %d wanted; retrying later",
                        self.shard_id, response.last_seq, target_seq)
            self.goal_seq = min(self.goal_seq, response.last_seq)
            raise Timeout(f"replay endpoint is at seq {response.last_seq}, behind seq {target_seq}")
        if not response.outputs:
            raise ChainBroken(
                f"shard {self.shard_id}: outputs {self.last_seq + 1}..{target_seq} are not available from replay "
                f"(server last seq {response.last_seq}); refusing to skip them"
            )
        for output in response.outputs:
            if output.seq > target_seq:
                break
            self.replayed_outputs += 1
            self._accept(output)

    def _drain_live(self) -> None:
        """Move waiting live messages into the bounded live buffer (dropping those already accepted)."""
        received = 0
        for _ in range(LIVE_DRAIN_MESSAGES_MAX):
            try:
                frame = self.subscriber.recv(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            received += 1
            try:
                outputs = decode_feed_message(self.topic, frame)
            except DecodeError:
                # Set aside, never fatal: the outputs it carried are missing seqs, which replay fills (verified).
                self.malformed_live_messages += 1
                log.warning("feed shard %d: undecodable live message of %d bytes skipped; replay fills the gap",
                            self.shard_id, len(frame))
                continue
            for output in outputs:
                self._buffer_live(output)
        if received:
            self.last_check_ns = time.monotonic_ns()

    def _buffer_live(self, output: engine_pb2.EngineOutput) -> None:
        """Keep one live output after last_seq, in the bounded buffer (dropped whole when it overflows)."""
        if output.seq <= self.last_seq:
            self.dropped_duplicates += 1
            return
        if self.live and output.seq <= self.live[-1].seq:
            log.warning("feed shard %d: live seq %d after %d; restarting the buffer", self.shard_id,
                        output.seq, self.live[-1].seq)
            self.live.clear()
        if len(self.live) >= self.live_buffer_max:
            self.live_overflows += 1
            log.warning("feed shard %d: live buffer full (%d outputs, seq %d..%d): dropped; the gap will be "
                        "filled from replay", self.shard_id, len(self.live), self.live[0].seq, self.live[-1].seq)
            self.live.clear()
        self.live.append(output)

    def _take_live(self, outputs_max: int) -> None:
        """Accept buffered live outputs while they continue the chain (stop at a gap or when `ready` is full)."""
        while self.live and len(self.ready) < outputs_max:
            head = self.live[0]
            if head.seq <= self.last_seq:
                self.live.popleft()
                self.dropped_duplicates += 1
                continue
            if head.seq > self.last_seq + 1:
                return  # a gap: the caller replays up to head.seq - 1
            self.live.popleft()
            self._accept(head)

    def _accept(self, output: engine_pb2.EngineOutput) -> None:
        problem = link_problem(output, shard_id=self.shard_id, last_seq=self.last_seq, last_hash=self.last_hash)
        if problem:
            log.critical("FEED CHAIN BROKEN on shard %d: %s", self.shard_id, problem)
            raise ChainBroken(f"shard {self.shard_id}: {problem}")
        self.last_seq = output.seq
        self.last_hash = output.hash
        self.ready.append(output)

    def close(self) -> None:
        """Close both sockets."""
        self.subscriber.close(linger=0)
        self.replay.close()
