"""Recovery from snapshot + WAL (real files in a temp dir): the same state, and exactly the unacknowledged outputs
to produce again.

The inputs are written as the service writes them (T, A, F and D records; group commits), with the outputs of
the real matcher core as F records, and a snapshot taken in the middle.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.engine_chain import Chain
from common.markets import load_catalog
from common.snapshot import write_snapshot
from common.wal import Wal
from exchange.v1 import balance_pb2, order_pb2, ubscore_pb2
from matcher.codec import build_output, decode_command
from matcher.engine import Engine
from ubscore import codec
from ubscore.core import UbsCore
from ubscore.state import (
    OUTPUT_RECORD,
    REQUEST_RECORD,
    Positions,
    delivered_record,
    encode_state,
    recover,
    transfer_record,
)

ALICE, BOB = 1001, 1002


def new_core() -> UbsCore:
    catalog = load_catalog()
    return UbsCore(catalog.markets.values(), [a.asset_id for a in catalog.assets.values()], fee_account_user_id=1)


def transfer_bytes(request_id: str, user: int, asset: int, amount: int) -> bytes:
    return balance_pb2.BalanceRequest(request_id=request_id, user_id=user, asset_id=asset, amount_units=amount,
                                      operation=1).SerializeToString()  # fmt: skip


def order_bytes(user: int, coid: str, side: int) -> bytes:
    order = ubscore_pb2.OrderRequest(user_id=user, client_order_id=coid, symbol="BTC_USDT", side=side, order_type=1,
                                     time_in_force=1, price_units=45_000_000_000, qty_units=10_000_000)  # fmt: skip
    return ubscore_pb2.UbscoreRequest(place_order=order).SerializeToString()


def test_recover_rebuilds_the_state_and_returns_only_unacknowledged_outputs(tmp_path: Path) -> None:
    live, engine, chain = new_core(), Engine(load_catalog().markets.values()), Chain(shard_id=0)
    wal = Wal.open(tmp_path / "wal")
    positions = Positions({0: -1})
    # batch 1: two deposits, then a snapshot with everything acknowledged
    batch = []
    for offset, (user, asset, amount) in enumerate([(ALICE, 2, 10**11), (BOB, 1, 10**8)]):
        raw = transfer_bytes(f"d{offset}", user, asset, amount)
        live.transfer(codec.decode_transfer(raw))
        positions.consumed(0, offset)
        batch.append(transfer_record(0, offset, raw))
    wal.append(batch)
    write_snapshot(tmp_path / "snapshots", wal.last_lsn, encode_state(lsn=wal.last_lsn, core=live, positions=positions,
                                                                      delivered=(2, 0)))  # fmt: skip
    # batch 2: two crossing orders; batch 3: the matcher's outputs, and events up to 4 acknowledged
    commands, batch = [], []
    for payload in (order_bytes(BOB, "s", 2), order_bytes(ALICE, "b", 1)):
        _, request = codec.decode_request(payload)
        commands.extend(live.place(request).commands)
        batch.append(REQUEST_RECORD + payload)
    wal.append(batch)
    batch = [delivered_record(4, 1)]
    for offset, command in enumerate(commands):
        order_command = order_pb2.OrderCommand.FromString(codec.encode_command(command))
        result = engine.apply(decode_command(order_command))
        output = chain.seal(build_output(order_command, partition=0, offset=offset, result=result))
        live.apply_output(codec.decode_output(output))
        batch.append(OUTPUT_RECORD + output.SerializeToString(deterministic=True))
    wal.append(batch)
    wal.close()

    fresh = new_core()
    recovered = recover(core=fresh, wal_dir=tmp_path / "wal", snapshot_dir=tmp_path / "snapshots", partitions=(0,),
                        segment_bytes_max=1 << 20)  # fmt: skip
    assert json.dumps(fresh.snapshot(), sort_keys=True) == json.dumps(live.snapshot(), sort_keys=True)
    assert recovered.positions.next_offsets == {0: 2}
    assert recovered.delivered == (4, 1)
    assert [e.event_id for e in recovered.resend_events] == list(range(5, live.ledger.last_event_id + 1))
    assert [c.command_seq for c in recovered.resend_commands] == [2]
    assert recovered.snapshot_lsn == 2
    assert not fresh.invariant_problems()
