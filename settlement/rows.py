"""`Row`: one CQL write a projection asks for (pure data; settlement/writer.py turns rows into batches)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Row:
    """Upsert `values` into `table` (or, with `delete`, delete the row its key columns name) at `timestamp`.

    `values` holds every key column of the table and the other columns to set; columns left out keep what
    they had (CQL upserts are per column). `timestamp` is the `USING TIMESTAMP` of the write (settlement/keys.py).
    """

    table: str
    values: dict[str, Any]
    timestamp: int
    delete: bool = False
