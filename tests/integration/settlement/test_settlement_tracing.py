"""Settlement's part of one trace: an order placed straight into the real UBSCore (Aeron) with a sampled
`traceparent`, matched by the real matcher, persisted by the real Settlement; Settlement's spans for the output and
for the BalanceEvents are in the order's trace (exported over OTLP to a collector served by this test), and every
Settlement log line is a JSON object, its DEBUG lines carrying the ids and the trace id."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cassandra.cluster import Session

from common.tracing import trace_id_of
from exchange.v1 import common_pb2
from tests.integration import otlp_collector
from tests.integration.otlp_collector import Collector, json_lines, otel_env
from tests.integration.settlement.conftest import SettlementProcess, chain_seq
from tests.integration.ubscore.conftest import Gateway, Stack, eventually

pytestmark = pytest.mark.integration

collector = otlp_collector.collector  # the fixture, by name

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ALICE, BOB = 1001, 1002
BTC, USDT = 1, 2


def test_settlement_spans_and_logs_follow_the_orders_trace(
    stack: Stack, gateway_factory: Callable[[], Gateway], keyspace: str, session: Session,
    settlement_factory: Callable[..., SettlementProcess], collector: tuple[Collector, int],
) -> None:
    receiver, port = collector
    for service in (stack.matcher, stack.ubscore):
        service.env.update(otel_env(port))
    stack.matcher.start()
    stack.ubscore.start()
    settlement = settlement_factory(keyspace=keyspace, shards=stack.ubscore.env["UBSCORE_FEEDS"],
                                    balance_topic=stack.topics.events, extra=otel_env(port))  # fmt: skip
    settlement.start()
    gateway = gateway_factory()
    gateway.transfer(ALICE, USDT, 100_000_000_000, deposit=True, request_id="alice-dep")
    gateway.transfer(BOB, BTC, 100_000_000, deposit=True, request_id="bob-dep")
    eventually(lambda: stack.ubscore.dump()["summary"]["last_event_id"] >= 2, timeout_ms=60_000)
    order = {"symbol": "BTC_USDT", "order_type": common_pb2.ORDER_TYPE_LIMIT,
             "time_in_force": common_pb2.TIME_IN_FORCE_GTC, "price_units": 45_000_000_000, "qty_units": 50_000_000}
    sell = gateway.place(user_id=BOB, client_order_id="bob-1", side=common_pb2.SIDE_SELL, **order)
    buy = gateway.place(user_id=ALICE, client_order_id="alice-1", side=common_pb2.SIDE_BUY, traceparent=TRACEPARENT,
                        **order)  # fmt: skip
    order_id = buy.order_accepted.order_id
    eventually(lambda: chain_seq(session, 0) == 2, timeout_ms=60_000)

    trace_id = trace_id_of(TRACEPARENT)
    eventually(lambda: {("settlement", "settlement.output"), ("settlement", "settlement.event"),
                        ("matcher", "matcher.command"), ("ubscore", "ubscore.place")}
               <= receiver.names_in_trace(trace_id), timeout_ms=30_000)  # fmt: skip

    def traced(message: str) -> list[dict]:
        return [line for line in json_lines(settlement.log_path)
                if line["message"] == message and line.get("trace_id") == trace_id]  # fmt: skip

    # Alice's lock, and the trade's events of both sides: a trade belongs to the trace of the order that took.
    # The first `settlement.event` span can be exported before the other events are projected, so wait for all.
    both_orders = {order_id, sell.order_accepted.order_id}
    eventually(lambda: {line["order_id"] for line in traced("event projected")} >= both_orders, timeout_ms=30_000)
    assert {line["order_id"] for line in traced("event projected")} == both_orders
    outputs = traced("output projected")
    assert [(line["shard"], line["seq"], order_id in line["order_ids"]) for line in outputs] == [(0, 2, True)]
    # Logged after the turn's chain_state write and Kafka commit: chain_seq == 2 does not imply it is written yet.
    eventually(lambda: any(line["message"] == "turn persisted" for line in json_lines(settlement.log_path)),
               timeout_ms=30_000)  # fmt: skip
