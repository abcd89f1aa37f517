"""The replay server's own thread on a real ZeroMQ loopback socket, over a real WAL in a temp dir (no matcher)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from common.engine_chain import Chain
from common.wal import RECORD_HEADER, SEGMENT_HEADER, Wal, list_segments
from exchange.v1 import engine_pb2
from matcher.replay import ReplayServer, ReplayStore, output_record

SHARD_ID = 2
REPLY_TIMEOUT_MS = 5_000


@pytest.fixture
def context() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def written_store(wal_dir: Path, count: int) -> ReplayStore:
    """`count` sealed outputs in a WAL, indexed but not in the ring (so every answer reads the WAL)."""
    wal = Wal.open(wal_dir)
    chain = Chain(shard_id=SHARD_ID)
    outputs = [chain.seal(engine_pb2.EngineOutput(ts_event_ns=index)) for index in range(count)]
    wal.append([output_record(o.seq, o.SerializeToString(deterministic=True)) for o in outputs])
    store = ReplayStore(wal)
    store.remember_batch([(o.seq, o.seq, None) for o in outputs])
    return store


def start_server(context: zmq.Context, store: ReplayStore) -> tuple[ReplayServer, str]:
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    server = ReplayServer(context, endpoint, shard_id=SHARD_ID, store=store, duty_percent=50)
    server.start()
    return server, endpoint


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ask(context: zmq.Context, endpoint: str, from_seq: int, limit: int) -> engine_pb2.ReplayResponse:
    client = context.socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    client.setsockopt(zmq.RCVTIMEO, REPLY_TIMEOUT_MS)
    client.connect(endpoint)
    client.send(engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=from_seq, limit=limit).SerializeToString())
    reply = engine_pb2.ReplayResponse.FromString(client.recv())
    client.close(linger=0)
    return reply


@pytest.mark.parametrize("request_bytes", [65, 4_097, 1024 * 1024, 32 * 1024 * 1024])
def test_an_oversized_request_is_answered_request_too_large(
    context: zmq.Context, tmp_path: Path, request_bytes: int
) -> None:
    """Issue 12's 32 MB request among them: an answer that says why, not parsed, and not silence."""
    server, endpoint = start_server(context, written_store(tmp_path / "wal", 3))
    try:
        client = context.socket(zmq.REQ)
        client.setsockopt(zmq.LINGER, 0)
        client.setsockopt(zmq.RCVTIMEO, REPLY_TIMEOUT_MS)
        client.connect(endpoint)
        client.send(b"a" * request_bytes)
        reply = engine_pb2.ReplayResponse.FromString(client.recv())
        client.close(linger=0)
        assert (reply.status, len(reply.outputs)) == (engine_pb2.REPLAY_STATUS_REQUEST_TOO_LARGE, 0)
        assert f"request of {request_bytes} bytes" in reply.detail
        assert ask(context, endpoint, 1, 3).status == engine_pb2.REPLAY_STATUS_OK  # and the server goes on
    finally:
        server.close()


def test_clients_that_vanish_or_never_read_do_not_stall_the_others(context: zmq.Context, tmp_path: Path) -> None:
    """20 clients send a request and disconnect, 20 more flood requests and never read a reply; a well-behaved
    client still gets its answer, the server thread answered the abandoned requests too, and stops cleanly."""
    server, endpoint = start_server(context, written_store(tmp_path / "wal", 2_000))
    vanished = []
    for _ in range(20):
        client = context.socket(zmq.REQ)
        client.setsockopt(zmq.LINGER, 0)
        client.connect(endpoint)
        client.send(engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=1, limit=1_000).SerializeToString())
        vanished.append(client)
    for client in vanished:
        client.close(linger=0)
    floods = []
    for _ in range(20):
        flood = context.socket(zmq.DEALER)
        flood.setsockopt(zmq.LINGER, 0)
        flood.connect(endpoint)
        for _ in range(5):
            flood.send_multipart([b"", engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=1, limit=1_000)
                                  .SerializeToString()])
        floods.append(flood)

    reply = ask(context, endpoint, from_seq=1_500, limit=10)
    for flood in floods:
        flood.close(linger=0)
    server.close()

    assert [o.seq for o in reply.outputs] == list(range(1_500, 1_510))
    assert reply.status == engine_pb2.REPLAY_STATUS_OK
    assert not server.thread.is_alive()
    server.check()


def test_a_corrupt_wal_record_stops_the_replay_thread_and_check_raises(context: zmq.Context, tmp_path: Path) -> None:
    """A WAL record damaged after start makes the replay thread fail; check() (called by the service loop) raises,
    so the process stops instead of serving a broken history or silently losing its replay endpoint."""
    store = written_store(tmp_path / "wal", 50)
    _, path = list_segments(tmp_path / "wal")[-1]
    with open(path, "r+b") as file:  # flip a byte in the first record's payload
        file.seek(SEGMENT_HEADER.size + RECORD_HEADER.size + 3)
        byte = file.read(1)
        file.seek(-1, 1)
        file.write(bytes([byte[0] ^ 0xFF]))
    server, endpoint = start_server(context, store)
    client = context.socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(endpoint)
    client.send(engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=1, limit=10).SerializeToString())

    server.thread.join(timeout=REPLY_TIMEOUT_MS / 1_000)  # the thread ends when it fails
    client.close(linger=0)
    server.close()

    with pytest.raises(RuntimeError, match="replay thread failed"):
        server.check()
