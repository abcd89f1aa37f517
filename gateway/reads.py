"""The query RPCs (GetOrder, ListOrders, ListFills, GetBalances, GetTransfer, ListLedger, ListTrades): read
Settlement's tables through settlement/queries.py, read-only, and answer with decimal strings (gateway.row_views).

The account is always the caller's (the API key's user id); only an operator (the `transfer` role) may name
another user, on GetTransfer. Another user's order or transfer is PERMISSION_DENIED (issue 10); an id nobody
has is NOT_FOUND. A transfer has no row here until UBSCore has applied or refused it and Settlement has stored
that; meanwhile GetTransfer answers PENDING from the gateway's record of accepted transfers (gateway.account,
gateway.accepted_transfers) rather than this NOT_FOUND. A page token is opaque and bound to its list and owner; a
bad one is INVALID_ARGUMENT. The CQL server unreachable or timing out is UNAVAILABLE (retriable), with a plain
message: the driver's detail (hosts, addresses) goes to the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from cassandra import OperationTimedOut, RequestExecutionException
from cassandra.cluster import NoHostAvailable

from common.errors import Unavailable
from common.markets import MarketCatalog
from common.quoting import quoted
from exchange.v1 import account_service_pb2, common_pb2, market_data_service_pb2, trading_service_pb2
from gateway.auth import Principal, Role
from gateway.errors import FieldViolation, Refused
from gateway.row_views import (
    balance_from_row,
    fill_from_row,
    ledger_entry_from_row,
    order_from_row,
    public_trade_from_row,
    transfer_from_row,
)
from gateway.validation import id_violation
from settlement.errors import InvalidPageToken
from settlement.queries import SettlementQueries

R = common_pb2.RejectReason
OPEN_STATUSES = frozenset({common_pb2.ORDER_STATUS_NEW, common_pb2.ORDER_STATUS_PARTIALLY_FILLED})
DATABASE_UNAVAILABLE = "the database is unavailable; retry"  # what a client reads (UNAVAILABLE, with RetryInfo)

log = logging.getLogger(__name__)


@contextmanager
def _database() -> Iterator[None]:
    """Driver failures to reach the database become Unavailable with a plain message (the driver's names the hosts:
    that detail is logged, not sent); a bad page token becomes INVALID_ARGUMENT."""
    try:
        yield
    except InvalidPageToken as error:
        raise _invalid("page_token", str(error)) from error
    # Unavailable: the LazySession not connected yet (gateway.cql), its message naming the hosts too.
    except (NoHostAvailable, OperationTimedOut, RequestExecutionException, Unavailable) as error:
        log.warning("database unreachable: %s", error)
        raise Unavailable(DATABASE_UNAVAILABLE) from error


def _invalid(field: str, description: str, reason: int = R.REJECT_REASON_INVALID_REQUEST) -> Refused:
    return Refused.from_violations([FieldViolation(field=field, reason=reason, description=description)])


def _check_id(field: str, value: int) -> None:
    """Refuse an id no table can hold: the proto's uint64 reaches 2**64 - 1, CQL's bigint (and every id) 2**63 - 1."""
    violation = id_violation(field, value)
    if violation is not None:
        raise Refused.from_violations([violation])


def _check_time_range(start_time_ns: int, end_time_ns: int) -> None:
    if start_time_ns < 0:
        raise _invalid("start_time_ns", "must not be negative")
    if end_time_ns < 0:
        raise _invalid("end_time_ns", "must not be negative")
    if end_time_ns and start_time_ns > end_time_ns:  # end 0 means "now": any start is fine
        raise _invalid("end_time_ns", "must not be before start_time_ns")


class Reads:
    """The query RPCs' logic, shared by the three servicers; one instance per gateway."""

    def __init__(self, catalog: MarketCatalog, queries: SettlementQueries) -> None:
        self.catalog = catalog
        self.queries = queries

    def _symbol(self, symbol: str, *, required: bool = False) -> str:
        if not symbol and required:
            raise _invalid("symbol", "a market is required", R.REJECT_REASON_MISSING_FIELD)
        if symbol and symbol not in self.catalog.markets:
            raise _invalid("symbol", f"no market {quoted(symbol)}", R.REJECT_REASON_UNKNOWN_MARKET)
        return symbol

    # -- orders and fills -------------------------------------------------------------------------------------

    def get_order(self, user_id: int, request: trading_service_pb2.GetOrderRequest) -> trading_service_pb2.Order:
        """The caller's order by id, else by client order id (refused orders too)."""
        _check_id("order_id", request.order_id)
        with _database():
            if request.order_id:
                # One read for both questions: two could see the row appear in between and call it someone else's.
                row = self.queries.find_order(order_id=request.order_id)
                if row is not None and row["user_id"] != user_id:
                    raise Refused(R.REJECT_REASON_PERMISSION_DENIED, f"order {request.order_id} is not yours")
            elif request.client_order_id:
                row = self.queries.get_order_by_client_id(user_id=user_id, client_order_id=request.client_order_id)
            else:
                raise _invalid("order_id", "name the order by id or client order id", R.REJECT_REASON_MISSING_FIELD)
        if row is None:
            raise Refused(R.REJECT_REASON_NOT_FOUND, "no such order among yours")
        return order_from_row(row, self.catalog)

    def list_orders(
        self, user_id: int, request: trading_service_pb2.ListOrdersRequest
    ) -> trading_service_pb2.ListOrdersResponse:
        """Open orders (open_only) by market and id, or the order history newest first."""
        symbol = self._symbol(request.symbol)
        _check_time_range(request.start_time_ns, request.end_time_ns)
        with _database():
            if request.open_only:
                page = self.queries.list_open_orders(
                    user_id=user_id, symbol=symbol, page_size=request.page_size, page_token=request.page_token
                )
                wanted = frozenset(request.statuses) or OPEN_STATUSES
                start, end = request.start_time_ns, request.end_time_ns
                rows = [row for row in page.rows if (row["status"] or 0) in wanted
                        and start <= (row["created_ns"] or 0) and (not end or (row["created_ns"] or 0) < end)]
            else:
                page = self.queries.list_orders(
                    user_id=user_id, symbol=symbol, statuses=request.statuses, start_time_ns=request.start_time_ns,
                    end_time_ns=request.end_time_ns, page_size=request.page_size, page_token=request.page_token,
                )
                rows = page.rows
        return trading_service_pb2.ListOrdersResponse(
            orders=[order_from_row(row, self.catalog) for row in rows], next_page_token=page.next_page_token
        )

    def list_fills(
        self, user_id: int, request: trading_service_pb2.ListFillsRequest
    ) -> trading_service_pb2.ListFillsResponse:
        """The caller's fills, newest first."""
        symbol = self._symbol(request.symbol)
        _check_time_range(request.start_time_ns, request.end_time_ns)
        with _database():
            page = self.queries.list_fills(
                user_id=user_id, symbol=symbol, start_time_ns=request.start_time_ns, end_time_ns=request.end_time_ns,
                page_size=request.page_size, page_token=request.page_token,
            )
        return trading_service_pb2.ListFillsResponse(
            fills=[fill_from_row(row, self.catalog) for row in page.rows], next_page_token=page.next_page_token
        )

    # -- account ------------------------------------------------------------------------------------------------

    def balances(self, user_id: int) -> list[account_service_pb2.Balance]:
        """Every asset balance of the user, by asset id."""
        with _database():
            rows = self.queries.get_balances(user_id=user_id)
        return [balance_from_row(row, self.catalog) for row in rows]

    def get_transfer(
        self, principal: Principal, request: account_service_pb2.GetTransferRequest
    ) -> account_service_pb2.Transfer:
        """One transfer by request id: the caller's own, or (operators) the named user's."""
        if not request.request_id:
            raise _invalid("request_id", "the transfer's request id is required", R.REJECT_REASON_MISSING_FIELD)
        _check_id("user_id", request.user_id)
        user_id = request.user_id or principal.user_id
        if user_id != principal.user_id and Role.TRANSFER not in principal.roles:
            raise Refused(R.REJECT_REASON_PERMISSION_DENIED, "only an operator key may read another user's transfer")
        with _database():
            row = self.queries.get_transfer(user_id=user_id, request_id=request.request_id)
        if row is None:
            raise Refused(
                R.REJECT_REASON_NOT_FOUND, f"no transfer {quoted(request.request_id)} applied for user {user_id}"
            )
        return transfer_from_row(row, self.catalog)

    def list_ledger(
        self, user_id: int, request: account_service_pb2.ListLedgerRequest
    ) -> account_service_pb2.ListLedgerResponse:
        """The caller's balance events, newest first."""
        asset_id = 0
        if request.asset:
            asset = self.catalog.assets.get(request.asset)
            if asset is None:
                raise _invalid("asset", f"no asset {quoted(request.asset)}", R.REJECT_REASON_UNKNOWN_ASSET)
            asset_id = asset.asset_id
        _check_time_range(request.start_time_ns, request.end_time_ns)
        with _database():
            page = self.queries.list_ledger(
                user_id=user_id, asset_id=asset_id, start_time_ns=request.start_time_ns,
                end_time_ns=request.end_time_ns, page_size=request.page_size, page_token=request.page_token,
            )
        return account_service_pb2.ListLedgerResponse(
            entries=[ledger_entry_from_row(row, self.catalog) for row in page.rows],
            next_page_token=page.next_page_token,
        )

    # -- market data ------------------------------------------------------------------------------------------

    def list_trades(
        self, request: market_data_service_pb2.ListTradesRequest
    ) -> market_data_service_pb2.ListTradesResponse:
        """A market's public trades, newest first."""
        market = self.catalog.markets[self._symbol(request.symbol, required=True)]
        _check_time_range(request.start_time_ns, request.end_time_ns)
        with _database():
            page = self.queries.list_market_trades(
                symbol=market.symbol, start_time_ns=request.start_time_ns, end_time_ns=request.end_time_ns,
                page_size=request.page_size, page_token=request.page_token,
            )
        return market_data_service_pb2.ListTradesResponse(
            trades=[public_trade_from_row(row, market) for row in page.rows], next_page_token=page.next_page_token
        )
