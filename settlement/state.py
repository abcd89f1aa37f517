"""What Settlement's recovery restores, and the rows that record it.

- Per matcher shard, `chain_state` holds the last persisted `(seq, hash)`; the feed resumes after it (gap fill from
  the matcher's replay endpoint, every link verified). It is written only after the rows of every output up to
  that seq were acknowledged, so a crash re-writes at most one loop turn's rows (idempotent: same cells, same
  timestamps).
- Per `balance.events` partition `chain_state` records the next offset (`kafka:<topic>:<partition>`), written after
  the rows of every event before it were acknowledged; an assigned partition resumes there (DESIGN.md: from the
  service's own state, not from group commits it cannot tie to it). The consumer group's commit, made after it,
  only serves a partition Settlement never persisted from, and operators' lag tools.
- `CreatedMemory` remembers when open orders were created, to key a maker's later updates in
  `orders_by_user_time`; bounded (LRU), and a miss is read back from the `orders` table.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from cassandra.cluster import Session

from common.engine_chain import GENESIS_HASH
from settlement import keys
from settlement.projection import engine_source
from settlement.rows import Row

CREATED_MEMORY_MAX = 1_000_000


def kafka_source(topic: str, partition: int) -> str:
    """The `chain_state.source` of a Kafka partition."""
    return f"kafka:{topic}:{partition}"


def load_chain_head(session: Session, shard_id: int) -> tuple[int, bytes]:
    """(last persisted seq, its hash) of `shard_id`; (0, genesis) if nothing was persisted yet."""
    row = session.execute("SELECT last_seq, last_hash FROM chain_state WHERE source = %s",
                          (engine_source(shard_id),)).one()
    if row is None or row.last_seq is None:
        return 0, GENESIS_HASH
    return row.last_seq, row.last_hash


def load_offsets(session: Session, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """partition -> next offset recorded in chain_state, for those of `partitions` Settlement persisted from."""
    statement = session.prepare(f"SELECT next_offset FROM {session.keyspace}.chain_state WHERE source = ?")
    found: dict[int, int] = {}
    for partition in partitions:
        row = session.execute(statement, (kafka_source(topic, partition),)).one()
        if row is not None and row.next_offset is not None:
            found[partition] = row.next_offset
    return found


def chain_row(shard_id: int, seq: int, hash_: bytes, ts_event_ns: int) -> Row:
    """The chain_state row recording that every output of `shard_id` up to `seq` is persisted."""
    return Row("chain_state", {"source": engine_source(shard_id), "last_seq": seq, "last_hash": hash_,
                               "updated_ns": ts_event_ns}, keys.output_timestamp(seq))


def offset_row(topic: str, partition: int, next_offset: int) -> Row:
    """The chain_state row mirroring a committed Kafka position."""
    return Row("chain_state", {"source": kafka_source(topic, partition), "next_offset": next_offset}, next_offset)


class CreatedMemory:
    """order_id -> created_ns of orders still open, most recently used last, at most `entries_max`."""

    def __init__(self, entries_max: int = CREATED_MEMORY_MAX) -> None:
        self.entries: OrderedDict[int, int] = OrderedDict()
        self.entries_max = entries_max

    def get(self, order_id: int) -> int | None:
        """The remembered creation time, or None."""
        created = self.entries.get(order_id)
        if created is not None:
            self.entries.move_to_end(order_id)
        return created

    def remember(self, order_id: int, created_ns: int) -> None:
        """Remember an open order's creation time (evicting the least recently used beyond the bound)."""
        self.entries[order_id] = created_ns
        self.entries.move_to_end(order_id)
        while len(self.entries) > self.entries_max:
            self.entries.popitem(last=False)

    def forget(self, order_ids: Iterable[int]) -> None:
        """Drop orders that reached a final state."""
        for order_id in order_ids:
            self.entries.pop(order_id, None)


def read_created(session: Session, order_ids: Iterable[int]) -> dict[int, int]:
    """created_ns of the given orders from the `orders` table (one single-partition read per id block)."""
    by_block: dict[int, list[int]] = {}
    for order_id in order_ids:
        by_block.setdefault(keys.id_block(order_id), []).append(order_id)
    statement = session.prepare(f"SELECT order_id, created_ns FROM {session.keyspace}.orders "
                                "WHERE order_block = ? AND order_id IN ?")  # the driver caches prepared statements
    found: dict[int, int] = {}
    for block, ids in sorted(by_block.items()):
        rows = session.execute(statement, (block, sorted(ids)))
        found.update({row.order_id: row.created_ns for row in rows if row.created_ns is not None})
    return found
