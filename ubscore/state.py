"""What UBSCore writes to its WAL, what its snapshot holds, and how both rebuild the state on start.

WAL records (payloads of common/wal.py records; the first byte says the kind):

    T | partition u32 | offset u64 | BalanceRequest bytes     a transfer from Kafka, applied
    X | partition u32 | offset u64 | reason ascii             a malformed Kafka record, set aside (offset moves on)
    A | UbscoreRequest bytes                                  an Aeron request that reached the core
    F | EngineOutput bytes                                    a verified matcher output (shard and seq inside)
    D | event_id u64 | command_seq u64                        Kafka acknowledged every event and command up to these

Aeron requests refused before the core (busy, past their deadline, undecodable) change nothing and are not logged.

The snapshot (common/snapshot.py, JSON with sorted keys) holds the core's state (balances, open orders, counters,
idempotency windows, feed positions), the next Kafka offset per owned partition, the delivery watermarks, and the
lsn it includes. It is only taken when Kafka has acknowledged everything produced, so every output the WAL tail
regenerates is above the snapshot's watermarks.

Recovery (`recover`): load the newest good snapshot, then re-apply every WAL record after its lsn through the same
core methods (the core is deterministic, so the same effects come out, numbered the same). Effects above the last
durable watermarks are returned as `resend`: the service produces them again before it takes any new input.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import WalCorrupt
from common.snapshot import load_latest_snapshot
from common.tracing import output_traceparent
from common.wal import Wal
from exchange.v1 import engine_pb2
from ubscore.codec import decode_output, decode_request, decode_transfer
from ubscore.commands import PlaceRequest
from ubscore.core import UbsCore
from ubscore.events import BalanceEvent, CancelCommand, Effects, PlaceCommand, with_traceparent

TRANSFER_RECORD, SET_ASIDE_RECORD, REQUEST_RECORD, OUTPUT_RECORD, DELIVERED_RECORD = b"T", b"X", b"A", b"F", b"D"
POSITION = struct.Struct("<IQ")
DELIVERED = struct.Struct("<QQ")
STATE_VERSION = 1

log = logging.getLogger(__name__)


def transfer_record(partition: int, offset: int, raw: bytes) -> bytes:
    """WAL payload of an applied transfer."""
    return TRANSFER_RECORD + POSITION.pack(partition, offset) + raw


def set_aside_record(partition: int, offset: int, reason: str) -> bytes:
    """WAL payload of a malformed Kafka record that was skipped."""
    return SET_ASIDE_RECORD + POSITION.pack(partition, offset) + reason.encode("ascii", "replace")


def delivered_record(event_id: int, command_seq: int) -> bytes:
    """WAL payload of the delivery watermarks."""
    return DELIVERED_RECORD + DELIVERED.pack(event_id, command_seq)


@dataclass(slots=True)
class Positions:
    """Next offset to read per owned partition of the operations topic (-1: from the beginning)."""

    next_offsets: dict[int, int] = field(default_factory=dict)

    def consumed(self, partition: int, offset: int) -> None:
        """Record that `offset` was read (whatever became of it)."""
        assert offset >= self.next_offsets.get(partition, -1), (partition, offset, self.next_offsets)
        self.next_offsets[partition] = offset + 1


def apply_record(core: UbsCore, positions: Positions, payload: bytes) -> Effects:
    """Re-apply one WAL record to the core (recovery, dumps); D records change nothing here."""
    kind = payload[:1]
    if kind in (TRANSFER_RECORD, SET_ASIDE_RECORD):
        partition, offset = POSITION.unpack_from(payload, 1)
        positions.consumed(partition, offset)
        if kind == SET_ASIDE_RECORD:
            return Effects(None, [], [])
        transfer = decode_transfer(payload[1 + POSITION.size :])
        return with_traceparent(core.transfer(transfer), transfer.traceparent)
    if kind == REQUEST_RECORD:
        _, request = decode_request(payload[1:])
        effects = core.place(request) if type(request) is PlaceRequest else core.cancel(request)
        return with_traceparent(effects, request.traceparent)
    if kind == OUTPUT_RECORD:
        output = engine_pb2.EngineOutput.FromString(payload[1:])
        return with_traceparent(core.apply_output(decode_output(output)), output_traceparent(output))
    assert kind == DELIVERED_RECORD, kind
    return Effects(None, [], [])


def encode_state(*, lsn: int, core: UbsCore, positions: Positions, delivered: tuple[int, int]) -> bytes:
    """The snapshot payload: JSON with sorted keys, so equal states give equal bytes."""
    document = {
        "version": STATE_VERSION,
        "lsn": lsn,
        "core": core.snapshot(),
        "next_offsets": {str(p): o for p, o in positions.next_offsets.items()},
        "delivered": list(delivered),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass(slots=True)
class Recovered:
    """Where everything stands after snapshot + WAL replay, and what must be produced again."""

    wal: Wal
    positions: Positions
    delivered: tuple[int, int]
    snapshot_lsn: int
    replayed_records: int
    resend_events: list[BalanceEvent]
    resend_commands: list[PlaceCommand | CancelCommand]


def load_snapshot_into(core: UbsCore, positions: Positions, snapshot_dir: Path) -> tuple[int, tuple[int, int]]:
    """Restore the newest good snapshot (if any); its (lsn, delivery watermarks)."""
    snapshot = load_latest_snapshot(snapshot_dir)
    if snapshot is None:
        return 0, (0, 0)
    document: dict[str, Any] = json.loads(snapshot.payload)
    assert document["version"] == STATE_VERSION, document["version"]
    core.restore(document["core"])
    positions.next_offsets.update({int(p): o for p, o in document["next_offsets"].items()})
    event_id, command_seq = document["delivered"]
    return document["lsn"], (event_id, command_seq)


def recover(*, core: UbsCore, wal_dir: Path, snapshot_dir: Path, partitions: tuple[int, ...],
            segment_bytes_max: int) -> Recovered:  # fmt: skip
    """Restore `core` and the shell state from the newest snapshot plus the WAL tail."""
    wal = Wal.open(wal_dir, segment_bytes_max=segment_bytes_max)
    positions = Positions({p: -1 for p in partitions})
    snapshot_lsn, delivered = load_snapshot_into(core, positions, snapshot_dir)
    if snapshot_lsn and wal.last_lsn == 0 and wal.first_lsn == 1:
        wal.start_at(snapshot_lsn + 1)
    if wal.first_lsn > snapshot_lsn + 1:
        raise WalCorrupt(f"WAL starts at lsn {wal.first_lsn} but the snapshot covers only up to {snapshot_lsn}")
    if wal.last_lsn < snapshot_lsn:
        raise WalCorrupt(f"WAL ends at lsn {wal.last_lsn} but the snapshot includes lsn {snapshot_lsn}")
    events: list[BalanceEvent] = []
    commands: list[PlaceCommand | CancelCommand] = []
    replayed = 0
    for record in wal.read(snapshot_lsn + 1):
        if record.payload[:1] == DELIVERED_RECORD:
            delivered = DELIVERED.unpack_from(record.payload, 1)
        effects = apply_record(core, positions, record.payload)
        events.extend(effects.events)
        commands.extend(effects.commands)
        replayed += 1
    resend_events = [event for event in events if event.event_id > delivered[0]]
    resend_commands = [command for command in commands if command.command_seq > delivered[1]]
    log.info(
        "recovered: snapshot lsn %d, %d WAL records replayed (lsn %d..%d), %d events and %d commands to re-send",
        snapshot_lsn, replayed, wal.first_lsn, wal.last_lsn, len(resend_events), len(resend_commands),
    )  # fmt: skip
    return Recovered(wal, positions, tuple(delivered), snapshot_lsn, replayed, resend_events, resend_commands)
