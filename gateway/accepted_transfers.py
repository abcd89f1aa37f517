"""Transfers accepted to Kafka whose outcome may not be readable yet, so GetTransfer can answer PENDING.

A transfer is in the database only once UBSCore applied (or refused) it and Settlement stored that; until then
the gateway knows it from two sources, both kept here by (user id, request id):

- its own TransferIn/TransferOut, recorded once Kafka acknowledged the record (`record`);
- every `balance.operations` record, whichever gateway produced it, read live by a follower from the topic's
  end at this gateway's start (`observe_request`).

Limits: bounded to the last `accepted_max` transfers (the oldest forgotten first); in memory, so a transfer
accepted before this gateway started and still unapplied reads NOT_FOUND here; another gateway's transfer is
known after the follower's read (milliseconds), not at its acknowledgement. The first record of a request id
stands (UBSCore applies the first one only).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from exchange.v1 import balance_pb2

ACCEPTED_MAX = 65_536


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptedTransfer:
    """A transfer request Kafka holds, in units."""

    request_id: str
    user_id: int
    asset_id: int
    amount_units: int
    operation: int  # exchange.v1.BalanceOperation
    created_ns: int  # the request's ts_event_ns


class AcceptedTransfers:
    """The last `accepted_max` accepted transfers; written by gRPC workers and the follower, read by GetTransfer."""

    def __init__(self, accepted_max: int = ACCEPTED_MAX) -> None:
        assert accepted_max > 0, accepted_max
        self.accepted_max = accepted_max
        self._accepted: OrderedDict[tuple[int, str], AcceptedTransfer] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, transfer: AcceptedTransfer) -> None:
        """Remember a transfer (the first one of its request id stands)."""
        with self._lock:
            self._accepted.setdefault((transfer.user_id, transfer.request_id), transfer)
            while len(self._accepted) > self.accepted_max:
                self._accepted.popitem(last=False)

    def observe_request(self, request: balance_pb2.BalanceRequest) -> None:
        """A record of `balance.operations` (any gateway's): remember it if it is a transfer with a request id."""
        transfer_operations = (balance_pb2.BALANCE_OPERATION_TRANSFER_IN, balance_pb2.BALANCE_OPERATION_TRANSFER_OUT)
        if request.operation not in transfer_operations or not request.request_id:
            return
        self.record(AcceptedTransfer(
            request_id=request.request_id, user_id=request.user_id, asset_id=request.asset_id,
            amount_units=request.amount_units, operation=request.operation, created_ns=request.ts_event_ns,
        ))  # fmt: skip

    def get(self, user_id: int, request_id: str) -> AcceptedTransfer | None:
        """The accepted transfer, or None if this gateway has not seen it (or has forgotten it)."""
        with self._lock:
            return self._accepted.get((user_id, request_id))
