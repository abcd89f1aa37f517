"""Row values to the bytes a prepared statement sends, without the driver's per-value bind path.

The driver's `PreparedStatement.bind` costs about 1 µs per value (it builds a column descriptor and asks the column
encryption policy for every cell, then calls the type's serializer), which was ~40 % of Settlement's client CPU
(tools/bench/settlement_service). A `Binder` resolves once, per prepared statement, the serializer of each bind
marker from its CQL type (the same functions the driver's `cqltypes` call: big-endian int64 / int32, UTF-8, the
blob itself, one byte for a boolean), then encodes a row with one call per value. `EncodedBatch.add_encoded` puts
the result in an UNLOGGED batch exactly where `BatchStatement.add(bound_statement)` puts a bound statement's values,
and routes the batch by its first row as `add` does: the bytes on the wire are the same
(`tests/unit/settlement/test_binding.py` compares them with the driver's own, statement by statement).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cassandra.query import BatchStatement, PreparedStatement

Encoder = Callable[[Any], bytes]

_INT64 = struct.Struct(">q").pack
_INT32 = struct.Struct(">i").pack
_INT8 = struct.Struct(">b").pack
TIMESTAMP_MARKER = "[timestamp]"  # the server's name for the `USING TIMESTAMP ?` marker
_ENCODERS: dict[str, Encoder] = {
    "bigint": _INT64,
    "counter": _INT64,
    "int": _INT32,
    "text": str.encode,  # UTF-8
    "varchar": str.encode,
    "boolean": _INT8,
    "blob": bytes,
}


def _encoder(cql_type: Any, protocol_version: int) -> Encoder:
    """The serializer of one bind marker: ours for the plain types, the driver's for any other."""
    encoder = _ENCODERS.get(getattr(cql_type, "typename", ""))
    if encoder is not None:
        return encoder
    return lambda value: cql_type.serialize(value, protocol_version)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Binder:
    """A prepared write with, for each bind marker but the write timestamp, its column and serializer."""

    statement: PreparedStatement
    columns: tuple[tuple[str, Encoder], ...]  # (column name, serializer) of each marker, the timestamp's left out
    timestamp_index: int  # where the `USING TIMESTAMP ?` marker sits among the markers
    routing_indexes: tuple[int, ...]
    keyspace: str | None

    @classmethod
    def of(cls, statement: PreparedStatement) -> Binder:
        """The binder of a statement with one `USING TIMESTAMP ?` marker (named `[timestamp]` by the server).
        Settlement's session has no column encryption (that would need the driver's bind)."""
        assert statement.column_encryption_policy is None
        markers = statement.column_metadata
        names = [marker.name for marker in markers]
        assert names.count(TIMESTAMP_MARKER) == 1, names
        return cls(
            statement=statement,
            columns=tuple((marker.name, _encoder(marker.type, statement.protocol_version))
                          for marker in markers if marker.name != TIMESTAMP_MARKER),
            timestamp_index=names.index(TIMESTAMP_MARKER),
            routing_indexes=tuple(statement.routing_key_indexes or ()),
            keyspace=markers[0].keyspace_name,
        )

    def encode(self, values: Mapping[str, Any], timestamp: int) -> list[bytes]:
        """The bytes of every marker in order: each column's value from `values`, and the write timestamp. A value
        of None is refused (TypeError): Settlement writes no nulls (a left-out column keeps its cell instead)."""
        encoded = [encode(values[name]) for name, encode in self.columns]
        encoded.insert(self.timestamp_index, _INT64(timestamp))
        return encoded

    def routing_key(self, encoded: Sequence[bytes]) -> bytes | None:
        """The partition key bytes of an encoded row, composed as the driver composes them (token-aware routing)."""
        indexes = self.routing_indexes
        if not indexes:
            return None
        if len(indexes) == 1:
            return encoded[indexes[0]]
        return b"".join(struct.pack(f">H{len(encoded[index])}sB", len(encoded[index]), encoded[index], 0)
                        for index in indexes)


class EncodedBatch(BatchStatement):
    """A BatchStatement that also takes rows encoded by a Binder."""

    def add_encoded(self, binder: Binder, encoded: list[bytes]) -> None:
        """Add one encoded row; the first row with a routing key routes the batch (as `add` does)."""
        if self.routing_key is None and binder.keyspace:
            routing_key = binder.routing_key(encoded)
            if routing_key:
                self.routing_key = routing_key
                self.keyspace = binder.keyspace
        self._add_statement_and_params(True, binder.statement.query_id, encoded)
