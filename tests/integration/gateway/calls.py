"""Helpers for calling the gateway in tests: the authorization metadata, the google.rpc details of an error, and a
reader of server streams."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

UNTIL_TIMEOUT_MS = 90_000  # a stream event can be 10+ s late on the loaded 2-core CI machine


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


class StreamReader(threading.Thread):
    """Reads a server stream on its own thread into a queue (so the test can wait with a deadline)."""

    def __init__(self, stream: Iterator[Any]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.messages: queue.Queue[Any] = queue.Queue()
        self.seen: list[Any] = []

    def run(self) -> None:
        try:
            for message in self.stream:
                self.messages.put(message)
        except grpc.RpcError:  # cancelled at the end of the test
            pass

    def until(self, predicate: Callable[[Any], bool]) -> None:
        """Collect messages (heartbeats skipped) until one satisfies `predicate`."""

        def found() -> bool:
            while not self.messages.empty():
                message = self.messages.get()
                if message.WhichOneof("event") != "heartbeat":
                    self.seen.append(message)
            return any(predicate(message) for message in self.seen)

        deadline_ns = time.monotonic_ns() + UNTIL_TIMEOUT_MS * 1_000_000
        while not found():
            assert time.monotonic_ns() < deadline_ns, f"not seen within {UNTIL_TIMEOUT_MS} ms; seen: {self.seen}"
            time.sleep(0.02)
