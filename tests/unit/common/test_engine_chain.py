"""Hash chain: sealing gives dense seqs and linked hashes; any change to any field breaks verification."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from common.engine_chain import GENESIS_HASH, Chain, link_problem, output_hash
from exchange.v1 import engine_pb2


def make_output(order_id: int) -> engine_pb2.EngineOutput:
    output = engine_pb2.EngineOutput(ts_event_ns=1_700_000_000_000_000_000 + order_id)
    output.input.command.command_seq = order_id
    output.input.command.place.order_id = order_id
    output.input.command.place.symbol = "BTC_USDT"
    output.order_updates.add(order_id=order_id, symbol="BTC_USDT", status=1)
    return output


def test_seal_assigns_dense_seq_and_links_prev_hash() -> None:
    """Three sealed outputs get seq 1, 2, 3; each prev_hash is the hash before it, the first is 32 zero bytes."""
    chain = Chain(shard_id=7)

    outputs = [chain.seal(make_output(order_id)) for order_id in (1, 2, 3)]

    assert [output.seq for output in outputs] == [1, 2, 3]
    assert outputs[0].prev_hash == GENESIS_HASH
    assert outputs[1].prev_hash == outputs[0].hash
    assert outputs[2].prev_hash == outputs[1].hash
    assert (chain.last_seq, chain.last_hash) == (3, outputs[2].hash)
    assert all(output.shard_id == 7 for output in outputs)


def test_hash_is_sha256_of_prev_hash_and_canonical_bytes_without_hash() -> None:
    """The documented formula, computed by hand, gives the sealed hash."""
    output = Chain(shard_id=0).seal(make_output(5))
    cleared = engine_pb2.EngineOutput()
    cleared.CopyFrom(output)
    cleared.hash = b""

    expected = hashlib.sha256(output.prev_hash + cleared.SerializeToString(deterministic=True)).digest()

    assert output.hash == expected
    assert output_hash(output) == expected


def test_same_outputs_give_same_chain_in_two_chains() -> None:
    """Determinism: two chains sealing equal outputs produce identical hashes."""
    first, second = Chain(shard_id=1), Chain(shard_id=1)

    hashes_first = [first.seal(make_output(order_id)).hash for order_id in range(1, 20)]
    hashes_second = [second.seal(make_output(order_id)).hash for order_id in range(1, 20)]

    assert hashes_first == hashes_second


def test_link_problem_detects_tampering_gap_wrong_shard_and_wrong_prev() -> None:
    """A verifier holding (seq, hash) accepts the true successor and names what is wrong with every forgery."""
    chain = Chain(shard_id=2)
    first = chain.seal(make_output(1))
    second = chain.seal(make_output(2))
    held = {"shard_id": 2, "last_seq": 1, "last_hash": first.hash}
    assert link_problem(second, **held) == ""

    tampered = engine_pb2.EngineOutput()
    tampered.CopyFrom(second)
    tampered.order_updates[0].filled_qty_units = 1
    assert "recomputed" in link_problem(tampered, **held)

    assert "seq 2 where 3" in link_problem(second, shard_id=2, last_seq=2, last_hash=second.hash)
    assert "shard 2 where 3" in link_problem(second, shard_id=3, last_seq=1, last_hash=first.hash)
    assert "prev_hash" in link_problem(second, shard_id=2, last_seq=1, last_hash=GENESIS_HASH)


def test_advance_replays_a_sealed_chain_to_the_same_head() -> None:
    """Restoring a head by advancing over stored outputs reaches the same (seq, hash) as the original."""
    original = Chain(shard_id=4)
    outputs = [original.seal(make_output(order_id)) for order_id in range(1, 6)]
    restored = Chain(shard_id=4)

    for output in outputs:
        restored.advance(output)

    assert (restored.last_seq, restored.last_hash) == (original.last_seq, original.last_hash)


@given(
    shard_id=st.sampled_from([0, 1, 127, 128, 300, 2**32 - 1]),
    start_seq=st.sampled_from([0, 126, 127, 16_383, 2**40]),
    ts_values=st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=8),
)
def test_seal_serialized_gives_the_bytes_and_hashes_of_seal(
    shard_id: int, start_seq: int, ts_values: list[int]
) -> None:
    """Sealing by bytes (serialize once, header written by hand) gives exactly the bytes, seqs and hashes that
    seal() + deterministic serialization give, for any shard id and seq (varint lengths), and each output verifies
    with link_problem as subscribers check it."""
    by_message = Chain(shard_id=shard_id, last_seq=start_seq)
    by_bytes = Chain(shard_id=shard_id, last_seq=start_seq)
    for ts in ts_values:
        output = make_output(ts % 1_000_000 + 1)
        output.ts_event_ns = ts
        held_seq, held_hash = by_bytes.last_seq, by_bytes.last_hash
        seq, digest, data = by_bytes.seal_serialized(output)
        twin = make_output(ts % 1_000_000 + 1)
        twin.ts_event_ns = ts
        expected = by_message.seal(twin).SerializeToString(deterministic=True)
        parsed = engine_pb2.EngineOutput.FromString(data)

        assert data == expected
        assert (seq, digest) == (by_message.last_seq, by_message.last_hash)
        assert link_problem(parsed, shard_id=shard_id, last_seq=held_seq, last_hash=held_hash) == ""
