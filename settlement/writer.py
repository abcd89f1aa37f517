"""Writes projected rows to CQL: prepared statements, UNLOGGED batches per partition, bounded concurrency, retries.

    rows ──drop the rows later rows of this turn overwrite entirely (settlement/shadow.py)
         ──drop repeated time_buckets rows (of this turn, and those already written)
         ──► group by (table, partition key) ──► encode each row into its BATCH entry (settlement/binding.py) and
             pack them into UNLOGGED batches
         ──► send each batch as soon as it is full, while the next rows are bound (at most `in_flight_max` batches
             in flight, each with a timeout; token-aware routing by the first row)
         ──► failed batches with a retriable error: back off (doubling, capped) and send them again, until every
             batch is acknowledged or `retry_deadline_s` has passed without one succeeding (then raise Unavailable;
             the caller has not committed its input positions, so a restart writes them again: nothing is dropped)

Packing: the rows of one partition go out together in one batch (Cassandra applies them atomically and in
isolation), cut at `batch_rows_max` rows or ~`batch_bytes_max` bytes only when the group alone is larger
(Cassandra refuses batches above 50 KiB). With `coalesce_replicas` (the default) the small groups of partitions
that have the same primary replica share a batch: the coordinator is a replica of every row in it, so no extra
hop is made, and the driver's per-request CPU (the bottleneck here, CEILINGS.md) is paid once per batch instead
of once per partition. With it off, a batch never spans two partitions.

Every write carries its own `USING TIMESTAMP` (settlement/keys.py), so retrying a batch that was partly applied,
or writing rows twice, converges to the same cells.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from cassandra import ConsistencyLevel, CoordinationFailure, OperationTimedOut, ReadTimeout, WriteTimeout
from cassandra import Unavailable as CqlUnavailable
from cassandra.cluster import NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage, ServerError
from cassandra.query import BatchStatement, BatchType

from common.errors import Unavailable
from settlement.binding import Binder, EncodedBatch, use_framed_batches
from settlement.cql import PARTITION_KEYS, PRIMARY_KEYS, REQUEST_TIMEOUT_S, ROW_KEYS, Statements
from settlement.rows import Row
from settlement.shadow import drop_shadowed

IN_FLIGHT_MAX_DEFAULT = 32
BATCH_ROWS_MAX_DEFAULT = 100  # 40 -> 100: ~8 % less client CPU per row (fewer requests), tools/bench/settlement_service
# Below Cassandra's batch_size_fail_threshold (50 KiB, checked on batches spanning partitions): `_estimate_bytes`
# is an upper bound of the size the server counts (12-35 % above it per table, measured from its warnings).
BATCH_BYTES_MAX_DEFAULT = 40 * 1024
RETRY_DEADLINE_S_DEFAULT = 600.0
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 5.0
ROW_OVERHEAD_BYTES = 48
VALUE_OVERHEAD_BYTES = 16  # per cell: what Cassandra counts besides the value (timestamp 8, ttl 4, deletion time 4)
# Immutable rows that many inputs repeat: written once per turn, and not again while remembered as written.
DEDUPED_TABLES = frozenset({"time_buckets"})
WRITTEN_REMEMBERED_MAX = 200_000
# Errors of a server that is down, overloaded or slow: the same write can succeed later. Anything else (an invalid
# statement, a batch too large) is a bug and propagates at once.
RETRIABLE_ERRORS = (NoHostAvailable, OperationTimedOut, ConnectionException, CqlUnavailable, ReadTimeout,
                    WriteTimeout, CoordinationFailure, OverloadedErrorMessage, IsBootstrappingErrorMessage,
                    ServerError)

# A row's partition key values (one value, or a tuple of them), per table: one C call per row.
PARTITION_KEY_OF = {table: itemgetter(*names) for table, names in PARTITION_KEYS.items()}

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WriteStats:
    """What one `write` did (for metrics and benchmarks)."""

    rows: int = 0
    shadowed: int = 0  # rows not sent: later rows of the same call overwrite them entirely
    batches: int = 0
    retries: int = 0
    seconds: float = 0.0


class CqlWriter:
    """Writes rows durably (every batch acknowledged) or raises Unavailable after the retry deadline."""

    def __init__(
        self, session: Session, *, keyspace: str | None = None, in_flight_max: int = IN_FLIGHT_MAX_DEFAULT,
        batch_rows_max: int = BATCH_ROWS_MAX_DEFAULT, batch_bytes_max: int = BATCH_BYTES_MAX_DEFAULT,
        coalesce_replicas: bool = True, retry_deadline_s: float = RETRY_DEADLINE_S_DEFAULT,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        on_rows: Callable[[str, int], None] | None = None, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        assert in_flight_max >= 1, in_flight_max
        assert batch_rows_max >= 1, batch_rows_max
        self.session = session
        self.statements = Statements(session, keyspace or session.keyspace or "")
        self.binders: dict[tuple[str, tuple[str, ...], bool], Binder] = {}
        use_framed_batches(session)  # EncodedBatches go out as encoded (settlement/binding.py)
        self.in_flight_max = in_flight_max
        self.batch_rows_max = batch_rows_max
        self.batch_bytes_max = batch_bytes_max
        self.coalesce_replicas = coalesce_replicas
        self.retry_deadline_s = retry_deadline_s
        self.request_timeout_s = request_timeout_s
        self.written: OrderedDict[tuple[object, ...], None] = OrderedDict()
        self.on_rows = on_rows
        self.sleep = sleep

    def write(self, rows: Sequence[Row]) -> WriteStats:
        """Write every row; return once all are acknowledged (retrying), or raise Unavailable past the deadline."""
        started_ns = time.monotonic_ns()
        kept = drop_shadowed(rows, ROW_KEYS)
        groups, counts, once = self._groups(kept)
        stats = WriteStats(rows=sum(counts.values()), shadowed=len(rows) - len(kept))
        self._execute(self._batches(groups, stats), stats)
        for identity in once:  # acknowledged: no need to write these again while remembered
            self.written[identity] = None
        while len(self.written) > WRITTEN_REMEMBERED_MAX:
            self.written.popitem(last=False)
        if self.on_rows is not None:
            for table, count in counts.items():
                self.on_rows(table, count)
        stats.seconds = (time.monotonic_ns() - started_ns) / 1e9
        return stats

    def _groups(
        self, rows: Sequence[Row]
    ) -> tuple[dict[tuple[object, ...], list[Row]], dict[str, int], set[tuple[object, ...]]]:
        """The rows to write grouped by (table, partition key), the count per table, the deduplicated rows."""
        groups: dict[tuple[object, ...], list[Row]] = {}
        counts: dict[str, int] = {}
        seen: set[tuple[object, ...]] = set()
        for row in rows:
            if row.table in DEDUPED_TABLES:
                identity = (row.table, *row.values.values())
                if identity in seen or identity in self.written:
                    continue
                seen.add(identity)
            groups.setdefault((row.table, PARTITION_KEY_OF[row.table](row.values)), []).append(row)
            counts[row.table] = counts.get(row.table, 0) + 1
        return groups, counts, seen

    def _binder(self, table: str, columns: tuple[str, ...], delete: bool) -> Binder:
        """The binder of the statement for these columns; preparing a new one is retried like a write (the server
        may be down exactly when a new column set first appears)."""
        binder = self.binders.get((table, columns, delete))
        if binder is None:
            statement = call_with_retries(lambda: self.statements.for_row(table, columns, delete=delete),
                                          what=f"prepare for {table}", deadline_s=self.retry_deadline_s,
                                          sleep=self.sleep)
            binder = self.binders[(table, columns, delete)] = Binder.of(statement)  # type: ignore[arg-type]
        return binder

    def _batches(self, groups: dict[tuple[object, ...], list[Row]], stats: WriteStats) -> Iterator[BatchStatement]:
        """Bind the rows group by group and hand out each batch as soon as it is full (then the rest): the first
        batches are on the wire while later rows are still being bound, so client CPU and server work overlap."""
        open_batches: dict[object, tuple[EncodedBatch, list[int]]] = {}  # replica -> (batch, [rows, bytes])
        one_replica = len(self.session.cluster.metadata.all_hosts()) <= 1  # one node: every partition shares it
        for group_key, rows in groups.items():
            bound = [self._bind(row) for row in rows]
            if not self.coalesce_replicas:
                replica: object = group_key
            else:
                replica = None if one_replica else self._replica(*bound[0][:2])
            sizes = [_estimate_bytes(binder, entry) for binder, _, entry in bound]
            for index, ((binder, values, entry), size) in enumerate(zip(bound, sizes, strict=True)):
                # The first row asks room for the whole group: a group that fits a batch is never cut, so a
                # partition's rows of one turn are applied together (GetBalances shows no asset of a turn without
                # the others); only a group larger than a batch is cut, row by row.
                rows_needed, bytes_needed = (len(bound), sum(sizes)) if index == 0 else (1, size)
                current = open_batches.get(replica)
                if current is not None and (current[1][0] + rows_needed > self.batch_rows_max
                                            or current[1][1] + bytes_needed > self.batch_bytes_max):
                    del open_batches[replica]
                    stats.batches += 1
                    yield current[0]
                    current = None
                if current is None:
                    current = (EncodedBatch(batch_type=BatchType.UNLOGGED,
                                            consistency_level=ConsistencyLevel.LOCAL_QUORUM), [0, 0])
                    open_batches[replica] = current
                current[0].add_row(binder, values, entry)
                current[1][0] += 1
                current[1][1] += size
            if not self.coalesce_replicas:
                stats.batches += 1
                yield open_batches.pop(replica)[0]
        for batch, _ in open_batches.values():
            stats.batches += 1
            yield batch

    def _bind(self, row: Row) -> tuple[Binder, dict[str, Any], bytes]:
        binder = self._binder(row.table, PRIMARY_KEYS[row.table] if row.delete else tuple(row.values), row.delete)
        return binder, row.values, binder.encode(row.values, row.timestamp)

    def _replica(self, binder: Binder, values: dict[str, Any]) -> object:
        """The first replica of the row's partition (batches share a replica, hence a coordinator)."""
        routing_key = binder.routing_key(values)
        if routing_key is None:
            return None
        replicas = self.session.cluster.metadata.get_replicas(binder.keyspace, routing_key)
        return replicas[0].endpoint if replicas else None

    def _send_all(self, batches: Iterable[BatchStatement]) -> list[tuple[BatchStatement, BaseException | None]]:
        """Send every batch, at most `in_flight_max` at a time, each with the request timeout; each batch with its
        error (None: acknowledged). The driver's execute_concurrent is not used: it sends without a timeout, so a
        silent server would hang it until the connection's heartbeat gives up."""
        sent: list[BatchStatement] = []
        errors: list[BaseException | None] = []
        done = threading.Condition()
        in_flight = 0

        def finished(_result: object, index: int, error: BaseException | None = None) -> None:
            nonlocal in_flight
            with done:
                errors[index] = error
                in_flight -= 1
                done.notify()

        def failed(error: BaseException, index: int) -> None:
            finished(None, index, error)

        for index, batch in enumerate(batches):
            with done:
                while in_flight >= self.in_flight_max:
                    done.wait()
                in_flight += 1
                errors.append(None)
            sent.append(batch)
            future = self.session.execute_async(batch, timeout=self.request_timeout_s)
            future.add_callbacks(callback=finished, callback_args=(index,), errback=failed, errback_args=(index,))
        with done:
            while in_flight:
                done.wait()
        return list(zip(sent, errors, strict=True))

    def _execute(self, batches: Iterable[BatchStatement], stats: WriteStats) -> None:
        pending: Iterable[BatchStatement] = batches
        backoff_s = BACKOFF_FIRST_S
        deadline_ns = time.monotonic_ns() + int(self.retry_deadline_s * 1e9)
        while True:
            results = self._send_all(pending)
            failed = []
            first_error: BaseException | None = None
            for batch, error in results:
                if error is None:
                    continue
                if not isinstance(error, RETRIABLE_ERRORS):
                    raise error
                failed.append(batch)
                first_error = first_error or error
            if len(failed) < len(results):
                deadline_ns = time.monotonic_ns() + int(self.retry_deadline_s * 1e9)  # progress: a new deadline
                backoff_s = BACKOFF_FIRST_S
            pending = failed
            if not failed:
                return
            if time.monotonic_ns() > deadline_ns:
                raise Unavailable(
                    f"CQL writes failing for {self.retry_deadline_s:.0f} s ({len(failed)} batches unwritten): "
                    f"{first_error!r}"
                )
            stats.retries += len(failed)
            log.warning("CQL: %d of %d batches failed (%r); retrying in %.2f s",
                        len(failed), stats.batches, first_error, backoff_s)
            self.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)


def _estimate_bytes(binder: Binder, entry: bytes) -> int:
    """An upper estimate of a row's size as the server counts a batch: every bound value (keys and the write
    timestamp included, which are no cells) as a cell of its encoded length plus the per-cell overhead."""
    return ROW_OVERHEAD_BYTES + VALUE_OVERHEAD_BYTES * binder.markers + len(entry) - binder.framing_bytes


def call_with_retries(
    operation: Callable[[], object], *, what: str, deadline_s: float = RETRY_DEADLINE_S_DEFAULT,
    sleep: Callable[[float], None] = time.sleep,
) -> object:
    """Run a CQL read, retrying retriable errors with backoff until `deadline_s`; then raise Unavailable."""
    backoff_s = BACKOFF_FIRST_S
    deadline_ns = time.monotonic_ns() + int(deadline_s * 1e9)
    while True:
        try:
            return operation()
        except RETRIABLE_ERRORS as error:
            if time.monotonic_ns() > deadline_ns:
                raise Unavailable(f"CQL {what} failing for {deadline_s:.0f} s: {error!r}") from error
            log.warning("CQL %s failed (%r); retrying in %.2f s", what, error, backoff_s)
            sleep(backoff_s)
            backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
