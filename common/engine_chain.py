"""Sequence numbers and the SHA-256 hash chain over a matcher shard's outputs.

Every `EngineOutput` of a shard gets `seq` (dense from 1), `prev_hash` (the hash of output seq-1; 32 zero bytes
for seq 1) and `hash`, where

    hash = SHA-256(prev_hash || canonical(output))
    canonical(output) = output with `hash` set to b"" , .SerializeToString(deterministic=True)

`prev_hash`, `seq` and `shard_id` are inside the canonical bytes, so the chain commits to the position of each
output as well as to its content and to the whole history before it. Deterministic serialization writes fields
in field-number order (and would sort map keys; the message has no maps), so the same output always gives the
same bytes in this implementation; a verifier in another language must re-encode the same way, or hash the
bytes it received with field 4 removed.

Subscribers (common/engine_feed.py) recompute every hash and compare `prev_hash` with the hash they hold; a
mismatch halts them loudly. A fresh matcher replaying the same inputs must produce the same chain, hash for hash
(the matching core reads no clock and no randomness).

This module is pure (no I/O): the matcher seals outputs with it, and every feed subscriber (common/engine_feed.py:
UBSCore, Settlement, the gateway) verifies them with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from common.protowire import varint
from exchange.v1 import engine_pb2

HASH_BYTES = 32
GENESIS_HASH = bytes(HASH_BYTES)
# Wire tags of EngineOutput's first four fields (field number << 3 | wire type), in the order protobuf writes them.
SHARD_ID_TAG = b"\x08"  # 1, varint (absent when 0, as proto3 writes it)
SEQ_TAG = b"\x10"  # 2, varint
PREV_HASH_FIELD = b"\x1a\x20"  # 3, length-delimited, 32 bytes
HASH_FIELD = b"\x22\x20"  # 4, length-delimited, 32 bytes
FIRST_BODY_TAG_MIN = 5 << 3  # an unsealed output's bytes start with field 5 or later


def output_hash(output: engine_pb2.EngineOutput) -> bytes:
    """The chain hash of `output` (its `hash` field is ignored, and left as it was)."""
    stored = output.hash
    output.hash = b""
    try:
        canonical = output.SerializeToString(deterministic=True)
    finally:
        output.hash = stored
    return hashlib.sha256(output.prev_hash + canonical).digest()


def link_problem(output: engine_pb2.EngineOutput, *, shard_id: int, last_seq: int, last_hash: bytes) -> str:
    """ "" if `output` is the valid successor of (last_seq, last_hash) on `shard_id`, else what is wrong."""
    if output.shard_id != shard_id:
        return f"shard {output.shard_id} where {shard_id} was expected"
    if output.seq != last_seq + 1:
        return f"seq {output.seq} where {last_seq + 1} was expected"
    if output.prev_hash != last_hash:
        return f"seq {output.seq}: prev_hash {output.prev_hash.hex()[:16]}.. != held hash {last_hash.hex()[:16]}.."
    computed = output_hash(output)
    if output.hash != computed:
        return f"seq {output.seq}: hash {output.hash.hex()[:16]}.. != recomputed {computed.hex()[:16]}.."
    return ""


@dataclass(slots=True)
class Chain:
    """The head of one shard's chain: the last sealed (seq, hash). Restored from the snapshot and the WAL."""

    shard_id: int
    last_seq: int = 0
    last_hash: bytes = GENESIS_HASH

    def seal(self, output: engine_pb2.EngineOutput) -> engine_pb2.EngineOutput:
        """Give `output` the next seq, prev_hash and hash (in place), advance the head, and return it."""
        assert len(self.last_hash) == HASH_BYTES, len(self.last_hash)
        output.shard_id = self.shard_id
        output.seq = self.last_seq + 1
        output.prev_hash = self.last_hash
        output.hash = output_hash(output)
        self.last_seq = output.seq
        self.last_hash = output.hash
        return output

    def seal_serialized(self, output: engine_pb2.EngineOutput) -> tuple[int, bytes, bytes]:
        """Seal an unsealed `output` by bytes: (seq, hash, serialized sealed output), serializing it only once."""
        return self.seal_body(output.SerializeToString(deterministic=True))

    def seal_body(self, body: bytes) -> tuple[int, bytes, bytes]:
        """Seal the bytes of an unsealed output (fields 5..10): (seq, hash, serialized sealed output).

        The result is byte for byte `seal(output).SerializeToString(deterministic=True)` of the output `body`
        encodes: deterministic protobuf writes fields in number order, so the sealed bytes are the four header
        fields (shard_id, seq, prev_hash, hash) followed by the body, and the canonical bytes hashed are the same
        without the hash field. Subscribers verify exactly as before (link_problem re-serializes).
        """
        assert len(self.last_hash) == HASH_BYTES, len(self.last_hash)
        assert not body or body[0] >= FIRST_BODY_TAG_MIN, "output already carries shard_id, seq or a hash"
        seq = self.last_seq + 1
        shard = SHARD_ID_TAG + varint(self.shard_id) if self.shard_id else b""
        header = shard + SEQ_TAG + varint(seq) + PREV_HASH_FIELD + self.last_hash
        digest = hashlib.sha256(self.last_hash + header + body).digest()
        self.last_seq = seq
        self.last_hash = digest
        return seq, digest, header + HASH_FIELD + digest + body

    def advance(self, output: engine_pb2.EngineOutput) -> None:
        """Move the head over an output already sealed (WAL replay), checking that it links."""
        problem = link_problem(output, shard_id=self.shard_id, last_seq=self.last_seq, last_hash=self.last_hash)
        assert not problem, problem
        self.last_seq = output.seq
        self.last_hash = output.hash

