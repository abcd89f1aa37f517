"""The one table from refusals and errors to gRPC status codes, and the status details clients read.

Every `exchange.v1.RejectReason` value and every error class of `common.errors` and `common.aeron.errors` has an
explicit row here. The reason rows are the table of docs/decisions.md "Errors" (the project's decision, also
checked against the REST proxy there); tests/unit/gateway/test_status.py fails when a row is missing or differs
from that table. A status carries:

- `google.rpc.ErrorInfo`: `reason` = the RejectReason enum name (e.g. "REJECT_REASON_INSUFFICIENT_FUNDS"),
  `domain` = "exchange.v1", `metadata` = strings that help a program (the field, the retry delay, ...);
- `google.rpc.BadRequest` with one field violation per bad field (its `reason` is a RejectReason name too);
- `google.rpc.RetryInfo` when retrying later can succeed (rate limits, unavailable services).

Every text of a status is bounded here (MESSAGE_CHARS_MAX, DETAIL_CHARS_MAX, common.quoting.shortened), on top
of messages quoting a client's values shortened (common.quoting.quoted): a status travels in trailing metadata,
which clients cap at 8-16 KB, so an unbounded echo of a huge input would reach them as RESOURCE_EXHAUSTED instead
of its own code. Internal errors carry their message; those that would name internal addresses (the database's)
are raised with a plain message and their detail logged where they are caught (gateway.reads).

grpc-gateway turns the code into the HTTP status (INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
NOT_FOUND 404, ALREADY_EXISTS 409, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, ...) and the details into the JSON body.

Matcher reasons (3xxx) are normally the `reason` of an order's final state, not an RPC error; their rows say what
the RPC answers when such a refusal is the answer itself (a cancel of an order the matcher no longer has).
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from common import errors as common_errors
from common.aeron import errors as aeron_errors
from common.quoting import shortened
from exchange.v1 import common_pb2
from gateway.errors import Refused

DOMAIN = "exchange.v1"
UNAVAILABLE_RETRY_AFTER_MS = 1_000  # the hint sent with UNAVAILABLE: a restarting service is usually back by then
# Bounds of a status's texts, in characters (UTF-8 and grpc-message's percent-encoding may make each up to 12
# bytes): the message, and each field-violation description and ErrorInfo metadata value. A message lists every
# violation, each quoting at most ECHO_CHARS_MAX characters of a value, so real ones stay far shorter.
MESSAGE_CHARS_MAX = 1_024
DETAIL_CHARS_MAX = 256

R = common_pb2.RejectReason
C = grpc.StatusCode

REASON_CODES: dict[int, grpc.StatusCode] = {
    R.REJECT_REASON_UNSPECIFIED: C.INTERNAL,  # a refusal without a reason is a bug
    # 1xxx gateway
    R.REJECT_REASON_UNAUTHENTICATED: C.UNAUTHENTICATED,
    R.REJECT_REASON_PERMISSION_DENIED: C.PERMISSION_DENIED,
    R.REJECT_REASON_RATE_LIMITED: C.RESOURCE_EXHAUSTED,
    R.REJECT_REASON_INVALID_AMOUNT: C.INVALID_ARGUMENT,
    R.REJECT_REASON_INVALID_PRICE: C.INVALID_ARGUMENT,
    R.REJECT_REASON_INVALID_QUANTITY: C.INVALID_ARGUMENT,
    R.REJECT_REASON_BELOW_MIN_NOTIONAL: C.INVALID_ARGUMENT,
    R.REJECT_REASON_UNKNOWN_MARKET: C.NOT_FOUND,  # the named market does not exist
    R.REJECT_REASON_UNKNOWN_ASSET: C.NOT_FOUND,
    R.REJECT_REASON_INVALID_ORDER: C.INVALID_ARGUMENT,
    R.REJECT_REASON_MISSING_FIELD: C.INVALID_ARGUMENT,
    R.REJECT_REASON_INVALID_REQUEST: C.INVALID_ARGUMENT,
    R.REJECT_REASON_NOT_FOUND: C.NOT_FOUND,
    R.REJECT_REASON_SERVICE_UNAVAILABLE: C.UNAVAILABLE,
    R.REJECT_REASON_TIMEOUT: C.DEADLINE_EXCEEDED,  # outcome unknown: look the request up by its id
    # 2xxx UBSCore
    R.REJECT_REASON_INSUFFICIENT_FUNDS: C.FAILED_PRECONDITION,  # the request is fine, the account state is not
    R.REJECT_REASON_BALANCE_OVERFLOW: C.FAILED_PRECONDITION,
    R.REJECT_REASON_ORDER_NOT_OPEN: C.FAILED_PRECONDITION,
    R.REJECT_REASON_DUPLICATE_REQUEST: C.ALREADY_EXISTS,  # the key was used for a different request
    R.REJECT_REASON_UBSCORE_UNKNOWN_MARKET: C.NOT_FOUND,
    R.REJECT_REASON_UBSCORE_INVALID_ORDER: C.INVALID_ARGUMENT,
    R.REJECT_REASON_UBSCORE_PRICE_OFF_TICK: C.INVALID_ARGUMENT,
    R.REJECT_REASON_UBSCORE_PRICE_OUT_OF_RANGE: C.INVALID_ARGUMENT,
    R.REJECT_REASON_UBSCORE_QUANTITY_OFF_LOT: C.INVALID_ARGUMENT,
    R.REJECT_REASON_UBSCORE_QUANTITY_OUT_OF_RANGE: C.INVALID_ARGUMENT,
    R.REJECT_REASON_UBSCORE_BELOW_MIN_NOTIONAL: C.INVALID_ARGUMENT,
    R.REJECT_REASON_UBSCORE_BUDGET_OUT_OF_RANGE: C.INVALID_ARGUMENT,
    R.REJECT_REASON_UBSCORE_BUSY: C.UNAVAILABLE,  # load shedding: retry later
    R.REJECT_REASON_UBSCORE_UNKNOWN_ASSET: C.NOT_FOUND,
    R.REJECT_REASON_UBSCORE_INVALID_AMOUNT: C.INVALID_ARGUMENT,
    R.REJECT_REASON_UBSCORE_DEADLINE_EXCEEDED: C.DEADLINE_EXCEEDED,  # not applied; safe to retry
    R.REJECT_REASON_UBSCORE_MISSING_FIELD: C.INVALID_ARGUMENT,
    # 3xxx matcher
    R.REJECT_REASON_UNKNOWN_ORDER: C.NOT_FOUND,
    R.REJECT_REASON_POST_ONLY_WOULD_TAKE: C.FAILED_PRECONDITION,
    R.REJECT_REASON_FOK_NOT_FILLABLE: C.FAILED_PRECONDITION,
    R.REJECT_REASON_DUPLICATE_ORDER_ID: C.ALREADY_EXISTS,  # the order id was seen before
    R.REJECT_REASON_MATCHER_UNKNOWN_MARKET: C.INTERNAL,  # routed to a shard without the market: a deployment fault
    R.REJECT_REASON_SELF_TRADE_PREVENTED: C.FAILED_PRECONDITION,
    R.REJECT_REASON_NO_LIQUIDITY: C.FAILED_PRECONDITION,
    R.REJECT_REASON_MATCHER_INVALID_ORDER: C.INVALID_ARGUMENT,
    R.REJECT_REASON_IOC_NOT_FILLED: C.FAILED_PRECONDITION,
    R.REJECT_REASON_DUPLICATE_CLIENT_ORDER_ID: C.ALREADY_EXISTS,
    R.REJECT_REASON_MATCHER_OUT_OF_RANGE: C.INVALID_ARGUMENT,
    R.REJECT_REASON_MATCHER_INVALID_FIELD: C.INVALID_ARGUMENT,
    R.REJECT_REASON_MATCHER_INTERNAL_ERROR: C.INTERNAL,  # a matcher bug; the order was refused and funds released
}

# Internal errors -> (code, reason). Looked up by the error's exact class first, then its bases, but every class of
# the two error modules has its own row (the unit test checks), so a new class is a decision, not an accident.
ERROR_ROWS: dict[type[BaseException], tuple[grpc.StatusCode, int]] = {
    common_errors.ExchangeError: (C.INTERNAL, R.REJECT_REASON_UNSPECIFIED),
    common_errors.ConfigInvalid: (C.INTERNAL, R.REJECT_REASON_UNSPECIFIED),
    common_errors.InvalidAmount: (C.INVALID_ARGUMENT, R.REJECT_REASON_INVALID_AMOUNT),
    common_errors.WalCorrupt: (C.INTERNAL, R.REJECT_REASON_UNSPECIFIED),
    common_errors.ChainBroken: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),  # the feed halted loudly
    common_errors.TransportError: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    common_errors.Unavailable: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    common_errors.Timeout: (C.DEADLINE_EXCEEDED, R.REJECT_REASON_TIMEOUT),
    # Aeron: every failure to reach UBSCore is UNAVAILABLE (nothing was applied, retry is safe), except a request
    # that was sent but got no answer (outcome unknown: DEADLINE_EXCEEDED) and local misuse (INTERNAL).
    aeron_errors.AeronError: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    aeron_errors.DriverError: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    aeron_errors.InvalidChannel: (C.INTERNAL, R.REJECT_REASON_UNSPECIFIED),  # our channel config is wrong
    aeron_errors.ChannelEndpointError: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    aeron_errors.DriverUnavailable: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    aeron_errors.DriverTimeout: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    aeron_errors.ClientTimeout: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    aeron_errors.EventsLost: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    aeron_errors.ConductorTimeout: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    aeron_errors.ClientClosed: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),  # shutting down
    aeron_errors.BufferFull: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),
    aeron_errors.MessageTooLong: (C.INTERNAL, R.REJECT_REASON_UNSPECIFIED),  # validation bounds every request
    aeron_errors.RequestTimeout: (C.DEADLINE_EXCEEDED, R.REJECT_REASON_TIMEOUT),  # sent; outcome unknown
    aeron_errors.Undeliverable: (C.UNAVAILABLE, R.REJECT_REASON_SERVICE_UNAVAILABLE),  # never sent: retry is safe
}

log = logging.getLogger(__name__)


def reason_name(reason: int) -> str:
    """The RejectReason enum name of a number ("REJECT_REASON_UNSPECIFIED" for an unknown number)."""
    value = common_pb2.RejectReason.DESCRIPTOR.values_by_number.get(reason)
    return value.name if value is not None else "REJECT_REASON_UNSPECIFIED"


def code_for_reason(reason: int) -> grpc.StatusCode:
    """The gRPC code of a refusal with `reason` (INTERNAL for a number the table lacks)."""
    return REASON_CODES.get(reason, C.INTERNAL)


def error_row(error: BaseException) -> tuple[grpc.StatusCode, int] | None:
    """(code, reason) of an internal error by its class or nearest mapped base; None for anything else (a bug)."""
    for klass in type(error).__mro__:
        row = ERROR_ROWS.get(klass)
        if row is not None:
            return row
    return None


def refusal_status(refused: Refused) -> status_pb2.Status:
    """The google.rpc.Status of a refusal, with ErrorInfo, BadRequest and RetryInfo details."""
    code = code_for_reason(refused.reason)
    retry_after_ms = refused.retry_after_ms
    if retry_after_ms == 0 and code == C.UNAVAILABLE:
        retry_after_ms = UNAVAILABLE_RETRY_AFTER_MS
    return build_status(
        code, refused.reason, refused.message, violations=refused.violations, retry_after_ms=retry_after_ms,
        metadata=refused.metadata,
    )


def error_status(error: BaseException) -> status_pb2.Status:
    """The google.rpc.Status of any exception escaping a method: refusals and mapped errors; INTERNAL otherwise."""
    if isinstance(error, Refused):
        return refusal_status(error)
    row = error_row(error)
    if row is None:
        log.exception("unexpected error in a gRPC method", exc_info=error)
        return build_status(C.INTERNAL, R.REJECT_REASON_UNSPECIFIED, "internal error")
    code, reason = row
    if code == C.INTERNAL:
        log.error("internal error in a gRPC method: %r", error)
    retry_after_ms = UNAVAILABLE_RETRY_AFTER_MS if code == C.UNAVAILABLE else 0
    metadata = {"error": type(error).__name__}
    if isinstance(error, common_errors.InvalidAmount):
        metadata["amount_reason"] = error.reason
    return build_status(code, reason, str(error), retry_after_ms=retry_after_ms, metadata=metadata)


def build_status(
    code: grpc.StatusCode,
    reason: int,
    message: str,
    *,
    violations: tuple = (),
    retry_after_ms: int = 0,
    metadata: dict[str, str] | None = None,
) -> status_pb2.Status:
    """Assemble a google.rpc.Status: ErrorInfo always, BadRequest if `violations`, RetryInfo if `retry_after_ms`.

    The message, each violation's description and each metadata value are shortened to their bounds.
    """
    info_metadata = {key: shortened(value, DETAIL_CHARS_MAX) for key, value in (metadata or {}).items()}
    if retry_after_ms:
        info_metadata["retry_after_ms"] = str(retry_after_ms)
    details = [error_details_pb2.ErrorInfo(reason=reason_name(reason), domain=DOMAIN, metadata=info_metadata)]
    if violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=shortened(v.description, DETAIL_CHARS_MAX),
                        reason=reason_name(v.reason),
                    )
                    for v in violations
                ]
            )
        )
    if retry_after_ms:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(retry_after_ms)
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    assert code_pb2.Code.Name(code.value[0]) == code.name, code  # grpc's and google.rpc's numbering agree
    return status_pb2.Status(code=code.value[0], message=shortened(message, MESSAGE_CHARS_MAX), details=packed)


def abort(context: grpc.ServicerContext, status: status_pb2.Status) -> None:
    """End the call with `status` (raises, as ServicerContext.abort does)."""
    context.abort_with_status(rpc_status.to_status(status))
