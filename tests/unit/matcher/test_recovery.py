"""Snapshot + WAL recovery and the replay store, without Kafka or sockets: the shell's persistence in isolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.engine_chain import Chain
from common.markets import load_catalog
from common.snapshot import write_snapshot
from common.wal import Wal
from exchange.v1 import common_pb2, engine_pb2, order_pb2
from matcher.codec import build_output, decode_command
from matcher.engine import Engine
from matcher.replay import (
    REPLAY_INDEX_STRIDE,
    ReplayStore,
    answer_request,
    output_record,
    parse_rejected,
    rejected_record,
)
from matcher.state import InputPositions, encode_state, recover

SHARD_ID = 1
PARTITIONS = (0, 1)


def command(seq: int) -> order_pb2.OrderCommand:
    """Alternating buys and sells on BTC_USDT around one price, so some trade."""
    side = common_pb2.SIDE_BUY if seq % 2 else common_pb2.SIDE_SELL
    return order_pb2.OrderCommand(
        command_seq=seq,
        place=order_pb2.InternalOrder(
            order_id=seq,
            user_id=seq % 7 + 1,
            symbol="BTC_USDT",
            side=side,
            order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=common_pb2.TIME_IN_FORCE_GTC,
            price_units=45_000_000_000 + (seq % 5) * 10_000,
            qty_units=10_000 * (seq % 3 + 1),
            ts_event_ns=1_000 + seq,
        ),
    )


class Shell:
    """The service's apply-and-log step, with the input position faked as (seq % 2, seq // 2)."""

    def __init__(self, wal_dir: Path, *, segment_bytes_max: int = 64 * 1024 * 1024) -> None:
        self.engine = Engine(load_catalog().markets.values())
        self.chain = Chain(shard_id=SHARD_ID)
        self.positions = InputPositions.fresh(PARTITIONS)
        self.wal = Wal.open(wal_dir, segment_bytes_max=segment_bytes_max)
        self.outputs: list[engine_pb2.EngineOutput] = []

    def apply(self, seqs: range) -> None:
        records = []
        for seq in seqs:
            message = command(seq)
            partition, offset = seq % 2, seq // 2
            self.positions.consumed(partition, offset)
            assert self.positions.is_new(partition, seq)
            result = self.engine.apply(decode_command(message))
            output = self.chain.seal(build_output(message, partition=partition, offset=offset, result=result))
            records.append(output_record(output.seq, output.SerializeToString(deterministic=True)))
            self.outputs.append(output)
        self.wal.append(records)


def recover_into(tmp_path: Path) -> tuple[Engine, object]:
    engine = Engine(load_catalog().markets.values())
    recovered = recover(
        engine=engine,
        wal_dir=tmp_path / "wal",
        snapshot_dir=tmp_path / "snapshots",
        shard_id=SHARD_ID,
        partitions=PARTITIONS,
        segment_bytes_max=4_096,
    )
    return engine, recovered


def test_recover_from_wal_only_rebuilds_books_chain_and_offsets(tmp_path: Path) -> None:
    """With no snapshot, every WAL output is re-executed and the head, offsets and books match the original."""
    shell = Shell(tmp_path / "wal")
    shell.apply(range(1, 41))

    engine, recovered = recover_into(tmp_path)

    assert (recovered.chain.last_seq, recovered.chain.last_hash) == (40, shell.chain.last_hash)
    assert recovered.positions.next_offsets == shell.positions.next_offsets
    assert recovered.positions.last_command_seqs == shell.positions.last_command_seqs
    assert engine.snapshot() == shell.engine.snapshot()
    assert recovered.replayed_outputs == 40


def test_recover_from_snapshot_plus_tail_equals_full_replay(tmp_path: Path) -> None:
    """A snapshot at lsn 25 plus the 15 records after it give the same state as replaying all 40."""
    shell = Shell(tmp_path / "wal")
    shell.apply(range(1, 26))
    payload = encode_state(
        lsn=25, chain=shell.chain, positions=shell.positions, engine=shell.engine, replay_index=[(1, 1)]
    )
    write_snapshot(tmp_path / "snapshots", 25, payload)
    shell.apply(range(26, 41))

    engine, recovered = recover_into(tmp_path)

    assert recovered.snapshot_lsn == 25
    assert recovered.replayed_outputs == 15
    assert recovered.chain.last_hash == shell.chain.last_hash
    assert engine.snapshot() == shell.engine.snapshot()


