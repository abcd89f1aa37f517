"""A stand-in for UBSCore on the real Aeron driver, until UBSCore itself lands (branch ubscore).

It speaks UBSCore's wire contract (UbscoreRequest in, UbscoreResponse out, over common.aeron.request_response)
and answers by script, keyed on the client order id: "silent-*" gets no answer, "busy-*" Rejected(UBSCORE_BUSY),
"poor-*" Rejected(INSUFFICIENT_FUNDS), "dup-*" Rejected(DUPLICATE_REQUEST), anything else OrderAccepted (order
ids from 1, the notional of a buy or the quantity of a sell locked). Cancels are accepted. It records every
request it read. With `forward`, an accepted order is also passed on as UBSCore would: an OrderCommand (dense
command_seq, the order id, the lock) for the matcher, keyed by symbol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from common.aeron.client import AeronClient, ClientConfig
from common.aeron.request_response import Request, ResponseServer
from exchange.v1 import common_pb2, order_pb2, ubscore_pb2

BTC_SCALE = 8


class ScriptedUbscore(threading.Thread):
    """Run with start(); wait for `ready`; stop with `stopping.set()` and join()."""

    def __init__(
        self, aeron_dir: str, stream_id: int, *,
        forward: Callable[[list[tuple[str, order_pb2.OrderCommand]]], None] | None = None,
    ) -> None:
        super().__init__(daemon=True, name="scripted-ubscore")
        self.aeron_dir, self.stream_id = aeron_dir, stream_id
        self.ready, self.stopping = threading.Event(), threading.Event()
        self.requests: list[ubscore_pb2.UbscoreRequest] = []
        self.errors: list[BaseException] = []
        self.next_order_id = 1
        self.forward = forward
        self.next_command_seq = 1

    @property
    def deadlines_ns(self) -> list[int]:
        """The deadline of every request read."""
        return [request.deadline_ns for request in self.requests]

    def run(self) -> None:
        try:
            with AeronClient(ClientConfig(aeron_dir=self.aeron_dir)) as client:
                server = ResponseServer(client, request_channel="aeron:ipc", request_stream_id=self.stream_id)
                self.ready.set()
                while not self.stopping.is_set():
                    if server.poll(lambda request: self._answer(server, request)) == 0:
                        time.sleep(0.0001)
                server.close()
        except BaseException as error:  # surfaced by the test
            self.errors.append(error)

    def _answer(self, server: ResponseServer, request: Request) -> None:
        message = ubscore_pb2.UbscoreRequest()
        message.ParseFromString(request.payload)
        self.requests.append(message)
        response = ubscore_pb2.UbscoreResponse()
        if message.WhichOneof("body") == "cancel_order":
            cancel = message.cancel_order
            response.cancel_accepted.order_id = cancel.order_id or 99
            response.cancel_accepted.client_order_id = cancel.client_order_id
            response.cancel_accepted.symbol = cancel.symbol or "BTC_USDT"
        else:
            order = message.place_order
            coid = order.client_order_id
            if coid.startswith("silent-"):
                return
            if coid.startswith("busy-"):
                response.rejected.reason = common_pb2.REJECT_REASON_UBSCORE_BUSY
            elif coid.startswith("dup-"):
                response.rejected.reason = common_pb2.REJECT_REASON_DUPLICATE_REQUEST
            elif coid.startswith("poor-"):
                response.rejected.reason = common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS
                response.rejected.message = "available balance does not cover the lock"
            else:
                accepted = response.order_accepted
                accepted.order_id, accepted.client_order_id, accepted.symbol = self.next_order_id, coid, order.symbol
                if order.side == common_pb2.SIDE_BUY:
                    accepted.locked_asset_id = 2  # USDT
                    accepted.locked_units = order.price_units * order.qty_units // 10**BTC_SCALE
                else:
                    accepted.locked_asset_id, accepted.locked_units = 1, order.qty_units  # BTC
                self.next_order_id += 1
                if self.forward is not None:
                    self._forward(order, accepted)
        server.respond(request, response.SerializeToString(), timeout_ms=1_000)

    def _forward(self, order: ubscore_pb2.OrderRequest, accepted: ubscore_pb2.OrderAccepted) -> None:
        assert self.forward is not None
        internal = order_pb2.InternalOrder(
            order_id=accepted.order_id, user_id=order.user_id, client_order_id=order.client_order_id,
            symbol=order.symbol, side=order.side, order_type=order.order_type, time_in_force=order.time_in_force,
            post_only=order.post_only, price_units=order.price_units, qty_units=order.qty_units,
            quote_budget_units=order.quote_budget_units, self_trade_mode=order.self_trade_mode,
            locked_units=accepted.locked_units, ts_event_ns=order.ts_event_ns,
        )
        self.forward([(order.symbol, order_pb2.OrderCommand(command_seq=self.next_command_seq, place=internal))])
        self.next_command_seq += 1
