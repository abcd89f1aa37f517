"""gateway.reads decides NOT_FOUND / PERMISSION_DENIED / the row from one read, and refuses an inverted time range.

GetOrder used to read the order twice (the caller's row, then its owner): an order stored between the two reads
was answered "not yours" to its own owner. The stand-in below answers the way the `orders` table does.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from common.markets import load_catalog
from exchange.v1 import common_pb2, trading_service_pb2
from gateway.errors import Refused
from gateway.reads import Reads

R = common_pb2.RejectReason
ALICE, BOB = 1001, 1002


class OrdersTable:
    """`find_order` (GetOrder by id's one query; a row appears after `reads_before_stored` reads) and an empty
    `list_fills`."""

    def __init__(self, row: dict[str, Any], *, reads_before_stored: int = 0) -> None:
        self.row = row
        self.reads_before_stored = reads_before_stored
        self.reads = 0

    def find_order(self, *, order_id: int) -> dict[str, Any] | None:
        self.reads += 1
        return self.row if order_id == self.row["order_id"] and self.reads > self.reads_before_stored else None

    def list_fills(self, **_filters: Any) -> SimpleNamespace:
        return SimpleNamespace(rows=[], next_page_token="")


def _row(user_id: int) -> dict[str, Any]:
    return {
        "order_id": 42, "user_id": user_id, "client_order_id": "c1", "symbol": "BTC_USDT", "side": common_pb2.SIDE_BUY,
        "order_type": common_pb2.ORDER_TYPE_LIMIT, "time_in_force": common_pb2.TIME_IN_FORCE_GTC,
        "price_units": 4_500_000_000, "qty_units": 50_000_000, "quote_budget_units": 0, "filled_qty_units": 0,
        "filled_quote_units": 0, "status": common_pb2.ORDER_STATUS_NEW, "reject_reason": 0, "created_ns": 1,
        "updated_ns": 1, "post_only": False, "self_trade_mode": 0,
    }


def _reads(table: OrdersTable) -> Reads:
    return Reads(load_catalog(), table)  # type: ignore[arg-type]  # the stand-in has the one method used


def _refusal(reads: Reads, user_id: int, order_id: int) -> int:
    with pytest.raises(Refused) as refused:
        reads.get_order(user_id, trading_service_pb2.GetOrderRequest(order_id=order_id))
    return refused.value.reason


def test_the_owner_gets_the_order_from_a_single_read() -> None:
    table = OrdersTable(_row(ALICE))
    order = _reads(table).get_order(ALICE, trading_service_pb2.GetOrderRequest(order_id=42))
    assert (order.order_id, order.client_order_id, table.reads) == (42, "c1", 1)


def test_another_users_order_is_permission_denied_and_an_unknown_one_not_found() -> None:
    reads = _reads(OrdersTable(_row(BOB)))
    assert _refusal(reads, ALICE, 42) == R.REJECT_REASON_PERMISSION_DENIED
    assert _refusal(reads, ALICE, 43) == R.REJECT_REASON_NOT_FOUND


def test_an_order_stored_while_it_is_read_is_never_called_someone_elses() -> None:
    """The row is missing on the first read and there on any later one (Settlement storing it meanwhile)."""
    table = OrdersTable(_row(ALICE), reads_before_stored=1)
    assert _refusal(_reads(table), ALICE, 42) == R.REJECT_REASON_NOT_FOUND  # not yet stored: not found, not 403
    assert _reads(table).get_order(ALICE, trading_service_pb2.GetOrderRequest(order_id=42)).order_id == 42


@pytest.mark.parametrize(
    ("start_ns", "end_ns", "refused"), [(10, 5, True), (5, 5, False), (5, 10, False), (10, 0, False)]
)
def test_an_inverted_time_range_is_invalid_argument(start_ns: int, end_ns: int, refused: bool) -> None:
    request = trading_service_pb2.ListFillsRequest(start_time_ns=start_ns, end_time_ns=end_ns)
    reads = _reads(OrdersTable(_row(ALICE)))
    if not refused:
        assert not reads.list_fills(ALICE, request).fills
        return
    with pytest.raises(Refused) as caught:
        reads.list_fills(ALICE, request)
    assert caught.value.reason == R.REJECT_REASON_INVALID_REQUEST
    assert [violation.field for violation in caught.value.violations] == ["end_time_ns"]