def test_recover_refuses_a_wal_that_diverges_from_the_core(tmp_path: Path) -> None:
    """If a stored output differs from what the core computes for its input, recovery stops (assertion)."""
    shell = Shell(tmp_path / "wal")
    shell.apply(range(1, 6))
    forged = engine_pb2.EngineOutput()
    forged.CopyFrom(shell.outputs[-1])
    forged.order_updates[0].filled_qty_units += 1
    shell.wal.close()
    # Rewrite the log with the forged last output, keeping its stored hash (a lie the replay must catch).
    wal_dir = tmp_path / "wal"
    for path in wal_dir.iterdir():
        path.unlink()
    wal = Wal.open(wal_dir)
    wal.append([output_record(o.seq, o.SerializeToString()) for o in [*shell.outputs[:-1], forged]])
    wal.close()

    with pytest.raises(AssertionError, match="diverged"):
        recover_into(tmp_path)


def test_rejected_input_record_moves_the_offset_on(tmp_path: Path) -> None:
    """A rejected-input WAL record is not an output, but its offset counts as consumed after recovery."""
    wal = Wal.open(tmp_path / "wal")
    wal.append([rejected_record(1, 7, "UNDECODABLE", b"\xff\xfe")])
    wal.close()

    _, recovered = recover_into(tmp_path)

    assert parse_rejected(rejected_record(1, 7, "UNDECODABLE", b"\xff\xfe")) == (1, 7, "UNDECODABLE", b"\xff\xfe")
    assert recovered.positions.next_offsets == {0: -1, 1: 8}
    assert recovered.chain.last_seq == 0


def test_replay_store_serves_same_bytes_from_ring_and_from_wal(tmp_path: Path) -> None:
    """Outputs older than the ring come from the WAL through the sparse index; both paths return identical bytes."""
    shell = Shell(tmp_path / "wal")
    total = REPLAY_INDEX_STRIDE * 15 + 7
    shell.apply(range(1, total + 1))
    _, recovered = recover_into(tmp_path)
    store: ReplayStore = recovered.store
    cold = ReplayStore(store.wal)
    for record in store.wal.read(1):
        cold.remember(record.lsn, record.lsn, None)  # one output per record here, so seq == lsn

    from_ring = store.outputs_from(300, 50)
    from_wal = cold.outputs_from(300, 50)

    assert from_ring == from_wal
    assert [engine_pb2.EngineOutput.FromString(data).seq for data in from_wal] == list(range(300, 350))
    assert store.outputs_from(total + 1, 10) == []


def ask(store: ReplayStore, request: engine_pb2.ReplayRequest | bytes) -> engine_pb2.ReplayResponse:
    """The server's answer to `request`, parsed."""
    request_bytes = request if isinstance(request, bytes) else request.SerializeToString()
    return engine_pb2.ReplayResponse.FromString(answer_request(store, SHARD_ID, request_bytes))


def test_replay_server_answer_is_a_valid_replay_response(tmp_path: Path) -> None:
    """The server's hand-concatenated reply bytes parse as a ReplayResponse with the outputs, last_seq and OK."""
    shell = Shell(tmp_path / "wal")
    shell.apply(range(1, 11))
    _, recovered = recover_into(tmp_path)

    reply = ask(recovered.store, engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=4, limit=3))

    assert [o.seq for o in reply.outputs] == [4, 5, 6]
    assert list(reply.outputs) == shell.outputs[3:6]
    assert (reply.last_seq, reply.status) == (10, engine_pb2.REPLAY_STATUS_OK)


