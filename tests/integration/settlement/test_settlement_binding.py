"""settlement/binding.py against the driver: for the rows of every table Settlement writes, with the statements
prepared by the real server, a Binder puts in a batch exactly what the driver's own bind puts there, and the BATCH
message on the wire is byte for byte the same."""

from __future__ import annotations

import io

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.protocol import BatchMessage
from cassandra.query import BatchStatement, BatchType

from common.markets import load_catalog
from exchange.v1 import balance_pb2, common_pb2, ubscore_pb2
from settlement.binding import Binder, EncodedBatch
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


def test_binder_batches_equal_the_drivers_for_every_table(session: Session) -> None:
    """Each row added to a batch by the driver (`BatchStatement.add(prepared, values)`) and by a Binder: same
    statement ids and value bytes, same routing key and keyspace, and the same encoded BATCH message."""
    statements = Statements(session, session.keyspace)
    rows = rows_of_every_kind()
    assert {row.table for row in rows} == set(PARTITION_KEYS)
    assert any(row.delete for row in rows)
    for row in rows:
        columns = PRIMARY_KEYS[row.table] if row.delete else tuple(row.values)
        statement = statements.for_row(row.table, columns, delete=row.delete)
        ordered = [row.values[name] for name in columns]
        theirs = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=ConsistencyLevel.LOCAL_QUORUM)
        theirs.add(statement, [row.timestamp, *ordered] if row.delete else [*ordered, row.timestamp])
        ours = EncodedBatch(batch_type=BatchType.UNLOGGED, consistency_level=ConsistencyLevel.LOCAL_QUORUM)
        ours.add_encoded(Binder.of(statement), Binder.of(statement).encode(row.values, row.timestamp))
        assert ours._statements_and_parameters == theirs._statements_and_parameters, row
        assert (ours.routing_key, ours.keyspace) == (theirs.routing_key, theirs.keyspace), row
        assert ours.routing_key is not None
        assert wire_bytes(ours, session) == wire_bytes(theirs, session), row


def wire_bytes(batch: BatchStatement, session: Session) -> bytes:
    """The body of the BATCH message the session would send for `batch`."""
    message = BatchMessage(batch.batch_type, batch._statements_and_parameters, batch.consistency_level,
                           keyspace=batch.keyspace)
    body = io.BytesIO()
    message.send_body(body, session.cluster.protocol_version)
    return body.getvalue()
