"""What the matcher must remember across restarts besides the books, and how it is rebuilt from snapshot + WAL.

`InputPositions` holds, per owned Kafka partition, the next offset to read and the highest UBSCore
`command_seq` applied (a command at or below it is a redelivery and is skipped). The snapshot holds these, the
chain head (seq, hash), the WAL lsn the state includes, the replay store's sparse seq -> lsn index, and the
engine's own snapshot, as one JSON document (deterministic: sorted keys, ints only).

Recovery (`recover`) costs what the snapshot does not cover: open the WAL (sealed segments from their index files,
only the last one scanned), load the newest good snapshot (books, positions, chain head, replay index), then replay
the WAL records after its lsn, and nothing before it. An output record is *re-executed*: its input command goes
through the engine again and the rebuilt output must equal the stored one byte for byte; a difference means the
core is not deterministic (or the WAL lies) and the process stops. A rejected-input record only moves the
partition's offset on. Progress is logged every RECOVERY_LOG_RECORDS records and reported to `on_progress`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.engine_chain import Chain
from common.errors import WalCorrupt
from common.snapshot import load_latest_snapshot
from common.wal import Wal
from exchange.v1 import engine_pb2
from matcher.codec import decode_command
from matcher.engine import Engine
from matcher.execution import execute
from matcher.replay import OUTPUT_RECORD, REJECTED_RECORD, SEQ, ReplayStore, parse_rejected, record_seq

STATE_VERSION = 2  # 2: adds "replay_index"; a version 1 snapshot is still read (the index is rebuilt from the WAL)
RECOVERY_LOG_RECORDS = 100_000

log = logging.getLogger(__name__)


@dataclass(slots=True)
class InputPositions:
    """Per partition: next Kafka offset to read (-1: from the beginning) and the last command_seq applied."""

    next_offsets: dict[int, int] = field(default_factory=dict)
    last_command_seqs: dict[int, int] = field(default_factory=dict)

    @classmethod
    def fresh(cls, partitions: tuple[int, ...]) -> InputPositions:
        """Nothing read yet on any owned partition."""
        return cls({p: -1 for p in partitions}, {p: 0 for p in partitions})

    def consumed(self, partition: int, offset: int) -> None:
        """Record that `offset` was read (whatever became of it)."""
        assert offset >= self.next_offsets.get(partition, -1), (partition, offset, self.next_offsets)
        self.next_offsets[partition] = offset + 1

    def is_new(self, partition: int, command_seq: int) -> bool:
        """True (and remembered) if `command_seq` is above the last one applied from `partition`."""
        if command_seq <= self.last_command_seqs.get(partition, 0):
            return False
        self.last_command_seqs[partition] = command_seq
        return True


def encode_state(
    *, lsn: int, chain: Chain, positions: InputPositions, engine: Engine, replay_index: list[tuple[int, int]]
) -> bytes:
    """The snapshot payload: JSON with sorted keys, so equal states give equal bytes."""
    document = {
        "replay_index": replay_index,
        "version": STATE_VERSION,
        "lsn": lsn,
        "shard_id": chain.shard_id,
        "last_seq": chain.last_seq,
        "last_hash": chain.last_hash.hex(),
        "next_offsets": {str(p): o for p, o in positions.next_offsets.items()},
        "last_command_seqs": {str(p): s for p, s in positions.last_command_seqs.items()},
        "engine": engine.snapshot(),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def decode_state(payload: bytes) -> dict[str, Any]:
    """The snapshot document (checked for version)."""
    document = json.loads(payload)
    assert document["version"] in (1, STATE_VERSION), document["version"]
    return document


@dataclass(slots=True)
class Recovered:
    """The result of `recover`: where everything stands after snapshot + WAL replay."""

    wal: Wal
    chain: Chain
    positions: InputPositions
    store: ReplayStore
    snapshot_lsn: int
    replayed_outputs: int


def recover(
    *,
    engine: Engine,
    wal_dir: Path,
    snapshot_dir: Path,
    shard_id: int,
    partitions: tuple[int, ...],
    segment_bytes_max: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> Recovered:
    """Restore `engine` and the shell state from the newest snapshot plus the WAL tail.

    `on_progress(records replayed, records to replay)` is called as the tail is replayed (metrics, logs).
    """
    wal = Wal.open(wal_dir, segment_bytes_max=segment_bytes_max, verify_sealed=False)
    log.info("WAL open: lsn %d..%d", wal.first_lsn, wal.last_lsn)
    chain = Chain(shard_id=shard_id)
    positions = InputPositions.fresh(partitions)
    snapshot = load_latest_snapshot(snapshot_dir)
    snapshot_lsn = 0
    document: dict[str, Any] = {"replay_index": []}
    if snapshot is not None:
        document = decode_state(snapshot.payload)
        assert document["shard_id"] == shard_id, (document["shard_id"], shard_id)
        snapshot_lsn = document["lsn"]
        engine.restore(document["engine"])
        chain.last_seq = document["last_seq"]
        chain.last_hash = bytes.fromhex(document["last_hash"])
        positions.next_offsets.update({int(p): o for p, o in document["next_offsets"].items()})
        positions.last_command_seqs.update({int(p): s for p, s in document["last_command_seqs"].items()})
        if wal.last_lsn == 0 and wal.first_lsn == 1:
            wal.start_at(snapshot_lsn + 1)
    if wal.first_lsn > snapshot_lsn + 1:
        raise WalCorrupt(f"WAL starts at lsn {wal.first_lsn} but the snapshot covers only up to {snapshot_lsn}")
    if wal.last_lsn < snapshot_lsn:
        raise WalCorrupt(f"WAL ends at lsn {wal.last_lsn} but the snapshot includes lsn {snapshot_lsn}")
    store = _restore_store(wal, snapshot_lsn, chain.last_seq, document.get("replay_index"))
    replayed = _replay_tail(engine, wal, snapshot_lsn, chain, positions, store, on_progress)
    log.info(
        "recovered shard %d: snapshot lsn %d, %d outputs replayed, seq %d, wal lsn %d..%d",
        shard_id,
        snapshot_lsn,
        replayed,
        chain.last_seq,
        wal.first_lsn,
        wal.last_lsn,
    )
    return Recovered(wal, chain, positions, store, snapshot_lsn, replayed)


def _restore_store(
    wal: Wal, snapshot_lsn: int, last_seq: int, replay_index: list[list[int]] | None
) -> ReplayStore:
    """The replay store as of the snapshot: its index from the snapshot (a version 1 snapshot: read from the WAL)."""
    store = ReplayStore(wal)
    if replay_index is None:
        log.info("snapshot without a replay index: reading WAL lsn %d..%d to build it", wal.first_lsn, snapshot_lsn)
        entries = []
        for record in wal.read(wal.first_lsn):
            if record.lsn > snapshot_lsn:
                break
            seq = record_seq(record.payload)
            if seq:
                entries.append((seq, record.lsn, None))
        store.remember_batch(entries)
        return store
    store.index = [(seq, lsn) for seq, lsn in replay_index]
    store.last_seq = last_seq
    store.forget_before_lsn(wal.first_lsn)
    return store


def _replay_tail(
    engine: Engine,
    wal: Wal,
    snapshot_lsn: int,
    chain: Chain,
    positions: InputPositions,
    store: ReplayStore,
    on_progress: Callable[[int, int], None] | None,
) -> int:
    replayed = 0
    records_total = wal.last_lsn - snapshot_lsn
    log.info("replaying %d WAL records after the snapshot (lsn %d..%d)", records_total, snapshot_lsn + 1, wal.last_lsn)
    for record in wal.read(snapshot_lsn + 1):
        done = record.lsn - snapshot_lsn
        if done % RECOVERY_LOG_RECORDS == 0:
            log.info("recovery: %d of %d WAL records replayed", done, records_total)
            if on_progress is not None:
                on_progress(done, records_total)
        kind = record.payload[:1]
        if kind == REJECTED_RECORD:
            partition, offset, _, _ = parse_rejected(record.payload)
            positions.consumed(partition, offset)
            continue
        assert kind == OUTPUT_RECORD, (record.lsn, kind)
        stored_bytes = record.payload[1 + SEQ.size :]
        stored = engine_pb2.EngineOutput()
        stored.ParseFromString(stored_bytes)
        message = stored.input.command
        partition = stored.input.kafka_partition
        positions.consumed(partition, stored.input.kafka_offset)
        assert positions.is_new(partition, message.command_seq), (record.lsn, message.command_seq)
        # Through the same guard as the live loop, so a command the core failed on fails identically here.
        offset = stored.input.kafka_offset
        executed = execute(engine, decode_command(message), message, partition=partition, offset=offset)
        _, _, rebuilt_bytes = chain.seal_body(executed.body)  # exactly as the live loop seals
        # Byte equality covers the hash, the chain link and every field: the core must be deterministic.
        assert rebuilt_bytes == stored_bytes, f"replay of lsn {record.lsn} (seq {stored.seq}) diverged from the WAL"
        store.remember(stored.seq, record.lsn, stored_bytes)
        replayed += 1
    if on_progress is not None:
        on_progress(records_total, records_total)
    return replayed
