"""The balance.events edge refuses what the tables cannot hold; migration files parse; keys are what README says."""

from __future__ import annotations

import pytest

from exchange.v1 import balance_pb2
from settlement import keys
from settlement.codec import decode_balance_event
from settlement.cql import PARTITION_KEYS, load_migrations
from settlement.errors import InputMalformed


def event(**fields: object) -> bytes:
    base = {"event_id": 5, "user_id": 1001, "asset_id": 2, "type": balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED,
            "version": 1, "delta_available_units": 3, "available_units": 3}
    base.update(fields)
    return balance_pb2.BalanceEvent(**base).SerializeToString()  # type: ignore[arg-type]


def test_decode_valid_event_returns_it() -> None:
    """A well-formed deposit passes unchanged."""
    assert decode_balance_event(event()).event_id == 5


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\xff\xff\xff", "UNDECODABLE"),
    (event(event_id=0), "NO_EVENT_ID"),
    (event(user_id=0), "NO_USER_ID"),
    (event(type=0), "BAD_TYPE"),
    (event(type=99), "BAD_TYPE"),
    (event(user_id=2**63), "ID_OUT_OF_RANGE"),
    (event(version=0), "BAD_VERSION"),
    (event(type=balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED, version=3), "BAD_VERSION"),
])
def test_decode_malformed_event_raises_with_stable_reason(raw: bytes, reason: str) -> None:
    """Each way an event can be unusable has its own machine-readable reason."""
    with pytest.raises(InputMalformed) as raised:
        decode_balance_event(raw)
    assert raised.value.reason == reason


def test_migrations_parse_into_create_statements_for_every_written_table() -> None:
    """Version 1 creates every table the writer knows a partition key for, and nothing uses ALLOW FILTERING."""
    [first] = load_migrations()[:1]
    statements = first.statements()
    created = {statement.split()[5] for statement in statements if statement.startswith("CREATE TABLE")}
    assert created == set(PARTITION_KEYS)
    assert all("ALLOW FILTERING" not in migration.text.upper() for migration in load_migrations())


def test_keys_block_and_bucket_boundaries() -> None:
    """1,024 ids per block; a day per user bucket, an hour per market bucket; timestamps order by seq then index."""
    assert (keys.id_block(1023), keys.id_block(1024)) == (0, 1)
    assert keys.user_bucket(keys.NS_PER_DAY - 1) == 0
    assert keys.user_bucket(keys.NS_PER_DAY) == 1
    assert keys.market_bucket(keys.NS_PER_HOUR) == 1
    assert keys.output_timestamp(2, 0) > keys.output_timestamp(1, keys.OUTPUT_ITEMS_MAX - 1)
