"""Rows of real matcher outputs (the pure engine) and balance events, written by CqlWriter into a private keyspace
and read back through settlement/queries.py, the gateway's read API: each query, its paging and its filters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from common.markets import load_catalog
from exchange.v1 import account_service_pb2, balance_pb2, common_pb2, engine_pb2, ubscore_pb2
from settlement import keys
from settlement.cql import connect
from settlement.errors import InvalidPageToken
from settlement.projection import project_balance_event, project_output
from settlement.queries import Page, SettlementQueries, encode_token
from settlement.rows import Row
from settlement.writer import CqlWriter
from tests.unit.settlement.conftest import TS_BASE_NS, OutputMaker
from tools.infra.layout import CQL_PORT, HOST

pytestmark = pytest.mark.integration

MARKETS = load_catalog().markets
PRICE = 45_000_000_000
LOT = 10_000
DAY = keys.NS_PER_DAY
ALICE, BOB = 1001, 1002


def write_outputs(writer: CqlWriter, outputs: list[engine_pb2.EngineOutput]) -> None:
    created: dict[int, int] = {}
    rows: list[Row] = []
    for output in outputs:
        projected = project_output(output, markets=MARKETS, created_ns=created)
        created.update(projected.created)
        rows.extend(projected.rows)
    writer.write(rows)


def all_pages(fetch: Callable[[str], Page]) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    token, pages = "", 0
    while True:
        page = fetch(token)
        rows.extend(page.rows)
        pages += 1
        token = page.next_page_token
        if not token:
            return rows, pages


@pytest.fixture(scope="module")
def loaded(module_keyspace: str) -> Iterator[SettlementQueries]:
    """Alice rests 6 buys over 3 days; Bob sells into two of them on day 3; Alice cancels one; transfers."""
    maker = OutputMaker(shard_id=1)
    outputs = [
        maker.place(order_id=order_id, user_id=ALICE, side=common_pb2.SIDE_BUY, price_units=PRICE - order_id * 10_000,
                    qty_units=LOT, ts_ns=TS_BASE_NS + (order_id - 1) // 2 * DAY + order_id)
        for order_id in range(1, 7)
    ]
    outputs.append(maker.place(order_id=7, user_id=BOB, side=common_pb2.SIDE_SELL, price_units=PRICE - 60_000,
                               qty_units=2 * LOT, ts_ns=TS_BASE_NS + 2 * DAY + 100))
    outputs.append(maker.cancel(order_id=3, user_id=ALICE, ts_ns=TS_BASE_NS + 2 * DAY + 200))
    session = connect([HOST], CQL_PORT, module_keyspace)
    writer = CqlWriter(session, batch_rows_max=7)  # small batches: many of them, some spanning partitions
    write_outputs(writer, outputs)
    events = [
        balance_pb2.BalanceEvent(event_id=1, user_id=ALICE, asset_id=2, type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED,
                                 delta_available_units=500, available_units=500, version=1, request_id="dep-1",
                                 ts_event_ns=TS_BASE_NS, operation=balance_pb2.BALANCE_OPERATION_TRANSFER_IN),
        balance_pb2.BalanceEvent(event_id=2, user_id=ALICE, asset_id=1, type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED,
                                 delta_available_units=9, available_units=9, version=1, request_id="dep-2",
                                 ts_event_ns=TS_BASE_NS + DAY, operation=balance_pb2.BALANCE_OPERATION_TRANSFER_IN),
        balance_pb2.BalanceEvent(event_id=3, user_id=ALICE, asset_id=2,
                                 type=balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED, request_id="wd-1",
                                 reject_reason=common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS,
                                 ts_event_ns=TS_BASE_NS + DAY + 1,
                                 operation=balance_pb2.BALANCE_OPERATION_TRANSFER_OUT),
        balance_pb2.BalanceEvent(event_id=4, user_id=ALICE, asset_id=2,
                                 type=balance_pb2.BALANCE_EVENT_TYPE_ORDER_REJECTED,
                                 reject_reason=common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, client_order_id="big-1",
                                 symbol="BTC_USDT", ts_event_ns=TS_BASE_NS + 3 * DAY,
                                 order=ubscore_pb2.OrderRequest(user_id=ALICE, client_order_id="big-1",
                                                                symbol="BTC_USDT", side=common_pb2.SIDE_BUY,
                                                                price_units=PRICE, qty_units=10**8,
                                                                ts_event_ns=TS_BASE_NS + 3 * DAY)),
    ]
    writer.write([row for event in events for row in project_balance_event(event)])
    yield SettlementQueries(session)
    session.cluster.shutdown()


def test_balances_and_transfers_read_back(loaded: SettlementQueries) -> None:
    """GetBalances lists each asset at its version; GetTransfer finds completed and refused transfers."""
    balances = {row["asset_id"]: row for row in loaded.get_balances(user_id=ALICE)}
    assert {asset: (row["available_units"], row["version"]) for asset, row in balances.items()} == {
        1: (9, 1), 2: (500, 1)}
    completed = loaded.get_transfer(user_id=ALICE, request_id="dep-1")
    assert completed is not None
    assert (completed["status"], completed["amount_units"]) == (account_service_pb2.TRANSFER_STATUS_COMPLETED, 500)
    refused = loaded.get_transfer(user_id=ALICE, request_id="wd-1")
    assert refused is not None
    assert refused["status"] == account_service_pb2.TRANSFER_STATUS_REJECTED
    assert loaded.get_transfer(user_id=BOB, request_id="dep-1") is None


def test_get_order_by_id_and_by_client_id_including_refused(loaded: SettlementQueries) -> None:
    """Latest state by id (only for its owner), by client order id, a refused order by client order id only."""
    canceled = loaded.get_order(user_id=ALICE, order_id=3)
    assert canceled is not None
    assert canceled["status"] == common_pb2.ORDER_STATUS_CANCELED
    assert canceled["created_ns"] == TS_BASE_NS + DAY + 3
    assert loaded.get_order(user_id=BOB, order_id=3) is None
    filled = loaded.get_order_by_client_id(user_id=ALICE, client_order_id="c1")
    assert filled is not None
    assert (filled["order_id"], filled["status"]) == (1, common_pb2.ORDER_STATUS_FILLED)
    lifecycle = loaded.order_lifecycle(user_id=ALICE, client_order_id="c1")
    assert [row["status"] for row in lifecycle] == [common_pb2.ORDER_STATUS_NEW, common_pb2.ORDER_STATUS_FILLED]
    refused = loaded.get_order_by_client_id(user_id=ALICE, client_order_id="big-1")
    assert refused is not None
    assert (refused["order_id"], refused["status"]) == (0, common_pb2.ORDER_STATUS_REJECTED)


def test_list_open_orders_pages_by_market_and_id(loaded: SettlementQueries) -> None:
    """Open orders: 4, 5, 6 (1 and 2 filled, 3 canceled), two per page, no repeats; the symbol filter too."""
    rows, pages = all_pages(lambda token: loaded.list_open_orders(user_id=ALICE, page_size=2, page_token=token))
    assert [row["order_id"] for row in rows] == [4, 5, 6]
    assert pages == 2
    only_eth = loaded.list_open_orders(user_id=ALICE, symbol="ETH_USDT")
    assert only_eth.rows == []


def test_list_orders_newest_first_across_day_buckets_with_paging_and_filters(loaded: SettlementQueries) -> None:
    """Every order of Alice once, newest first across 4 day buckets; time window and status filters."""
    rows, _ = all_pages(lambda token: loaded.list_orders(user_id=ALICE, page_size=2, page_token=token))
    assert [(row["order_id"], row["client_order_id"]) for row in rows] == [
        (0, "big-1"), (6, "c6"), (5, "c5"), (4, "c4"), (3, "c3"), (2, "c2"), (1, "c1")]
    window = loaded.list_orders(user_id=ALICE, start_time_ns=TS_BASE_NS + DAY, end_time_ns=TS_BASE_NS + 2 * DAY)
    assert [row["order_id"] for row in window.rows] == [4, 3]
    canceled = loaded.list_orders(user_id=ALICE, statuses=[common_pb2.ORDER_STATUS_CANCELED])
    assert [row["order_id"] for row in canceled.rows] == [3]
    with pytest.raises(InvalidPageToken):
        loaded.list_orders(user_id=ALICE, page_token=loaded.list_open_orders(user_id=ALICE, page_size=1)
                           .next_page_token)


def test_list_fills_and_market_trades(loaded: SettlementQueries) -> None:
    """Bob's sell filled Alice's two best bids: one fill row per side, and two public trades, newest first."""
    alice_fills = loaded.list_fills(user_id=ALICE).rows
    assert [(row["order_id"], row["is_maker"]) for row in alice_fills] == [(2, True), (1, True)]
    bob_fills = loaded.list_fills(user_id=BOB).rows
    assert [(row["order_id"], row["is_maker"], row["fee_asset_id"]) for row in bob_fills] == [
        (7, False, 2), (7, False, 2)]
    trades, _ = all_pages(lambda token: loaded.list_market_trades(symbol="BTC_USDT", page_size=1, page_token=token))
    assert [row["price_units"] for row in trades] == [PRICE - 20_000, PRICE - 10_000]
    assert trades[0]["trade_id"] > trades[1]["trade_id"]


def test_list_ledger_newest_first_with_asset_filter(loaded: SettlementQueries) -> None:
    """Every balance event of Alice newest first; the asset filter keeps one asset."""
    rows, _ = all_pages(lambda token: loaded.list_ledger(user_id=ALICE, page_size=3, page_token=token))
    assert [row["event_id"] for row in rows] == [4, 3, 2, 1]
    btc = loaded.list_ledger(user_id=ALICE, asset_id=1).rows
    assert [row["event_id"] for row in btc] == [2]


def test_a_page_that_ends_its_list_has_no_token(loaded: SettlementQueries) -> None:
    """A full last page says it is the last (no empty page to fetch after it), within a day bucket or across."""
    assert loaded.list_open_orders(user_id=ALICE, page_size=3).next_page_token == ""  # orders 4, 5, 6
    assert loaded.list_orders(user_id=ALICE, page_size=7).next_page_token == ""  # all 7, over 4 day buckets
    assert loaded.list_ledger(user_id=ALICE, page_size=4).next_page_token == ""
    trades, pages = all_pages(lambda token: loaded.list_market_trades(symbol="BTC_USDT", page_size=1,
                                                                      page_token=token))  # fmt: skip
    assert (len(trades), pages) == (2, 2)
    rows, pages = all_pages(lambda token: loaded.list_orders(user_id=ALICE, page_size=2, page_token=token))
    assert (len(rows), pages) == (7, 4)


def test_page_tokens_are_bound_to_their_owner_and_shape(loaded: SettlementQueries) -> None:
    """A token of Alice's list is refused for Bob (it cannot be replayed or forged into another partition),
    and a well-encoded token with a position of the wrong shape is refused rather than sent to CQL."""
    alice_orders = loaded.list_orders(user_id=ALICE, page_size=1).next_page_token
    alice_open = loaded.list_open_orders(user_id=ALICE, page_size=1).next_page_token
    assert alice_orders
    assert alice_open
    with pytest.raises(InvalidPageToken):
        loaded.list_orders(user_id=BOB, page_token=alice_orders)
    with pytest.raises(InvalidPageToken):
        loaded.list_open_orders(user_id=BOB, page_token=alice_open)
    with pytest.raises(InvalidPageToken):
        loaded.list_orders(user_id=ALICE, page_token=encode_token("orders", str(ALICE), "x", [1]))
    with pytest.raises(InvalidPageToken):
        loaded.list_open_orders(user_id=ALICE, page_token=encode_token("open", str(ALICE), 1, "x"))
    assert loaded.list_orders(user_id=ALICE, page_size=1, page_token=alice_orders).rows


def test_find_order_returns_the_row_of_any_owner(loaded: SettlementQueries) -> None:
    """find_order tells "someone else's" (PERMISSION_DENIED at the gateway) from "nobody's" (NOT_FOUND)."""
    assert loaded.find_order(order_id=3)["user_id"] == ALICE
    assert loaded.find_order(order_id=7)["user_id"] == BOB
    assert loaded.find_order(order_id=999) is None
