"""A refusal never echoes a hostile input at full length, and an unreachable database never names its hosts.

A status travels in trailing metadata, which gRPC clients cap at 8-16 KB: an echo of a 100 KB quantity turned the
refusal into the client's own RESOURCE_EXHAUSTED. Every status text is bounded, with its code and reason kept.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import quote

import grpc
import pytest
from cassandra import OperationTimedOut
from cassandra.cluster import NoHostAvailable
from google.rpc import error_details_pb2, status_pb2

from common.errors import InvalidAmount, Unavailable
from common.markets import load_catalog
from exchange.v1 import account_service_pb2, common_pb2
from gateway.errors import FieldViolation, Refused
from gateway.reads import DATABASE_UNAVAILABLE, Reads
from gateway.status import DETAIL_CHARS_MAX, MESSAGE_CHARS_MAX, error_status
from gateway.validation import validate_place_order, validate_transfer
from tests.unit.gateway.test_validation import limit

CATALOG = load_catalog()
QUANTITY = "1" * 100_000
SYMBOL = "A" * 5_000_000
# What a client reads at most: grpc-message (percent-encoded UTF-8) and grpc-status-details-bin (base64).
METADATA_BYTES_BOUND = 4 * 1024


def _status_of(call: Any, *args: Any) -> status_pb2.Status:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - whatever escapes a method goes through error_status
        call(*args)
    return error_status(caught.value)


def _details(status: status_pb2.Status) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.BadRequest]:
    info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    for detail in status.details:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(bad_request.DESCRIPTOR):
            detail.Unpack(bad_request)
    return info, bad_request


def _metadata_bytes(status: status_pb2.Status) -> int:
    """Bytes of the two trailers that carry `status` (as grpc percent-encodes the message)."""
    message = quote(status.message.encode(), safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")
    return len(message) + len(base64.b64encode(status.SerializeToString()))


def test_a_100k_character_quantity_is_invalid_argument_with_a_bounded_message() -> None:
    status = _status_of(validate_place_order, limit(quantity=QUANTITY), CATALOG)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info, bad_request = _details(status)
    assert info.reason == "REJECT_REASON_INVALID_QUANTITY"
    [violation] = bad_request.field_violations
    assert violation.field == "quantity"
    assert "(100000 characters)" in violation.description
    assert "NOT_A_DECIMAL" in violation.description
    assert len(violation.description) < 200
    assert len(status.message) < 250
    assert _metadata_bytes(status) < 1024


def test_a_5m_character_symbol_or_asset_is_refused_with_a_bounded_message() -> None:
    """The unknown market's reason and code (NOT_FOUND, the errors table's) are kept; only the echo is short."""
    status = _status_of(validate_place_order, limit(symbol=SYMBOL), CATALOG)
    assert status.code == grpc.StatusCode.NOT_FOUND.value[0]
    info, bad_request = _details(status)
    assert info.reason == "REJECT_REASON_UNKNOWN_MARKET"
    assert bad_request.field_violations[0].description == f"no market {'A' * 64!r}… (5000000 characters)"
    assert _metadata_bytes(status) < 1024
    transfer = account_service_pb2.TransferInRequest(request_id="r-1", user_id=1001, asset="U" * 100_000, amount="1")
    status = _status_of(validate_transfer, transfer, CATALOG)
    assert _details(status)[1].field_violations[0].description == f"no asset {'U' * 64!r}… (100000 characters)"


def test_every_field_of_a_hostile_order_at_once_stays_far_below_the_metadata_limit() -> None:
    """Huge 4-byte characters (percent-encoded to 12 bytes each) and escapes in every string field."""
    hostile = "😀" * 1_000_000
    for symbol in ("BTC_USDT", hostile):
        order = limit(symbol=symbol, price=hostile, quantity="\U0010ffff" * 1_000_000, quote_quantity=hostile,
                       client_order_id=hostile)  # fmt: skip
        status = _status_of(validate_place_order, order, CATALOG)
        assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert _metadata_bytes(status) < METADATA_BYTES_BOUND


def test_build_status_bounds_every_text_whatever_the_call_site_put_in_it() -> None:
    """The last line of defence: a message, a description or a metadata value of any length is shortened."""
    huge = "x" * 1_000_000
    refused = Refused(
        common_pb2.REJECT_REASON_INVALID_REQUEST, huge, metadata={"field": huge},
        violations=(FieldViolation(field="f", reason=common_pb2.REJECT_REASON_INVALID_REQUEST, description=huge),),
    )
    status = error_status(refused)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info, bad_request = _details(status)
    assert info.reason == "REJECT_REASON_INVALID_REQUEST"
    suffix = "… (1000000 characters)"
    assert status.message == "x" * MESSAGE_CHARS_MAX + suffix
    assert bad_request.field_violations[0].description == "x" * DETAIL_CHARS_MAX + suffix
    assert info.metadata["field"] == "x" * DETAIL_CHARS_MAX + suffix
    amount = error_status(InvalidAmount(huge, reason="NOT_A_DECIMAL"))
    assert amount.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert len(amount.message) == MESSAGE_CHARS_MAX + len(suffix)


class _DownQueries:
    """Settlement queries whose database is unreachable, raising what the driver (or the LazySession) raises."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_balances(self, **_: object) -> list[object]:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        NoHostAvailable(
            "Unable to connect to any servers",
            {"127.0.0.1:9042": ConnectionRefusedError(111, "Tried connecting to [('127.0.0.1', 9042)]")},
        ),
        OperationTimedOut(errors={"<Host: 127.0.0.1:9042 datacenter1>": "timed out"}, last_host="127.0.0.1:9042"),
        Unavailable("CQL ('127.0.0.1',):9042 unreachable: ('Unable to connect to any servers', ...)"),
    ],
)
def test_an_unreachable_database_is_unavailable_with_a_plain_message_and_the_detail_logged(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    reads = Reads(CATALOG, _DownQueries(error))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="gateway.reads"):
        status = _status_of(reads.balances, 1001)
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert status.message == DATABASE_UNAVAILABLE == "the database is unavailable; retry"
    assert _details(status)[0].reason == "REJECT_REASON_SERVICE_UNAVAILABLE"
    assert "127.0.0.1" not in str(status)
    assert "127.0.0.1" in caplog.text  # the operator still sees which host failed
