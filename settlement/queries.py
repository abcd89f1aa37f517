"""Read-only queries over Settlement's tables, for the gateway (it imports these instead of writing CQL itself).

Every query reads one partition at a time (no ALLOW FILTERING, no scans). Lists page as docs/decisions.md says:
`page_size` (default 100, at most 1000), an opaque `page_token`, and `next_page_token` ("" on the last page);
lists by time take `[start_time_ns, end_time_ns)` (0 = unbounded) and come newest first. A list by time walks the
owner's non-empty time buckets (from `time_buckets`) newest first, reading at most `BUCKET_READS_PER_PAGE_MAX`
of them per page; filters (symbol, status, asset) are applied to each page, so a page may hold fewer than
`page_size` rows: only an empty `next_page_token` means the end.

    queries = SettlementQueries(session, keyspace="exchange")   # statements prepared lazily, tables qualified
    page = queries.list_orders(user_id=1001, page_size=50)
    more = queries.list_orders(user_id=1001, page_size=50, page_token=page.next_page_token)

A page token names its list and its owner (user id or symbol) besides the position: the owner of every read comes
from the caller (the gateway takes it from the API key), never from the token, and a token presented for another
owner is refused (InvalidPageToken), so a token cannot be replayed or forged into another user's partition.

Rows come back as dicts with the column names of settlement/migrations (amounts in `*_units`, enums as ints).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from settlement import keys
from settlement.cql import check_keyspace
from settlement.errors import InvalidPageToken

PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 1000
BUCKET_READS_PER_PAGE_MAX = 32
HISTORY_ROWS_MAX = 10_000
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: the rows, and the token of the next page ("" when this is the last)."""

    rows: list[dict[str, Any]]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class TimeList:
    """A table listed by time: its partition key (owner columns + bucket) and its clustering columns (DESC)."""

    name: str
    table: str
    scope: str
    owner_columns: tuple[str, ...]
    clustering: tuple[str, ...]
    bucket_of: Callable[[int], int]


ORDERS_BY_TIME = TimeList("orders", "orders_by_user_time", keys.SCOPE_ORDERS, ("user_id",),
                          ("created_ns", "order_id", "client_order_id"), keys.user_bucket)
FILLS_BY_TIME = TimeList("fills", "trades_by_user", keys.SCOPE_FILLS, ("user_id",),
                         ("ts_event_ns", "trade_id", "is_maker"), keys.user_bucket)
LEDGER_BY_TIME = TimeList("ledger", "ledger_by_user", keys.SCOPE_LEDGER, ("user_id",),
                          ("ts_event_ns", "event_id"), keys.user_bucket)
MARKET_TRADES_BY_TIME = TimeList("trades", "market_trades", keys.SCOPE_MARKET_TRADES, ("symbol",),
                                 ("ts_event_ns", "trade_id"), keys.market_bucket)


def encode_token(kind: str, owner: str, *position: Any) -> str:
    """An opaque page token: the list's kind, whose list it is, and where the next page starts."""
    return base64.urlsafe_b64encode(json.dumps([kind, owner, *position], separators=(",", ":")).encode()).decode()


