"""The status table covers every RejectReason and every shared error class, and statuses carry their details."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2

from common import errors as common_errors
from common.aeron import errors as aeron_errors
from exchange.v1 import common_pb2
from gateway.errors import FieldViolation, Refused
from gateway.status import ERROR_ROWS, REASON_CODES, error_status, reason_name, refusal_status


def _details(status: object) -> dict[str, object]:
    """Unpack a google.rpc.Status's details by type name."""
    unpacked: dict[str, object] = {}
    for any_detail in status.details:  # type: ignore[attr-defined]
        for message_type in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo):
            if any_detail.Is(message_type.DESCRIPTOR):
                message = message_type()
                any_detail.Unpack(message)
                unpacked[message_type.__name__] = message
    return unpacked


def test_every_reject_reason_has_a_status_code() -> None:
    """Each value of exchange.v1.RejectReason has its own row: a new reason must be mapped on purpose."""
    numbers = {value.number for value in common_pb2.RejectReason.DESCRIPTOR.values}
    assert numbers == set(REASON_CODES)


DECISIONS = Path(__file__).resolve().parents[3] / "docs" / "decisions.md"
ROW = re.compile(r"^\| ([A-Z0-9_]+) \| (\d+) \| ([A-Z_]+) \| (\d{3}) \|", re.MULTILINE)


def test_codes_are_those_of_the_errors_table_in_decisions() -> None:
    """Each reason's code is the one docs/decisions.md decides (the table the REST proxy is checked against)."""
    section = DECISIONS.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    documented = {int(number): code for _, number, code, _ in ROW.findall(section)}
    assert len(documented) == len(REASON_CODES) - 1  # every reason but UNSPECIFIED (not a refusal)
    assert {number: code.name for number, code in REASON_CODES.items() if number} == documented


def test_every_shared_error_class_has_its_own_row() -> None:
    """Every error class of common.errors and common.aeron.errors is mapped explicitly, not through a base."""
    classes = [
        klass
        for module in (common_errors, aeron_errors)
        for _, klass in inspect.getmembers(module, inspect.isclass)
        if issubclass(klass, Exception) and klass.__module__ == module.__name__
    ]
    assert len(classes) > 15
    missing = [klass.__name__ for klass in classes if klass not in ERROR_ROWS]
    assert not missing


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (common_pb2.REJECT_REASON_UNAUTHENTICATED, grpc.StatusCode.UNAUTHENTICATED),
        (common_pb2.REJECT_REASON_PERMISSION_DENIED, grpc.StatusCode.PERMISSION_DENIED),
        (common_pb2.REJECT_REASON_RATE_LIMITED, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (common_pb2.REJECT_REASON_NOT_FOUND, grpc.StatusCode.NOT_FOUND),
        (common_pb2.REJECT_REASON_DUPLICATE_REQUEST, grpc.StatusCode.ALREADY_EXISTS),
        (common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, grpc.StatusCode.FAILED_PRECONDITION),
        (common_pb2.REJECT_REASON_UBSCORE_BUSY, grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_refusal_status_has_code_and_error_info_with_reason_name(reason: int, code: grpc.StatusCode) -> None:
    """A refusal becomes its code with ErrorInfo(reason=enum name, domain exchange.v1)."""
    status = refusal_status(Refused(reason, "no"))
    assert status.code == code.value[0]
    info = _details(status)["ErrorInfo"]
    assert info.reason == reason_name(reason)  # type: ignore[attr-defined]
    assert info.reason.startswith("REJECT_REASON_")  # type: ignore[attr-defined]
    assert info.domain == "exchange.v1"  # type: ignore[attr-defined]


def test_refusal_with_violations_carries_bad_request_and_rate_limit_carries_retry_info() -> None:
    """Field violations become BadRequest; a retry hint becomes RetryInfo with the same delay."""
    violation = FieldViolation(field="price", reason=common_pb2.REJECT_REASON_INVALID_PRICE, description="off tick")
    details = _details(refusal_status(Refused.from_violations([violation])))
    [field_violation] = details["BadRequest"].field_violations  # type: ignore[attr-defined]
    assert (field_violation.field, field_violation.reason) == ("price", "REJECT_REASON_INVALID_PRICE")
    assert "RetryInfo" not in details
    limited = _details(refusal_status(Refused(common_pb2.REJECT_REASON_RATE_LIMITED, "slow down", retry_after_ms=250)))
    assert limited["RetryInfo"].retry_delay.ToMilliseconds() == 250  # type: ignore[attr-defined]
    assert limited["ErrorInfo"].metadata["retry_after_ms"] == "250"  # type: ignore[attr-defined]


def test_aeron_errors_map_to_unavailable_or_deadline_exceeded() -> None:
    """Undelivered Aeron requests are UNAVAILABLE (safe to retry); unanswered ones DEADLINE_EXCEEDED (unknown)."""
    undelivered = error_status(aeron_errors.Undeliverable("no subscriber"))
    assert undelivered.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert "RetryInfo" in _details(undelivered)
    unanswered = error_status(aeron_errors.RequestTimeout("no answer"))
    assert unanswered.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert _details(unanswered)["ErrorInfo"].reason == "REJECT_REASON_TIMEOUT"  # type: ignore[attr-defined]


def test_unexpected_exception_is_internal_without_its_text() -> None:
    """A bug's exception text stays in the log, not in the client's status."""
    status = error_status(KeyError("secret internals"))
    assert status.code == grpc.StatusCode.INTERNAL.value[0]
    assert "secret" not in status.message