def test_replay_empty_answers_say_why(tmp_path: Path) -> None:
    """Each reason for an empty answer has its own status (and a detail for the operator), never a bare empty list."""
    shell = Shell(tmp_path / "wal")
    shell.apply(range(1, 11))
    _, recovered = recover_into(tmp_path)
    store = recovered.store

    def status(request: engine_pb2.ReplayRequest | bytes) -> tuple[str, int, int]:
        reply = ask(store, request)
        return engine_pb2.ReplayStatus.Name(reply.status), len(reply.outputs), reply.last_seq

    wrong_shard = ask(store, engine_pb2.ReplayRequest(shard_id=9, from_seq=1, limit=3))
    limit_zero = engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=1, limit=0)
    assert status(limit_zero) == ("REPLAY_STATUS_LIMIT_ZERO", 0, 10)
    assert (wrong_shard.status, len(wrong_shard.outputs)) == (engine_pb2.REPLAY_STATUS_WRONG_SHARD, 0)
    assert f"serves shard {SHARD_ID}" in wrong_shard.detail
    assert status(b"\xff\xff\xff garbage")[:2] == ("REPLAY_STATUS_MALFORMED_REQUEST", 0)
    assert status(engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=0, limit=5))[:2] == (
        "REPLAY_STATUS_MALFORMED_REQUEST", 0
    )
    assert status(bytes(1_000))[:2] == ("REPLAY_STATUS_REQUEST_TOO_LARGE", 0)
    beyond = engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=11, limit=5)
    assert status(beyond) == ("REPLAY_STATUS_BEYOND_HEAD", 0, 10)


def test_replay_of_truncated_history_answers_history_gone(tmp_path: Path) -> None:
    """After the WAL segments holding the oldest outputs are deleted, asking for them answers HISTORY_GONE with the
    oldest seq still kept, and every output still on disk, from the very first one kept, is still served."""
    shell = Shell(tmp_path / "wal", segment_bytes_max=16_384)
    for start in range(1, 601, 50):
        shell.apply(range(start, start + 50))
    shell.wal.close()
    _, recovered = recover_into(tmp_path)
    store: ReplayStore = recovered.store
    cold = ReplayStore(store.wal)  # no ring: everything is read from the WAL
    for record in store.wal.read(1):
        cold.remember(record.lsn, record.lsn, None)
    assert store.wal.truncate_before(400) > 0
    cold.forget_before_lsn(store.wal.first_lsn)

    gone = ask(cold, engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=1, limit=5))
    kept = ask(cold, engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=cold.oldest_seq, limit=5))

    assert (gone.status, len(gone.outputs)) == (engine_pb2.REPLAY_STATUS_HISTORY_GONE, 0)
    assert f"oldest seq kept is {cold.oldest_seq}" in gone.detail
    first_kept = next(record.lsn for record in store.wal.read(store.wal.first_lsn))  # seq == lsn in this shell
    assert cold.oldest_seq == first_kept > 1
    assert kept.status == engine_pb2.REPLAY_STATUS_OK
    assert [o.seq for o in kept.outputs] == list(range(cold.oldest_seq, cold.oldest_seq + 5))


def test_recover_from_a_version_1_snapshot_rebuilds_the_replay_index_from_the_wal(tmp_path: Path) -> None:
    """A snapshot written before the replay index was kept in it (version 1) still recovers: the index is rebuilt by
    reading the WAL up to the snapshot, so old outputs are still served."""
    shell = Shell(tmp_path / "wal")
    shell.apply(range(1, 301))
    document = json.loads(
        encode_state(lsn=300, chain=shell.chain, positions=shell.positions, engine=shell.engine, replay_index=[])
    )
    del document["replay_index"]
    document["version"] = 1
    write_snapshot(tmp_path / "snapshots", 300, json.dumps(document, sort_keys=True).encode())
    shell.wal.close()

    _, recovered = recover_into(tmp_path)
    reply = ask(recovered.store, engine_pb2.ReplayRequest(shard_id=SHARD_ID, from_seq=5, limit=3))

    assert recovered.chain.last_seq == 300
    assert recovered.store.oldest_seq == 1
    assert list(reply.outputs) == shell.outputs[4:7]
