"""How CqlWriter packs rows into batches, against the real server: a partition's rows of one write go out in one
batch unless they alone exceed a batch (so GetBalances never shows one asset of a turn without the others), and
every row is written either way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from cassandra.cluster import Session

from settlement.binding import Binder, EncodedBatch
from settlement.queries import SettlementQueries
from settlement.rows import Row
from settlement.writer import CqlWriter

USERS = (1001, 1002, 1003)
ASSETS = (1, 2, 3)


def balance_row(user_id: int, asset_id: int, version: int) -> Row:
    """A user_balances row (partition: the user)."""
    return Row("user_balances", {"user_id": user_id, "asset_id": asset_id, "available_units": 100 * version + asset_id,
                                 "frozen_units": 0, "version": version, "event_id": version,
                                 "ts_event_ns": version}, version)


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> dict[int, list[int]]:
    """Every batch the writer fills, by identity: the user (partition) of each balance row added to it."""
    seen: dict[int, list[int]] = {}
    add_row = EncodedBatch.add_row

    def recording(self: EncodedBatch, binder: Binder, values: Mapping[str, Any], entry: bytes) -> None:
        seen.setdefault(id(self), []).append(values["user_id"])
        add_row(self, binder, values, entry)

    monkeypatch.setattr(EncodedBatch, "add_row", recording)
    return seen


def test_a_partition_that_fits_a_batch_is_never_cut(session: Session, batches: dict[int, list[int]]) -> None:
    """Batches of at most 4 rows, users of 3 balance rows each: with a row-by-row cut the second user's rows would
    straddle two batches; each user's rows share one batch instead, and all are stored."""
    writer = CqlWriter(session, batch_rows_max=4)
    rows = [balance_row(user_id, asset_id, version=1) for user_id in USERS for asset_id in ASSETS]

    stats = writer.write(rows)

    assert stats.rows == len(rows)
    assert all(len(contents) <= 4 for contents in batches.values())
    batches_of_user = {user_id: {batch for batch, contents in batches.items() if user_id in contents}
                       for user_id in USERS}
    assert all(len(found) == 1 for found in batches_of_user.values()), batches
    queries = SettlementQueries(session)
    for user_id in USERS:
        assert {row["asset_id"]: row["available_units"] for row in queries.get_balances(user_id=user_id)} == {
            asset_id: 100 + asset_id for asset_id in ASSETS}


def test_a_partition_larger_than_a_batch_is_cut_and_fully_written(
    session: Session, batches: dict[int, list[int]],
) -> None:
    """One user with more balance rows than a batch holds: cut into full batches, every row stored."""
    writer = CqlWriter(session, batch_rows_max=2)
    rows = [balance_row(1001, asset_id, version=2) for asset_id in (1, 2, 3, 4, 5)]

    writer.write(rows)

    assert sorted(len(contents) for contents in batches.values()) == [1, 2, 2]
    balances = SettlementQueries(session).get_balances(user_id=1001)
    assert {row["asset_id"]: row["version"] for row in balances} == dict.fromkeys((1, 2, 3, 4, 5), 2)
