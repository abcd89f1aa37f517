"""Helpers for calling the gateway in tests: the authorization metadata and the google.rpc details of an error."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def bearer(key: str) -> tuple[tuple[str, str]]:
    """gRPC metadata carrying an API key."""
    return (("authorization", f"Bearer {key}"),)


def error_details(error: grpc.RpcError) -> dict[str, object]:
    """ErrorInfo / BadRequest / RetryInfo of a failed call, by type name (from grpc-status-details-bin)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no status details on {error}"
    found: dict[str, object] = {}
    for detail in status.details:
        for message_type in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo):
            if detail.Is(message_type.DESCRIPTOR):
                message = message_type()
                detail.Unpack(message)
                found[message_type.__name__] = message
    return found


def reason_of(error: grpc.RpcError) -> str:
    """The ErrorInfo reason (a RejectReason name) of a failed call."""
    return error_details(error)["ErrorInfo"].reason  # type: ignore[attr-defined]
