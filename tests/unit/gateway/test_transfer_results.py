"""TransferResults: the first outcome of a transfer stands, with the time UBSCore emitted it (bounded memory)."""

from __future__ import annotations

from exchange.v1 import balance_pb2
from gateway.transfer_results import TransferResults

REQUESTED_NS = 1_795_000_000_123_456_789


def outcome(request_id: str, kind: int = balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED) -> balance_pb2.BalanceEvent:
    return balance_pb2.BalanceEvent(user_id=1001, request_id=request_id, type=kind, ts_event_ns=REQUESTED_NS)


def test_completed_is_the_records_time_never_before_the_request() -> None:
    results = TransferResults()
    results.observe(outcome("late"), REQUESTED_NS + 2_000_000)
    results.observe(outcome("same-ms"), REQUESTED_NS - 456_789)  # a millisecond stamp just below the request's
    assert results.completed_ns(1001, "late") == REQUESTED_NS + 2_000_000
    assert results.completed_ns(1001, "same-ms") == REQUESTED_NS
    assert results.completed_ns(1001, "unknown") == 0


def test_the_first_outcome_stands_and_memory_is_bounded() -> None:
    results = TransferResults(results_max=2)
    results.observe(outcome("a"), REQUESTED_NS + 1_000_000)
    results.observe(outcome("a", balance_pb2.BALANCE_EVENT_TYPE_DEPOSIT_REJECTED), REQUESTED_NS + 9_000_000)
    first = results.get(1001, "a")
    assert first is not None
    assert first.type == balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED
    assert results.completed_ns(1001, "a") == REQUESTED_NS + 1_000_000
    results.observe(outcome("b"), REQUESTED_NS)
    results.observe(outcome("c"), REQUESTED_NS)
    assert (results.get(1001, "a"), results.completed_ns(1001, "a")) == (None, 0)  # the oldest forgotten, both
    assert results.get(1001, "c") is not None
