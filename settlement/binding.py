"""Rows to the bytes of a BATCH message, without the driver's per-value paths.

The driver spends about 1 µs per value binding a prepared statement (`PreparedStatement.bind` builds a column
descriptor and asks the column encryption policy for every cell, then calls the type's serializer) and another
~0.1 µs writing it into the message (`write_value`: a length, then the bytes, two calls each): together about half
of Settlement's client CPU (tools/bench/settlement_service). Here a `Binder` resolves once, per prepared statement,
the serializer of each bind marker from its CQL type (the functions the driver's `cqltypes` use: big-endian int64 /
int32, UTF-8, the blob itself, one byte for a boolean), and encodes a row straight into its entry of a BATCH body
(`[kind 1][short id length][id][short value count]` then `[int length][bytes]` per value, protocol v3-v5): one
serializer call per value, no intermediate objects.

`EncodedBatch` collects such entries and routes itself by its first row, as `BatchStatement.add` does with a bound
statement; `FramedBatchProtocolHandler`, the session's `client_protocol_handler` (the driver's documented hook for
encoding requests), writes them as they are and leaves every other message to the driver. The frames on the wire
are byte for byte the driver's own (`tests/integration/settlement/test_settlement_binding.py` compares them for a
row of every table).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cassandra.protocol import BatchMessage, ProtocolHandler, write_short
from cassandra.query import BatchStatement, PreparedStatement

Encoder = Callable[[Any], bytes]  # a value to its `[int length][bytes]`

TIMESTAMP_MARKER = "[timestamp]"  # the server's name for the `USING TIMESTAMP ?` marker
_INT32 = struct.Struct(">i").pack
_INT64 = struct.Struct(">q").pack
_SIZED_INT64 = struct.Struct(">iq").pack
_SIZED_INT32 = struct.Struct(">ii").pack
_SIZED_INT8 = struct.Struct(">ib").pack
_SHORT = struct.Struct(">H").pack


def _sized_text(value: str) -> bytes:
    data = value.encode()
    return _INT32(len(data)) + data


def _sized_blob(value: bytes) -> bytes:
    return _INT32(len(value)) + bytes(value)


_ENCODERS: dict[str, Encoder] = {
    "bigint": lambda value: _SIZED_INT64(8, value),
    "counter": lambda value: _SIZED_INT64(8, value),
    "int": lambda value: _SIZED_INT32(4, value),
    "boolean": lambda value: _SIZED_INT8(1, value),
    "text": _sized_text,
    "varchar": _sized_text,
    "blob": _sized_blob,
}


def _encoder(cql_type: Any, protocol_version: int) -> Encoder:
    """The `[int length][bytes]` serializer of one bind marker: ours for the plain types, else the driver's."""
    encoder = _ENCODERS.get(getattr(cql_type, "typename", ""))
    if encoder is not None:
        return encoder
    return lambda value: _sized_blob(cql_type.serialize(value, protocol_version))


@dataclass(frozen=True, slots=True)
class Binder:
    """A prepared write: its BATCH entry header and, for each bind marker, its column and serializer."""

    statement: PreparedStatement
    header: bytes  # [kind 1 = prepared][short id length][id][short value count]
    columns: tuple[tuple[str, Encoder], ...]  # every marker but the write timestamp, in order
    timestamp_index: int  # where the `USING TIMESTAMP ?` marker sits among the markers
    routing: tuple[tuple[str, Encoder], ...]  # the partition key columns, in key order
    keyspace: str
    markers: int
    framing_bytes: int  # bytes of an entry that frame the values (header, lengths): the rest are the values

    @classmethod
    def of(cls, statement: PreparedStatement) -> Binder:
        """The binder of a statement with one `USING TIMESTAMP ?` marker (named `[timestamp]` by the server).
        Settlement's session has no column encryption (that would need the driver's bind)."""
        assert statement.column_encryption_policy is None
        markers = statement.column_metadata
        names = [marker.name for marker in markers]
        assert names.count(TIMESTAMP_MARKER) == 1, names
        encoders = [_encoder(marker.type, statement.protocol_version) for marker in markers]
        query_id = statement.query_id
        header = b"\x01" + _SHORT(len(query_id)) + query_id + _SHORT(len(markers))
        return cls(
            statement=statement,
            header=header,
            columns=tuple((name, encoder) for name, encoder in zip(names, encoders, strict=True)
                          if name != TIMESTAMP_MARKER),
            timestamp_index=names.index(TIMESTAMP_MARKER),
            routing=tuple((names[index], encoders[index]) for index in statement.routing_key_indexes or ()),
            keyspace=markers[0].keyspace_name,
            markers=len(markers),
            framing_bytes=len(header) + 4 * len(markers),
        )

    def encode(self, values: Mapping[str, Any], timestamp: int) -> bytes:
        """The row's entry in a BATCH body: each column's value from `values`, and the write timestamp. A value of
        None is refused (TypeError): Settlement writes no nulls (a left-out column keeps its cell instead)."""
        parts = [self.header]
        parts += [encode(values[name]) for name, encode in self.columns]
        parts.insert(1 + self.timestamp_index, _SIZED_INT64(8, timestamp))
        return b"".join(parts)

    def routing_key(self, values: Mapping[str, Any]) -> bytes | None:
        """The row's partition key bytes, composed as the driver composes them (token-aware routing)."""
        if not self.routing:
            return None
        keys = [encode(values[name])[4:] for name, encode in self.routing]  # without the length
        if len(keys) == 1:
            return keys[0]
        return b"".join(_SHORT(len(key)) + key + b"\x00" for key in keys)


