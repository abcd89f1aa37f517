"""An example client of the exchange on the generated Python SDK (gen/python, package `exchange.v1`).

It connects to the gateway's gRPC port, authenticates every call with the API key as bearer metadata, opens the
caller's private stream, places a limit order with decimal strings, reads the order back (GetOrder, answered from
the database once Settlement has stored it), and follows the private stream until the order's update arrives.
Each step prints one JSON line. The key comes from the environment (EXCHANGE_API_KEY), not from the command line.

    EXCHANGE_API_KEY=exk_... python examples/python/client.py --target 127.0.0.1:50051 \
        --symbol BTC_USDT --side buy --price 45000.00 --quantity 0.5 --client-order-id ex-1
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Iterator

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    common_pb2,
    trading_service_pb2,
    trading_service_pb2_grpc,
)

READ_BACK_POLL_S = 0.2
SIDES = {"buy": common_pb2.SIDE_BUY, "sell": common_pb2.SIDE_SELL}


_printing = threading.Lock()  # the stream follower prints from its own thread: one whole line at a time


def emit(record: dict[str, object]) -> None:
    """Print `record` as one JSON line (print writes the text and the newline apart: two threads could mix them)."""
    with _printing:
        print(json.dumps(record), flush=True)


def show(step: str, message: Message) -> None:
    """Print one step as a JSON line, fields by their proto names (as the REST API spells them)."""
    emit({step: MessageToDict(message, preserving_proto_field_name=True)})


def read_back(
    trading: trading_service_pb2_grpc.TradingServiceStub, order_id: int, metadata: tuple[tuple[str, str], ...],
    timeout_s: float,
) -> trading_service_pb2.Order:
    """GetOrder until the order is stored (NOT_FOUND until Settlement has written it), within timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return trading.GetOrder(trading_service_pb2.GetOrderRequest(order_id=order_id), metadata=metadata).order
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:  # type: ignore[attr-defined]
                raise
        time.sleep(READ_BACK_POLL_S)


def follow_until_update(
    stream: Iterator[account_service_pb2.StreamUserDataResponse], order_id: int, found: threading.Event
) -> None:
    """Print private stream events until one is an update of `order_id` (the stream's deadline bounds the wait)."""
    try:
        for event in stream:
            if event.WhichOneof("event") == "heartbeat":
                continue
            show("stream", event)
            if event.WhichOneof("event") == "order_update" and event.order_update.order_id == order_id:
                found.set()
                return
    except grpc.RpcError as error:  # the deadline passed (or the stream was cut off) before the update came
        emit({"stream_ended": error.code().name})  # type: ignore[attr-defined]


def main() -> int:
    """Run the steps; exit 0 when the order was placed, read back and seen on the private stream."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="127.0.0.1:50051", help="the gateway's gRPC address")
    parser.add_argument("--symbol", default="BTC_USDT")
    parser.add_argument("--side", choices=sorted(SIDES), default="buy")
    parser.add_argument("--price", required=True, help="a decimal string, e.g. 45000.00")
    parser.add_argument("--quantity", required=True, help="a decimal string, e.g. 0.5")
    parser.add_argument("--client-order-id", required=True, help="your idempotency key for the order")
    parser.add_argument("--timeout-s", type=float, default=30.0, help="bound on each wait")
    args = parser.parse_args()
    metadata = (("authorization", f"Bearer {os.environ['EXCHANGE_API_KEY']}"),)

    with grpc.insecure_channel(args.target) as channel:
        trading = trading_service_pb2_grpc.TradingServiceStub(channel)
        account = account_service_pb2_grpc.AccountServiceStub(channel)
        stream = account.StreamUserData(
            account_service_pb2.StreamUserDataRequest(), metadata=metadata, timeout=args.timeout_s
        )
        next(stream)  # the opening heartbeat: the stream is live, later events reach it
        show("balances", next(stream).balance_snapshot)
        placed = trading.PlaceOrder(trading_service_pb2.PlaceOrderRequest(
            symbol=args.symbol, side=SIDES[args.side], order_type=common_pb2.ORDER_TYPE_LIMIT,
            time_in_force=common_pb2.TIME_IN_FORCE_GTC, price=args.price, quantity=args.quantity,
            client_order_id=args.client_order_id,
        ), metadata=metadata, timeout=args.timeout_s)  # fmt: skip
        show("placed", placed)
        found = threading.Event()
        follower = threading.Thread(target=follow_until_update, args=(stream, placed.order_id, found), daemon=True)
        follower.start()
        show("order", read_back(trading, placed.order_id, metadata, args.timeout_s))
        follower.join(args.timeout_s)
        stream.cancel()  # type: ignore[attr-defined]
    return 0 if found.is_set() else 1


if __name__ == "__main__":
    raise SystemExit(main())
