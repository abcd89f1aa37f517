"""settlement/binding.py against the driver: for the rows of every table Settlement writes, with the statements
prepared by the real server, the request frame of an EncodedBatch (encoded by FramedBatchProtocolHandler) is byte
for byte the frame of the driver's own BatchStatement of the same rows, and both batches route alike."""

from __future__ import annotations

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.protocol import BatchMessage, ProtocolHandler
from cassandra.query import BatchStatement, BatchType

from common.markets import load_catalog
from exchange.v1 import balance_pb2, common_pb2, ubscore_pb2
from settlement.binding import Binder, EncodedBatch, FramedBatchProtocolHandler
from settlement.cql import PARTITION_KEYS, PRIMARY_KEYS, Statements
from settlement.projection import project_balance_event, project_output
from settlement.rows import Row
from settlement.state import chain_row, offset_row
from tests.unit.settlement.conftest import TS_BASE_NS, OutputMaker

PRICE = 45_000_000_000
LOT = 10_000


def rows_of_every_kind() -> list[Row]:
    """Rows of all written tables: a resting order, a trade (maker update), a cancel (delete), transfers, a refused
    order, chain state and a malformed input."""
    maker = OutputMaker()
    markets = load_catalog().markets
    outputs = [
        maker.place(order_id=1, user_id=1001, side=common_pb2.SIDE_SELL, price_units=PRICE, qty_units=3 * LOT),
        maker.place(order_id=2, user_id=1002, side=common_pb2.SIDE_BUY, price_units=PRICE, qty_units=LOT,
                    ts_ns=TS_BASE_NS + 1),
        maker.cancel(order_id=1, user_id=1001, ts_ns=TS_BASE_NS + 2),
    ]
    rows = [row for output in outputs
            for row in project_output(output, markets=markets, created_ns={1: TS_BASE_NS}).rows]
    rows += project_balance_event(balance_pb2.BalanceEvent(
        event_id=5, user_id=1001, asset_id=2, type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED, delta_available_units=7,
        available_units=7, version=1, request_id="dép-1", ts_event_ns=TS_BASE_NS,  # a non-ASCII text
        operation=balance_pb2.BALANCE_OPERATION_TRANSFER_IN))
    rows += project_balance_event(balance_pb2.BalanceEvent(
        event_id=6, user_id=1001, asset_id=2, type=balance_pb2.BALANCE_EVENT_TYPE_ORDER_REJECTED,
        reject_reason=common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, ts_event_ns=TS_BASE_NS, client_order_id="x1",
        symbol="BTC_USDT", order=ubscore_pb2.OrderRequest(user_id=1001, client_order_id="x1", symbol="BTC_USDT",
                                                          side=common_pb2.SIDE_BUY, qty_units=LOT)))
    rows += [chain_row(7, 3, outputs[-1].hash, TS_BASE_NS), offset_row("balance.events", 2, 99)]
    rows.append(Row("malformed_inputs", {"source": "kafka:t:0", "position_block": 0, "position": 4,
                                         "reason": "UNDECODABLE", "detail": "x", "payload": b"\x00\xff",
                                         "kafka_timestamp_ms": 5}, 5))
    return rows


def test_encoded_batches_are_the_drivers_frames_for_every_table(session: Session) -> None:
    """Each row alone, then all rows in one batch: the driver's batch (`BatchStatement.add(prepared, values)`)
    and an EncodedBatch give the same routing key, keyspace and request frame."""
    statements = Statements(session, session.keyspace)
    rows = rows_of_every_kind()
    assert {row.table for row in rows} == set(PARTITION_KEYS)
    assert any(row.delete for row in rows)
    batches = [(new_batch(BatchStatement), new_batch(EncodedBatch)) for _ in range(len(rows) + 1)]
    for row, (theirs, ours) in zip(rows, batches, strict=False):
        columns = PRIMARY_KEYS[row.table] if row.delete else tuple(row.values)
        statement = statements.for_row(row.table, columns, delete=row.delete)
        ordered = [row.values[name] for name in columns]
        binder = Binder.of(statement)
        for driver_batch, encoded_batch in ((theirs, ours), batches[-1]):
            driver_batch.add(statement, [row.timestamp, *ordered] if row.delete else [*ordered, row.timestamp])
            encoded_batch.add_row(binder, row.values, binder.encode(row.values, row.timestamp))
    for theirs, ours in batches:
        assert ours.routing_key is not None
        assert (ours.routing_key, ours.keyspace) == (theirs.routing_key, theirs.keyspace)
        assert frame(ours, session, FramedBatchProtocolHandler) == frame(theirs, session, ProtocolHandler)
    assert len(batches[-1][1]) == len(rows)


def new_batch(kind: type[BatchStatement]) -> BatchStatement:
    return kind(batch_type=BatchType.UNLOGGED, consistency_level=ConsistencyLevel.LOCAL_QUORUM)


def frame(batch: BatchStatement, session: Session, handler: type) -> bytes:
    """The request frame `handler` encodes for `batch`, as the session would build its message."""
    message = BatchMessage(batch.batch_type, batch._statements_and_parameters, batch.consistency_level,
                           keyspace=batch.keyspace)
    return handler.encode_message(message, 7, session.cluster.protocol_version, None, False, None)
