"""UBSCore's outcome of each transfer, from `balance.events`, for the transfers' `result_wait_ms`.

The balance-event follower hands every event to `observe`; the outcome of a transfer is its DEPOSITED, WITHDRAWN,
DEPOSIT_REJECTED or WITHDRAWAL_REJECTED event, found by (user, request id). Outcomes are kept for the last
`results_max` transfers (bounded), so a waiter that registers after the outcome arrived still finds it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from exchange.v1 import balance_pb2

RESULTS_MAX = 65_536
OUTCOME_TYPES = frozenset({
    balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED,
    balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWN,
    balance_pb2.BALANCE_EVENT_TYPE_DEPOSIT_REJECTED,
    balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED,
})  # fmt: skip
REJECTED_TYPES = frozenset(
    {balance_pb2.BALANCE_EVENT_TYPE_DEPOSIT_REJECTED, balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED}
)


class TransferResults:
    """Transfer outcomes by (user id, request id); `observe` on the follower thread, `wait` on gRPC workers."""

    def __init__(self, results_max: int = RESULTS_MAX) -> None:
        self.results_max = results_max
        self.results: OrderedDict[tuple[int, str], balance_pb2.BalanceEvent] = OrderedDict()
        self._completed_ns: dict[tuple[int, str], int] = {}  # same keys as results
        self.condition = threading.Condition()

    def observe(self, event: balance_pb2.BalanceEvent, record_ns: int = 0) -> None:
        """Keep the event if it is a transfer's outcome; `record_ns`, its Kafka timestamp, is when UBSCore emitted it
        (the transfer's completed_ns, as Settlement stores it; never before the request's own time)."""
        if event.type not in OUTCOME_TYPES or not event.request_id:
            return
        key = (event.user_id, event.request_id)
        with self.condition:
            if key not in self.results:  # the first outcome stands
                self.results[key] = event
                self._completed_ns[key] = max(record_ns, event.ts_event_ns)
            while len(self.results) > self.results_max:
                del self._completed_ns[self.results.popitem(last=False)[0]]
            self.condition.notify_all()

    def completed_ns(self, user_id: int, request_id: str) -> int:
        """When the outcome of the transfer was emitted (0 if it has not come)."""
        with self.condition:
            return self._completed_ns.get((user_id, request_id), 0)

    def get(self, user_id: int, request_id: str) -> balance_pb2.BalanceEvent | None:
        """The outcome event of the transfer if it has come (no waiting)."""
        with self.condition:
            return self.results.get((user_id, request_id))

    def wait(self, user_id: int, request_id: str, *, timeout_ms: int) -> balance_pb2.BalanceEvent | None:
        """The outcome event of the transfer, waiting up to `timeout_ms`; None if it did not come."""
        key = (user_id, request_id)
        with self.condition:
            self.condition.wait_for(lambda: key in self.results, timeout=timeout_ms / 1000)
            return self.results.get(key)
