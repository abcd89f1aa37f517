"""One order is one trace: placed through a real gateway (in this process, spans to an in-memory exporter) with a
caller's `traceparent`, it reaches the real UBSCore and matcher subprocesses (exporting over OTLP/gRPC to a
collector served by this test), and the same trace id is on the OrderCommand, on UBSCore's BalanceEvents, on the
matcher output's input command, on a span of each of the three services, and on their DEBUG log lines, every one
of which is a JSON object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
import zmq
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from common import tracing
from common.engine_feed import ReplayClient
from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    balance_pb2,
    common_pb2,
    engine_pb2,
    order_pb2,
    trading_service_pb2,
    trading_service_pb2_grpc,
)
from gateway.app import Gateway

from .. import otlp_collector
from ..otlp_collector import Collector, json_lines, otel_env
from ..ubscore.conftest import Stack, topic_reader
from .calls import bearer
from .conftest import eventually

pytestmark = pytest.mark.integration

collector = otlp_collector.collector  # the fixture, by name

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"


@pytest.fixture
def gateway_spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process (the in-process gateway), finished spans kept in memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.enable(provider)
    yield memory
    tracing.disable()


def test_one_order_is_one_trace_across_gateway_ubscore_and_matcher(
    stack: Stack, gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], kafka_bootstrap: str, collector: tuple[Collector, int],
    gateway_spans: InMemorySpanExporter,
) -> None:
    receiver, collector_port = collector
    otel = otel_env(collector_port)
    stack.matcher.env.update(otel)
    stack.ubscore.env.update(otel)
    stack.matcher.start()
    stack.ubscore.start()
    operator, operator_id = make_key(5000, "transfer")
    alice, alice_id = make_key(1001, "trade", "read")
    gateway = gateway_factory(
        matcher_pub_endpoint=stack.matcher.env["MATCHER_PUB_ENDPOINT"],
        matcher_replay_endpoint=stack.matcher.env["MATCHER_REPLAY_ENDPOINT"], matcher_shard_id=0,
        aeron_dir=stack.aeron_dir, ubscore_stream_id=stack.request_stream_id,
        ubscore_response_stream_id=stack.request_stream_id + 1_000, transfer_topic=stack.topics.operations,
        balance_events_topic=stack.topics.events,
    )  # fmt: skip
    eventually(lambda: {operator_id, alice_id} <= set(gateway.key_cache.keys) and gateway.ubscore.connected.is_set()
               and gateway.balance_events.ready.is_set(), timeout_ms=60_000)  # fmt: skip
    channel = channel_factory(gateway.port)
    deposit = account_service_pb2_grpc.AccountServiceStub(channel).TransferIn(
        account_service_pb2.TransferInRequest(request_id="dep-trace", user_id=1001, asset="USDT", amount="1000",
                                              result_wait_ms=5_000), metadata=bearer(operator))  # fmt: skip
    assert deposit.transfer.status == account_service_pb2.TRANSFER_STATUS_COMPLETED, deposit

    placed = trading_service_pb2_grpc.TradingServiceStub(channel).PlaceOrder(trading_service_pb2.PlaceOrderRequest(
        symbol="BTC_USDT", side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_LIMIT, price="45000.00",
        quantity="0.01", client_order_id="traced-1",
    ), metadata=(*bearer(alice), ("traceparent", TRACEPARENT)))  # fmt: skip

    # The gateway's span continues the caller's trace, as the child of the caller's span.
    [place_span] = [span for span in gateway_spans.get_finished_spans() if span.name.endswith("PlaceOrder")]
    assert f"{place_span.context.trace_id:032x}" == TRACE_ID
    assert f"{place_span.parent.span_id:016x}" == CALLER_SPAN_ID
    # The command UBSCore sent the matcher and the funds lock it published carry the trace.
    orders = topic_reader(kafka_bootstrap, stack.topics.orders)
    events = topic_reader(kafka_bootstrap, stack.topics.events)
    try:
        eventually(lambda: any(order_pb2.OrderCommand.FromString(raw).place.order_id == placed.order_id
                               for raw in orders.poll()))  # fmt: skip
        [command] = [c for c in map(order_pb2.OrderCommand.FromString, orders.records)
                     if c.place.order_id == placed.order_id]  # fmt: skip
        eventually(lambda: any(balance_pb2.BalanceEvent.FromString(raw).order_id == placed.order_id
                               for raw in events.poll()))  # fmt: skip
        [lock] = [e for e in map(balance_pb2.BalanceEvent.FromString, events.records) if e.order_id == placed.order_id]
        [deposited] = [e for e in map(balance_pb2.BalanceEvent.FromString, events.records)
                       if e.request_id == "dep-trace"]  # fmt: skip
    finally:
        orders.consumer.close()
        events.consumer.close()
    assert tracing.trace_id_of(command.place.traceparent) == TRACE_ID
    assert (lock.type, tracing.trace_id_of(lock.traceparent)) == (balance_pb2.BALANCE_EVENT_TYPE_FUNDS_LOCKED, TRACE_ID)
    [deposit_span] = [span for span in gateway_spans.get_finished_spans() if span.name.endswith("TransferIn")]
    assert tracing.trace_id_of(deposited.traceparent) == f"{deposit_span.context.trace_id:032x}" != TRACE_ID
    # The matcher's output embeds the command, trace context included (so it is in the hash chain too).
    context = zmq.Context()
    try:
        replay = ReplayClient(context, stack.matcher.env["MATCHER_REPLAY_ENDPOINT"], shard_id=0)
        outputs: list[engine_pb2.EngineOutput] = []
        eventually(lambda: bool(outputs.extend(replay.fetch(from_seq=1).outputs) or outputs))
    finally:
        context.destroy(linger=0)
    [output] = [o for o in outputs if o.input.command.place.order_id == placed.order_id]
    assert tracing.output_traceparent(output) == command.place.traceparent
    # Each service recorded its part of the trace.
    eventually(lambda: {("ubscore", "ubscore.place"), ("matcher", "matcher.command"), ("ubscore", "ubscore.output")}
               <= receiver.names_in_trace(TRACE_ID), timeout_ms=30_000)  # fmt: skip
    # Every log line of both services is one JSON object, and the per-input lines carry the ids and the trace id.
    # The matcher logs `batch published` after replay already serves the batch (as the test read it), so it is
    # awaited; the other lines read here are written before what the test has seen of their input.
    eventually(lambda: any(line["message"] == "batch published" for line in json_lines(stack.matcher.log_path)))
    ubscore_lines, matcher_lines = json_lines(stack.ubscore.log_path), json_lines(stack.matcher.log_path)
    [sent] = [line for line in ubscore_lines if line.get("client_order_id") == "traced-1"]
    assert (sent["trace_id"], sent["order_id"], sent["command_seqs"]) == (TRACE_ID, placed.order_id,
                                                                          [command.command_seq])  # fmt: skip
    [applied] = [line for line in matcher_lines if line.get("order_id") == placed.order_id]
    assert (applied["trace_id"], applied["seq"], applied["command_seq"]) == (TRACE_ID, output.seq,
                                                                             command.command_seq)  # fmt: skip
    assert any(line["message"] == "batch published" for line in matcher_lines)
    assert any(line["message"] == "batch sent" for line in ubscore_lines)
