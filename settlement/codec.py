"""The protobuf edge of Settlement's Kafka input: `balance.events` bytes to a checked `BalanceEvent`.

Decode refuses what the tables cannot hold or what breaks the contract in balance.proto (raising InputMalformed
with a stable reason); the service records such a record in `malformed_inputs` and skips it. Matcher outputs need
no such check here: they arrive hash-verified by common/engine_feed.py.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from exchange.v1 import balance_pb2
from settlement.errors import InputMalformed
from settlement.keys import CQL_BIGINT_MAX

KNOWN_TYPES = frozenset(balance_pb2.BalanceEventType.values()) - {balance_pb2.BALANCE_EVENT_TYPE_UNSPECIFIED}
REFUSAL_TYPES = frozenset({
    balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED,
    balance_pb2.BALANCE_EVENT_TYPE_DEPOSIT_REJECTED,
    balance_pb2.BALANCE_EVENT_TYPE_ORDER_REJECTED,
})


def decode_balance_event(raw: bytes) -> balance_pb2.BalanceEvent:
    """Parse and check one `balance.events` record; raise InputMalformed saying why it cannot be used."""
    event = balance_pb2.BalanceEvent()
    try:
        event.ParseFromString(raw)
    except DecodeError as error:
        raise InputMalformed(f"not a BalanceEvent ({len(raw)} bytes): {error}", reason="UNDECODABLE") from error
    if event.event_id == 0:
        raise InputMalformed("event_id is 0", reason="NO_EVENT_ID")
    if event.user_id == 0:
        raise InputMalformed(f"event {event.event_id}: user_id is 0", reason="NO_USER_ID")
    if event.type not in KNOWN_TYPES:
        raise InputMalformed(f"event {event.event_id}: type {event.type} unknown", reason="BAD_TYPE")
    for name in ("event_id", "user_id", "version", "order_id", "trade_id"):
        if getattr(event, name) > CQL_BIGINT_MAX:
            raise InputMalformed(f"event {event.event_id}: {name} above 2^63-1", reason="ID_OUT_OF_RANGE")
    if event.type in REFUSAL_TYPES and event.version != 0:
        raise InputMalformed(f"event {event.event_id}: a refusal with version {event.version}", reason="BAD_VERSION")
    if event.type not in REFUSAL_TYPES and event.version == 0:
        raise InputMalformed(f"event {event.event_id}: a balance change without a version", reason="BAD_VERSION")
    return event