class FramedRows(list[bytes]):
    """The entries of an EncodedBatch, already in wire format (FramedBatchProtocolHandler writes them)."""


class EncodedBatch(BatchStatement):
    """A BatchStatement of rows encoded by Binders (send it on a session whose client_protocol_handler is
    FramedBatchProtocolHandler: `use_framed_batches`)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._statements_and_parameters = FramedRows()

    def add_row(self, binder: Binder, values: Mapping[str, Any], entry: bytes) -> None:
        """Add one row's entry (`binder.encode(values, ...)`); the first row routes the batch (as `add` does)."""
        if self.routing_key is None:
            routing_key = binder.routing_key(values)
            if routing_key:
                self.routing_key = routing_key
                self.keyspace = binder.keyspace
        if len(self._statements_and_parameters) >= 0xFFFF:
            raise ValueError("a batch holds at most 65535 statements")
        self._statements_and_parameters.append(entry)


class _FramedBatchMessage(BatchMessage):
    def send_body(self, f: io.BytesIO, protocol_version: int, protocol_features: object = None) -> None:
        # What follows the statements (consistency, flags, keyspace) is written by the driver: an empty batch's body
        # is [type][short 0][the rest].
        empty = io.BytesIO()
        BatchMessage(self.batch_type, (), self.consistency_level, self.serial_consistency_level, self.timestamp,
                     self.keyspace).send_body(empty, protocol_version, protocol_features)
        body = empty.getvalue()
        f.write(body[:1])
        write_short(f, len(self.queries))
        f.write(b"".join(self.queries))
        f.write(body[3:])


class FramedBatchProtocolHandler(ProtocolHandler):  # type: ignore[misc,valid-type]
    """The driver's protocol handler, except that it writes an EncodedBatch's pre-encoded entries as they are."""

    @classmethod
    def encode_message(cls, msg: Any, stream_id: int, protocol_version: int, compressor: Any,
                       allow_beta_protocol_version: bool, protocol_features: Any) -> bytes:
        """Encode one request frame (see cassandra.protocol.ProtocolHandler.encode_message)."""
        if type(msg) is BatchMessage and isinstance(msg.queries, FramedRows):
            framed = _FramedBatchMessage(msg.batch_type, msg.queries, msg.consistency_level,
                                         msg.serial_consistency_level, msg.timestamp, msg.keyspace)
            framed.tracing = msg.tracing
            framed.custom_payload = msg.custom_payload
            msg = framed
        return super().encode_message(msg, stream_id, protocol_version, compressor,  # type: ignore[no-any-return]
                                      allow_beta_protocol_version, protocol_features)


def use_framed_batches(session: Any) -> None:
    """Let `session` send EncodedBatches (its other requests are encoded by the driver as before)."""
    handler = session.client_protocol_handler
    if handler is not FramedBatchProtocolHandler:
        assert handler is ProtocolHandler, f"{handler}: a custom protocol handler already (column encryption?)"
        session.client_protocol_handler = FramedBatchProtocolHandler
