"""Drop the rows of a turn that a later row of the same turn overwrites entirely (pure).

CQL keeps, per cell, the value with the highest write timestamp, and a row delete hides every cell of the row up to
its timestamp. So when a turn holds several writes of one row (a user's balance after each of its events, an order
after each of its fills, an open order inserted then deleted), an earlier write whose every column is written again
by later ones (or whose row is deleted later) changes nothing the database ends with: it is not sent. A row is only
ever dropped for writes of higher timestamp in the same batch of rows, never merged or re-stamped, so the cells the
database holds are exactly those it would hold had every row been written, and a replay still converges.

Only tables named in `row_keys` (their whole primary key) are looked at; the others pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter

from settlement.rows import Row


def drop_shadowed(rows: Sequence[Row], row_keys: Mapping[str, tuple[str, ...]]) -> list[Row]:
    """`rows` without those a later write (higher timestamp) of the same row covers; the order is kept."""
    key_of = {table: itemgetter(*names) for table, names in row_keys.items()}
    writes: dict[tuple[object, ...], list[int]] = {}
    for index, row in enumerate(rows):
        key = key_of.get(row.table)
        if key is not None:
            writes.setdefault((row.table, key(row.values)), []).append(index)
    dropped: set[int] = set()
    for indexes in writes.values():
        if len(indexes) > 1:
            dropped.update(_shadowed(rows, indexes))
    return [row for index, row in enumerate(rows) if index not in dropped] if dropped else list(rows)


def _shadowed(rows: Sequence[Row], indexes: list[int]) -> list[int]:
    """Of the writes `indexes` of one row: those covered by the writes of strictly higher timestamp."""
    shadowed: list[int] = []
    covered: set[str] = set()  # columns written at a higher timestamp than the writes still to be looked at
    deleted_above = False  # a row delete at a higher timestamp
    ordered = sorted(indexes, key=lambda index: rows[index].timestamp, reverse=True)
    position = 0
    while position < len(ordered):
        timestamp = rows[ordered[position]].timestamp
        same = [index for index in ordered[position:] if rows[index].timestamp == timestamp]
        for index in same:  # ties are never dropped for each other: CQL breaks them by value, not by order
            if deleted_above or (not rows[index].delete and covered.issuperset(rows[index].values)):
                shadowed.append(index)
        for index in same:
            if rows[index].delete:
                deleted_above = True
            else:
                covered.update(rows[index].values)
        position += len(same)
    return shadowed
