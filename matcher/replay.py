"""The matcher's replay endpoint: past EngineOutputs served from the WAL over ZeroMQ (the "Clone" pattern).

Subscribers of the PUB feed lose messages by design (slow joiner, high-water mark, restart). They ask this
endpoint for `ReplayRequest{shard_id, from_seq, limit}` and get `ReplayResponse{outputs from from_seq in seq
order, at most min(limit, REPLAY_OUTPUTS_MAX); last_seq; status; detail}`. `status` says why an answer is empty:

    OK                 outputs follow (at least one)
    BEYOND_HEAD        from_seq > last_seq: nothing yet (normal for a subscriber that is up to date)
    LIMIT_ZERO         limit was 0
    WRONG_SHARD        the request names another shard (detail: the shard served): a subscriber configuration error
    MALFORMED_REQUEST  undecodable, or from_seq 0
    REQUEST_TOO_LARGE  over REPLAY_REQUEST_BYTES_MAX (a few varints never are); a message over
                       REPLAY_MESSAGE_BYTES_MAX is not even read: ZeroMQ drops that connection (MAXMSGSIZE)
    HISTORY_GONE       from_seq is older than anything kept (WAL truncated after a snapshot): the subscriber halts

The client side (gap detection, chain verification, halting on WRONG_SHARD and HISTORY_GONE) is
common/engine_feed.py.

WAL record layout of the matcher (matcher/walrecords in spirit, kept here because replay is the main reader):

    b"O" | seq u64 | EngineOutput bytes          an output, sealed (seq, prev_hash, hash set)
    b"R" | partition i32 | offset i64 | reason_len u16 | reason | raw input bytes     a rejected input

The socket is a ROUTER (REQ clients), served from the service loop between batches, so the WAL has a single
reader/writer thread. Recent outputs are answered from an in-memory ring; older ones from the WAL through a
sparse seq -> lsn index (one entry per REPLAY_INDEX_STRIDE outputs).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import struct
from collections import deque
from dataclasses import dataclass, field

import zmq
from google.protobuf.message import DecodeError

from common.wal import Wal
from exchange.v1 import engine_pb2

OUTPUT_RECORD = b"O"
REJECTED_RECORD = b"R"
SEQ = struct.Struct("<Q")
REJECTED_HEADER = struct.Struct("<iqH")
REPLAY_OUTPUTS_MAX = 1_000
REPLAY_RESPONSE_BYTES_MAX = 8 * 1024 * 1024
REPLAY_RING_OUTPUTS = 16_384
REPLAY_INDEX_STRIDE = 256
REPLAY_REQUESTS_PER_TURN_MAX = 16
REPLAY_SOCKET_HWM = 1_000
REPLAY_REQUEST_BYTES_MAX = 64  # shard_id, from_seq and limit take at most 21 bytes
REPLAY_MESSAGE_BYTES_MAX = 4_096  # ZeroMQ drops a peer that sends more, before anything is parsed

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
    """Finds outputs by seq: recent ones in a ring, older ones in the WAL via a sparse index."""

    wal: Wal
    ring: deque[tuple[int, bytes]] = field(default_factory=lambda: deque(maxlen=REPLAY_RING_OUTPUTS))
    index_seqs: list[int] = field(default_factory=list)  # every REPLAY_INDEX_STRIDE-th seq ...
    index_lsns: list[int] = field(default_factory=list)  # ... and the lsn of its record
    last_seq: int = 0

    def remember(self, seq: int, lsn: int, output_bytes: bytes | None) -> None:
        """Note that output `seq` is durable at `lsn` (bytes kept in the ring when given)."""
        assert seq == self.last_seq + 1 or self.last_seq == 0, (seq, self.last_seq)
        if not self.index_seqs or seq - self.index_seqs[-1] >= REPLAY_INDEX_STRIDE:
            self.index_seqs.append(seq)
            self.index_lsns.append(lsn)
        if output_bytes is not None:
            self.ring.append((seq, output_bytes))
        self.last_seq = seq

    def forget_before_lsn(self, lsn: int) -> None:
        """Drop index entries pointing below `lsn` (their segments were truncated)."""
        while self.index_lsns and self.index_lsns[0] < lsn:
            self.index_lsns.pop(0)
            self.index_seqs.pop(0)

    @property
    def oldest_seq(self) -> int:
        """The oldest seq that can still be served (0 when nothing is kept)."""
        return self.index_seqs[0] if self.index_seqs else 0

    def outputs_from(self, from_seq: int, limit: int) -> list[bytes]:
        """Up to `limit` serialized outputs from `from_seq` on (empty if none, or if history is gone)."""
        limit = max(0, min(limit, REPLAY_OUTPUTS_MAX))
        if limit == 0 or from_seq > self.last_seq or from_seq < 1:
            return []
        if self.ring and self.ring[0][0] <= from_seq:
            start = from_seq - self.ring[0][0]
            return [data for _, data in itertools.islice(self.ring, start, start + limit)]
        return self._from_wal(from_seq, limit)

    def _from_wal(self, from_seq: int, limit: int) -> list[bytes]:
        position = bisect.bisect_right(self.index_seqs, from_seq) - 1
        if position < 0:
            return []  # older than anything still indexed: truncated
        found: list[bytes] = []
        found_bytes = 0
        for record in self.wal.read(self.index_lsns[position]):
            seq = record_seq(record.payload)
            if seq < from_seq:
                continue
            data = record.payload[1 + SEQ.size :]
            found.append(data)
            found_bytes += len(data)
            if len(found) >= limit or found_bytes >= REPLAY_RESPONSE_BYTES_MAX:
                break
        return found


def answer_request(store: ReplayStore, shard_id: int, request_bytes: bytes) -> bytes:
    """The serialized ReplayResponse to one request (outputs, last_seq, and a status saying why it is empty)."""
    last_seq = store.last_seq
    status, detail, outputs = _lookup(store, shard_id, request_bytes, last_seq)
    if status not in (engine_pb2.REPLAY_STATUS_OK, engine_pb2.REPLAY_STATUS_BEYOND_HEAD):
        log.warning("replay: %s: %s", engine_pb2.ReplayStatus.Name(status), detail)
    response = engine_pb2.ReplayResponse(last_seq=last_seq, status=status, detail=detail)
    # Serialized outputs are concatenated as repeated-field entries, so nothing is parsed again here.
    return b"".join(_repeated_field(1, data) for data in outputs) + response.SerializeToString()


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
    """Answers ReplayRequests on a ZeroMQ ROUTER socket; call `serve_pending()` from the service loop."""

    def __init__(self, context: zmq.Context, endpoint: str, *, shard_id: int, store: ReplayStore) -> None:
        self.shard_id = shard_id
        self.store = store
        self.served = 0
        self.socket = context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SNDHWM, REPLAY_SOCKET_HWM)
        self.socket.setsockopt(zmq.RCVHWM, REPLAY_SOCKET_HWM)
        self.socket.setsockopt(zmq.MAXMSGSIZE, REPLAY_MESSAGE_BYTES_MAX)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 0)  # a vanished client's reply is dropped, never blocks us
        self.socket.bind(endpoint)

    def serve_pending(self, requests_max: int = REPLAY_REQUESTS_PER_TURN_MAX) -> int:
        """Answer up to `requests_max` waiting requests without blocking; return how many were answered."""
        answered = 0
        while answered < requests_max:
            try:
                frames = self.socket.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            reply = answer_request(self.store, self.shard_id, frames[-1])
            self.socket.send_multipart([*frames[:-1], reply], flags=zmq.NOBLOCK)
            answered += 1
        self.served += answered
        return answered

    def close(self) -> None:
        """Close the socket."""
        self.socket.close(linger=0)


def _repeated_field(field_number: int, data: bytes) -> bytes:
    """Protobuf wire bytes of one length-delimited field entry."""
    return _varint((field_number << 3) | 2) + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)
