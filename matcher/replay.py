"""The matcher's replay endpoint: past EngineOutputs served from the WAL over ZeroMQ (the "Clone" pattern).

Subscribers of the PUB feed lose messages by design (slow joiner, high-water mark, restart). They ask this
endpoint for `ReplayRequest{shard_id, from_seq, limit}` and get `ReplayResponse{outputs from from_seq in seq
order, at most min(limit, REPLAY_OUTPUTS_MAX); last_seq; status; detail}`. `status` says why an answer is empty:

    OK                 outputs follow (at least one)
    BEYOND_HEAD        from_seq > last_seq: nothing yet (normal for a subscriber that is up to date)
    LIMIT_ZERO         limit was 0
    WRONG_SHARD        the request names another shard (detail: the shard served): a subscriber configuration error
    MALFORMED_REQUEST  undecodable, or from_seq 0
    REQUEST_TOO_LARGE  over REPLAY_REQUEST_BYTES_MAX (a few varints never are): answered unparsed, up to
                       REPLAY_MESSAGE_BYTES_MAX; a larger message ZeroMQ does not take in at all and drops that
                       connection (MAXMSGSIZE), so a client's mistake gets an answer and a flood costs bounded memory
    HISTORY_GONE       from_seq is older than anything kept (WAL truncated after a snapshot): the subscriber halts

The client side (gap detection, chain verification, halting on WRONG_SHARD and HISTORY_GONE) is
common/engine_feed.py.

WAL record layout of the matcher (matcher/walrecords in spirit, kept here because replay is the main reader):

    b"O" | seq u64 | EngineOutput bytes          an output, sealed (seq, prev_hash, hash set)
    b"R" | partition i32 | offset i64 | reason_len u16 | reason | raw input bytes     a rejected input

The socket is a ROUTER (REQ clients) served by its own thread, never by the matching thread, with a duty cycle
(see ReplayServer). Recent outputs are answered from an in-memory ring; older ones from the WAL: a sparse
seq -> lsn index (one entry per REPLAY_INDEX_STRIDE outputs, plus the first output kept) gives the lsn, and the
WAL's own per-segment (lsn, byte offset) index seeks straight to it.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import zmq
from google.protobuf.message import DecodeError

from common.protowire import length_delimited
from common.wal import Wal
from exchange.v1 import engine_pb2

OUTPUT_RECORD = b"O"
REJECTED_RECORD = b"R"
SEQ = struct.Struct("<Q")
REJECTED_HEADER = struct.Struct("<iqH")
REPLAY_OUTPUTS_MAX = 1_000
REPLAY_RESPONSE_BYTES_MAX = 8 * 1024 * 1024
REPLAY_RING_OUTPUTS = 16_384
REPLAY_INDEX_STRIDE = 64
REPLAY_READ_BYTES = 256 * 1024  # WAL bytes read per pread when answering from disk
REPLAY_REQUESTS_PER_TURN_MAX = 16
REPLAY_TURN_MS = 5  # work per turn before the thread checks its duty cycle
LOOP_BUSY_MS = 200  # the matching loop counts as busy this long after its last non-empty batch
REPLAY_IDLE_POLL_MS = 100  # how often an idle replay thread looks at its stop flag
REPLAY_JOIN_TIMEOUT_S = 5.0
REPLAY_SOCKET_HWM = 1_000  # replies queued per client
REPLAY_REQUESTS_QUEUED_PER_CLIENT = 4  # a REQ client has one request in flight; a flooding DEALER waits here
REPLAY_REQUEST_BYTES_MAX = 64  # shard_id, from_seq and limit take at most 21 bytes
# Larger requests are answered REQUEST_TOO_LARGE without being parsed, up to this size (the 32 MB request of issue
# 12 included); ZeroMQ drops a peer that sends more. Memory held per client: at most 4 x 64 MiB while queued.
REPLAY_MESSAGE_BYTES_MAX = 64 * 1024 * 1024

log = logging.getLogger(__name__)


def output_record(seq: int, output_bytes: bytes) -> bytes:
    """WAL payload of a sealed output."""
    return OUTPUT_RECORD + SEQ.pack(seq) + output_bytes


def rejected_record(partition: int, offset: int, reason: str, raw: bytes) -> bytes:
    """WAL payload of an input the matcher skipped (kept so an operator can see exactly what was refused)."""
    reason_bytes = reason.encode()[:200]
    return REJECTED_RECORD + REJECTED_HEADER.pack(partition, offset, len(reason_bytes)) + reason_bytes + raw


def parse_rejected(payload: bytes) -> tuple[int, int, str, bytes]:
    """(partition, offset, reason, raw input) of a rejected-input record."""
    assert payload[:1] == REJECTED_RECORD, payload[:1]
    partition, offset, reason_len = REJECTED_HEADER.unpack_from(payload, 1)
    start = 1 + REJECTED_HEADER.size
    return partition, offset, payload[start : start + reason_len].decode(), payload[start + reason_len :]


def record_seq(payload: bytes) -> int:
    """Seq of an output record (0 for any other record type)."""
    if payload[:1] != OUTPUT_RECORD:
        return 0
    return SEQ.unpack_from(payload, 1)[0]


@dataclass(slots=True)
class ReplayStore:
    """Finds outputs by seq: recent ones in a ring, older ones in the WAL via a sparse seq -> lsn index.

    Shared by two threads: the service thread appends (`remember_batch`, `forget_before_lsn`) and the replay thread
    reads (`outputs_from`). The ring is guarded by `lock`; `index` is only appended to, or replaced by a new list
    when trimmed, so a reader holding the old list still sees a consistent one.
    """

    wal: Wal
    ring: deque[tuple[int, bytes]] = field(default_factory=lambda: deque(maxlen=REPLAY_RING_OUTPUTS))
    index: list[tuple[int, int]] = field(default_factory=list)  # (seq, lsn): the first kept, then every STRIDE-th
    last_seq: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, seq: int, lsn: int, output_bytes: bytes | None) -> None:
        """Note that output `seq` is durable at `lsn` (bytes kept in the ring when given)."""
        self.remember_batch([(seq, lsn, output_bytes)])

    def remember_batch(self, entries: list[tuple[int, int, bytes | None]]) -> None:
        """Note a batch of durable outputs (seq, lsn, bytes or None), in seq order; then make them visible."""
        if not entries:
            return
        assert entries[0][0] == self.last_seq + 1 or self.last_seq == 0, (entries[0][0], self.last_seq)
        last_indexed = self.index[-1][0] if self.index else -REPLAY_INDEX_STRIDE
        with self.lock:
            for seq, lsn, output_bytes in entries:
                if seq - last_indexed >= REPLAY_INDEX_STRIDE:
                    self.index.append((seq, lsn))
                    last_indexed = seq
                if output_bytes is not None:
                    self.ring.append((seq, output_bytes))
        self.last_seq = entries[-1][0]  # last: a reader never sees a seq the ring and index do not cover yet

    def forget_before_lsn(self, lsn: int) -> None:
        """Drop index entries pointing below `lsn` (their segments were truncated); index the first output kept."""
        kept = [entry for entry in self.index if entry[1] >= lsn]
        first = next((record for record in self.wal.read(lsn) if record_seq(record.payload)), None)
        if first is not None and (not kept or kept[0][1] > first.lsn):
            kept.insert(0, (record_seq(first.payload), first.lsn))
        self.index = kept

    @property
    def oldest_seq(self) -> int:
        """The oldest seq that can still be served (0 when nothing is kept)."""
        index = self.index
        return index[0][0] if index else 0

    def outputs_from(self, from_seq: int, limit: int) -> list[bytes]:
        """Up to `limit` serialized outputs from `from_seq` on (empty if none, or if history is gone)."""
        limit = max(0, min(limit, REPLAY_OUTPUTS_MAX))
        if limit == 0 or from_seq > self.last_seq or from_seq < 1:
            return []
        with self.lock:
            if self.ring and self.ring[0][0] <= from_seq:
                start = from_seq - self.ring[0][0]
                return [data for _, data in itertools.islice(self.ring, start, start + limit)]
        return self._from_wal(from_seq, limit)

    def _from_wal(self, from_seq: int, limit: int) -> list[bytes]:
        index = self.index
        position = bisect.bisect_right(index, (from_seq, 1 << 63)) - 1
        if position < 0:
            return []  # older than anything still indexed: truncated
        found: list[bytes] = []
        found_bytes = 0
        lsn = index[position][1]
        try:
            while len(found) < limit and found_bytes < REPLAY_RESPONSE_BYTES_MAX:
                records = self.wal.read_chunk(lsn, bytes_max=REPLAY_READ_BYTES)
                if not records:
                    break
                for record in records:
                    if record_seq(record.payload) < from_seq:
                        continue  # a rejected-input record, or an output before from_seq
                    data = record.payload[1 + SEQ.size :]
                    found.append(data)
                    found_bytes += len(data)
                    if len(found) >= limit or found_bytes >= REPLAY_RESPONSE_BYTES_MAX:
                        break
                lsn = records[-1].lsn + 1
        except FileNotFoundError:
            return []  # the segment was truncated while we read: that history is gone
        return found


def answer_request(store: ReplayStore, shard_id: int, request_bytes: bytes) -> bytes:
    """The serialized ReplayResponse to one request (outputs, last_seq, and a status saying why it is empty)."""
    last_seq = store.last_seq
    status, detail, outputs = _lookup(store, shard_id, request_bytes, last_seq)
    if status not in (engine_pb2.REPLAY_STATUS_OK, engine_pb2.REPLAY_STATUS_BEYOND_HEAD):
        log.warning("replay: %s: %s", engine_pb2.ReplayStatus.Name(status), detail)
    response = engine_pb2.ReplayResponse(last_seq=last_seq, status=status, detail=detail)
    # Serialized outputs are concatenated as repeated-field entries, so nothing is parsed again here.
    return b"".join(length_delimited(1, data) for data in outputs) + response.SerializeToString()


def _lookup(store: ReplayStore, shard_id: int, request_bytes: bytes, last_seq: int) -> tuple[int, str, list[bytes]]:
    """(status, detail, serialized outputs) for one request."""
    if len(request_bytes) > REPLAY_REQUEST_BYTES_MAX:
        detail = f"request of {len(request_bytes)} bytes; the limit is {REPLAY_REQUEST_BYTES_MAX}"
        return engine_pb2.REPLAY_STATUS_REQUEST_TOO_LARGE, detail, []
    request = engine_pb2.ReplayRequest()
    try:
        request.ParseFromString(request_bytes)
    except DecodeError:
        return engine_pb2.REPLAY_STATUS_MALFORMED_REQUEST, f"undecodable ({len(request_bytes)} bytes)", []
    if request.shard_id != shard_id:
        detail = f"this endpoint serves shard {shard_id}, not shard {request.shard_id}"
        return engine_pb2.REPLAY_STATUS_WRONG_SHARD, detail, []
    if request.from_seq < 1:
        return engine_pb2.REPLAY_STATUS_MALFORMED_REQUEST, "from_seq must be at least 1", []
    if request.limit == 0:
        return engine_pb2.REPLAY_STATUS_LIMIT_ZERO, "limit 0: nothing asked for", []
    if request.from_seq > last_seq:
        return engine_pb2.REPLAY_STATUS_BEYOND_HEAD, "", []
    outputs = store.outputs_from(request.from_seq, request.limit)
    if not outputs:
        detail = f"seq {request.from_seq} is gone; the oldest seq kept is {store.oldest_seq}"
        return engine_pb2.REPLAY_STATUS_HISTORY_GONE, detail, []
    return engine_pb2.REPLAY_STATUS_OK, "", outputs


class ReplayServer:
    """Answers ReplayRequests on a ZeroMQ ROUTER socket from its own thread, at most `duty_percent` of the time.

    The thread serves a turn (up to REPLAY_REQUESTS_PER_TURN_MAX requests or REPLAY_TURN_MS of its own CPU time),
    then, while the matching loop is busy (`loop_busy()` called within LOOP_BUSY_MS), rests so that replay uses at
    most `duty_percent` of one CPU: under any replay load the matching thread keeps the GIL for the rest. While
    the loop is idle, replay runs flat out (catch-up after a quiet period is not throttled for nothing). Replies
    go out with NOBLOCK on a ROUTER without ROUTER_MANDATORY, so a client that vanished costs nothing and never
    blocks the others. A failure in the thread (a corrupt WAL record) is kept in `failure`; the service loop
    calls `check()` and stops the process.
    """

    def __init__(
        self,
        context: zmq.Context,
        endpoint: str,
        *,
        shard_id: int,
        store: ReplayStore,
        duty_percent: int,
        on_turn: Callable[[int, int], None] | None = None,
    ) -> None:
        assert 1 <= duty_percent <= 100, duty_percent
        self.shard_id = shard_id
        self.store = store
        self.duty_percent = duty_percent
        self.on_turn = on_turn  # (requests answered, busy ns) after each turn, for metrics
        self.served = 0
        self.busy_until_ns = 0  # the matching loop is busy until then (set from the loop thread: one int store)
        self.failure: BaseException | None = None
        self.stop_requested = threading.Event()
        self.socket = context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SNDHWM, REPLAY_SOCKET_HWM)
        self.socket.setsockopt(zmq.RCVHWM, REPLAY_REQUESTS_QUEUED_PER_CLIENT)
        self.socket.setsockopt(zmq.MAXMSGSIZE, REPLAY_MESSAGE_BYTES_MAX)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 0)  # a vanished client's reply is dropped, never blocks us
        self.socket.bind(endpoint)
        self.thread = threading.Thread(target=self._run, name=f"replay-{shard_id}", daemon=True)

    def start(self) -> None:
        """Start serving from the replay thread (the socket belongs to that thread from now on)."""
        self.thread.start()

    def loop_busy(self) -> None:
        """Called by the matching loop after each batch it applied: keep replay within its duty cycle a while."""
        self.busy_until_ns = time.monotonic_ns() + LOOP_BUSY_MS * 1_000_000

    def check(self) -> None:
        """Raise if the replay thread died (called from the service loop, so a failure stops the process)."""
        if self.failure is not None:
            raise RuntimeError("replay thread failed") from self.failure

    def _run(self) -> None:
        try:
            while not self.stop_requested.is_set():
                if not self.socket.poll(REPLAY_IDLE_POLL_MS, zmq.POLLIN):
                    continue
                busy_ns = self.serve_turn()
                if time.monotonic_ns() >= self.busy_until_ns:
                    continue  # the matching loop is idle: nothing to yield to
                rest_s = busy_ns * (100 - self.duty_percent) / self.duty_percent / 1e9
                if rest_s > 0:
                    self.stop_requested.wait(rest_s)
        except BaseException as error:  # kept for check(): the service loop then stops the process
            log.critical("REPLAY THREAD FAILED: %r", error)
            self.failure = error
        finally:
            self.socket.close(linger=0)

    def serve_turn(self) -> int:
        """Answer waiting requests for one turn without blocking; return this thread's CPU nanoseconds spent.

        CPU time, not wall time: waiting for the GIL while the matching thread runs costs the matcher nothing, so
        it does not count against the duty cycle.
        """
        started_ns = time.thread_time_ns()
        deadline_ns = started_ns + REPLAY_TURN_MS * 1_000_000
        answered = 0
        while answered < REPLAY_REQUESTS_PER_TURN_MAX and time.thread_time_ns() < deadline_ns:
            try:
                frames = self.socket.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            reply = answer_request(self.store, self.shard_id, frames[-1])
            try:
                self.socket.send_multipart([*frames[:-1], reply], flags=zmq.NOBLOCK)
            except zmq.Again:
                log.warning("replay: a client's queue is full (%d replies); reply dropped", REPLAY_SOCKET_HWM)
            answered += 1
        busy_ns = time.thread_time_ns() - started_ns
        self.served += answered
        if self.on_turn is not None:
            self.on_turn(answered, busy_ns)
        return busy_ns

    def close(self) -> None:
        """Stop the thread (it closes the socket); close the socket here if the thread never started."""
        self.stop_requested.set()
        if self.thread.is_alive():
            self.thread.join(timeout=REPLAY_JOIN_TIMEOUT_S)
        elif self.thread.ident is None:
            self.socket.close(linger=0)