def decode_token(token: str, kind: str, owner: str, *, length: int) -> list[Any]:
    """The position (`length` values) in `token`; InvalidPageToken unless it is a token of list `kind` of `owner`."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise InvalidPageToken(f"page token {token[:40]!r} is not ours") from error
    if not isinstance(decoded, list) or len(decoded) != 2 + length or decoded[0] != kind:
        raise InvalidPageToken(f"page token is not one of a {kind} list")
    if decoded[1] != owner:
        raise InvalidPageToken("page token belongs to another list owner")
    return decoded[2:]


def _valid_position(bucket: Any, after: Any, clustering_columns: int) -> bool:
    """A decoded time-list position has the shape this module writes (the token is opaque, not trusted)."""
    if type(bucket) is not int or not BIGINT_MIN <= bucket <= BIGINT_MAX:
        return False
    return after is None or (isinstance(after, list) and len(after) == clustering_columns
                             and all(isinstance(value, int | str | bool) for value in after))


def _page_size(page_size: int) -> int:
    if page_size <= 0:
        return PAGE_SIZE_DEFAULT
    return min(page_size, PAGE_SIZE_MAX)


class SettlementQueries:
    """The gateway's read queries; one instance per session (statements are prepared once, on first use)."""

    def __init__(self, session: Session, *, keyspace: str | None = None) -> None:
        self.session = session
        self.keyspace = check_keyspace(keyspace or session.keyspace or "")
        self.prepared: dict[str, PreparedStatement] = {}

    def _statement(self, cql: str) -> PreparedStatement:
        statement = self.prepared.get(cql)
        if statement is None:
            # Table names are qualified: a prepared statement must not depend on the session's current keyspace.
            statement = self.session.prepare(cql.replace(" FROM ", f" FROM {self.keyspace}.", 1))
            self.prepared[cql] = statement
        return statement

    def _rows(self, cql: str, values: Sequence[Any]) -> list[dict[str, Any]]:
        return [row._asdict() for row in self.session.execute(self._statement(cql), values)]

    # -- balances, transfers --------------------------------------------------------------------------------

    def get_balances(self, *, user_id: int) -> list[dict[str, Any]]:
        """Every asset balance of the user (GetBalances), by asset id."""
        return self._rows("SELECT * FROM user_balances WHERE user_id = ?", [user_id])

    def get_transfer(self, *, user_id: int, request_id: str) -> dict[str, Any] | None:
        """The transfer with this idempotency key of the user (GetTransfer), None if Settlement has not seen it."""
        rows = self._rows("SELECT * FROM transfers WHERE user_id = ? AND request_id = ?", [user_id, request_id])
        return rows[0] if rows else None

    # -- orders ---------------------------------------------------------------------------------------------

    def get_order(self, *, user_id: int, order_id: int) -> dict[str, Any] | None:
        """The latest state of one of the user's orders by id; None if unknown or not the user's."""
        row = self.find_order(order_id=order_id)
        return row if row is not None and row["user_id"] == user_id else None

    def find_order(self, *, order_id: int) -> dict[str, Any] | None:
        """The latest state of order `order_id`, whoever owns it; None if Settlement has not seen it. One read, so
        the gateway tells "someone else's" (PERMISSION_DENIED) from "nobody's" (NOT_FOUND) from the same row."""
        rows = self._rows("SELECT * FROM orders WHERE order_block = ? AND order_id = ?",
                          [keys.id_block(order_id), order_id])
        return rows[0] if rows else None

    def get_order_by_client_id(self, *, user_id: int, client_order_id: str) -> dict[str, Any] | None:
        """The latest state of the user's order with this client order id, refused orders included (order_id 0)."""
        rows = self._rows("SELECT * FROM order_history WHERE user_id = ? AND client_order_id = ? LIMIT 1",
                          [user_id, client_order_id])
        if not rows:
            return None
        latest = {name.removeprefix("latest_"): value for name, value in rows[0].items() if name.startswith("latest_")}
        return {"user_id": user_id, "client_order_id": client_order_id, **latest}

    def order_lifecycle(self, *, user_id: int, client_order_id: str) -> list[dict[str, Any]]:
        """Every recorded change of the order, in order (source, then seq or event id)."""
        cql = (f"SELECT source, position, status, filled_qty_units, filled_quote_units, remaining_qty_units, reason, "
               f"ts_event_ns FROM order_history WHERE user_id = ? AND client_order_id = ? LIMIT {HISTORY_ROWS_MAX}")
        return [row for row in self._rows(cql, [user_id, client_order_id]) if row["source"] is not None]

    def list_open_orders(self, *, user_id: int, symbol: str = "", page_size: int = 0, page_token: str = "") -> Page:
        """The user's open orders (ListOrders open_only), by market then order id."""
        size = _page_size(page_size)
        select = "SELECT * FROM open_orders WHERE user_id = ?"
        limit = size + 1  # one more than the page: a token only when there is more
        if page_token:
            after_symbol, after_order_id = decode_token(page_token, "open", str(user_id), length=2)
            if not isinstance(after_symbol, str) or not isinstance(after_order_id, int):
                raise InvalidPageToken("page token is not one of an open orders list")
            if symbol:
                rows = self._rows(f"{select} AND symbol = ? AND order_id > ? LIMIT ?",
                                  [user_id, symbol, after_order_id, limit])
            else:
                rows = self._rows(f"{select} AND (symbol, order_id) > (?, ?) LIMIT ?",
                                  [user_id, after_symbol, after_order_id, limit])
        elif symbol:
            rows = self._rows(f"{select} AND symbol = ? LIMIT ?", [user_id, symbol, limit])
        else:
            rows = self._rows(f"{select} LIMIT ?", [user_id, limit])
        if len(rows) <= size:
            return Page(rows, "")
        del rows[size:]
        return Page(rows, encode_token("open", str(user_id), rows[-1]["symbol"], rows[-1]["order_id"]))

    def list_orders(
        self, *, user_id: int, symbol: str = "", statuses: Collection[int] = (), start_time_ns: int = 0,
        end_time_ns: int = 0, page_size: int = 0, page_token: str = "",
    ) -> Page:
        """The user's orders created in [start, end), newest first (ListOrders), refused ones included."""
        wanted = frozenset(statuses)

        def keep(row: dict[str, Any]) -> bool:
            return (not symbol or row["symbol"] == symbol) and (not wanted or row["status"] in wanted)

        return self._time_page(ORDERS_BY_TIME, (user_id,), str(user_id), start_time_ns, end_time_ns, page_size,
                               page_token, keep)

    def list_fills(
        self, *, user_id: int, symbol: str = "", start_time_ns: int = 0, end_time_ns: int = 0, page_size: int = 0,
        page_token: str = "",
    ) -> Page:
        """The user's fills in [start, end), newest first (ListFills); one row per side the user was on."""
        return self._time_page(FILLS_BY_TIME, (user_id,), str(user_id), start_time_ns, end_time_ns, page_size,
                               page_token, lambda row: not symbol or row["symbol"] == symbol)

    def list_market_trades(
        self, *, symbol: str, start_time_ns: int = 0, end_time_ns: int = 0, page_size: int = 0, page_token: str = "",
    ) -> Page:
        """A market's public trades in [start, end), newest first (ListTrades)."""
        return self._time_page(MARKET_TRADES_BY_TIME, (symbol,), symbol, start_time_ns, end_time_ns, page_size,
                               page_token, lambda row: True)

    def list_ledger(
        self, *, user_id: int, asset_id: int = 0, start_time_ns: int = 0, end_time_ns: int = 0, page_size: int = 0,
        page_token: str = "",
    ) -> Page:
        """The user's balance events in [start, end), newest first (ListLedger); asset_id 0 = every asset."""
        return self._time_page(LEDGER_BY_TIME, (user_id,), str(user_id), start_time_ns, end_time_ns, page_size,
                               page_token, lambda row: not asset_id or row["asset_id"] == asset_id)

    # -- lists by time ----------------------------------------------------------------------------------------

    def _time_page(
        self, spec: TimeList, owner: tuple[Any, ...], owner_text: str, start_ns: int, end_ns: int, page_size: int,
        page_token: str, keep: Callable[[dict[str, Any]], bool],
    ) -> Page:
        size = _page_size(page_size)
        resume_bucket: int | None = None
        resume_after: list[Any] | None = None
        if page_token:
            resume_bucket, resume_after = decode_token(page_token, spec.name, owner_text, length=2)
            if not _valid_position(resume_bucket, resume_after, len(spec.clustering)):
                raise InvalidPageToken(f"page token is not one of a {spec.name} list")
        low = spec.bucket_of(start_ns) if start_ns > 0 else BIGINT_MIN
        high = spec.bucket_of(end_ns - 1) if end_ns > 0 else BIGINT_MAX
        if resume_bucket is not None:
            high = min(high, resume_bucket)
        buckets = [row["bucket"] for row in self._rows(
            "SELECT bucket FROM time_buckets WHERE scope = ? AND owner = ? AND bucket >= ? AND bucket <= ? LIMIT ?",
            [spec.scope, owner_text, low, high, BUCKET_READS_PER_PAGE_MAX + 1])]
        rows: list[dict[str, Any]] = []
        for reads, bucket in enumerate(buckets):
            if reads == BUCKET_READS_PER_PAGE_MAX:
                return Page(rows, encode_token(spec.name, owner_text, bucket, None))
            after = resume_after if bucket == resume_bucket else None
            want = size - len(rows)
            fetched = self._bucket_rows(spec, owner, bucket, start_ns, end_ns, after, want + 1)  # +1: is there more?
            more_here = len(fetched) > want
            if more_here:
                del fetched[want:]
            rows.extend(row for row in fetched if keep(row))
            if more_here:
                last = fetched[-1]
                return Page(rows, encode_token(spec.name, owner_text, bucket, [last[name] for name in spec.clustering]))
            if len(fetched) == want and reads + 1 < len(buckets):  # full at this bucket's end: go on at the next
                return Page(rows, encode_token(spec.name, owner_text, buckets[reads + 1], None))
        return Page(rows, "")

    def _bucket_rows(
        self, spec: TimeList, owner: tuple[Any, ...], bucket: int, start_ns: int, end_ns: int,
        after: list[Any] | None, limit: int,
    ) -> list[dict[str, Any]]:
        """Rows of one bucket partition in [start, end) (and after `after`, newest first), at most `limit`."""
        first = spec.clustering[0]
        where = " AND ".join(f"{name} = ?" for name in (*spec.owner_columns, "bucket"))
        values: list[Any] = [*owner, bucket, max(start_ns, 0)]
        cql = f"SELECT * FROM {spec.table} WHERE {where} AND ({first}) >= (?)"
        if after is None:
            cql += f" AND ({first}) < (?)"
            values.append(end_ns if end_ns > 0 else BIGINT_MAX)
        else:
            names = ", ".join(spec.clustering)
            markers = ", ".join("?" for _ in spec.clustering)
            cql += f" AND ({names}) < ({markers})"
            values.extend(after)
        return self._rows(cql + " LIMIT ?", [*values, limit])
