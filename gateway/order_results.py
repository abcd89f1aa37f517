"""The matcher's first result of each order placed, for PlaceOrder's `result_wait_ms`.

The market feed thread hands every verified output to `observe`: when the output's input is the placement of an
order, that order's first result is its own OrderUpdate there (the taker's, listed first) and the trades it took
part in, or the matcher's rejection of the command. A PlaceOrder call that asked to wait registers after UBSCore
accepted the order (only then is the order id known); the result may already be in, so results are kept for the
last `results_max` orders placed (bounded), and a waiter finds them there.

Every shard the gateway follows feeds `observe` (from its own feed thread); an order of a shard it does not
follow never shows up, so its wait ends without a result (the response then carries only UBSCore's acceptance).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from exchange.v1 import common_pb2, engine_pb2

RESULTS_MAX = 65_536


@dataclass(frozen=True, slots=True)
class FirstResult:
    """The order's update after its placement was matched, and the trades of that placement."""

    update: engine_pb2.OrderUpdate
    trades: tuple[engine_pb2.Trade, ...]


class OrderResults:
    """First results by order id; `observe` runs on the feed thread, `wait` on gRPC worker threads."""

    def __init__(self, results_max: int = RESULTS_MAX) -> None:
        self.results_max = results_max
        self.results: OrderedDict[int, FirstResult] = OrderedDict()
        self.condition = threading.Condition()

    def observe(self, output: engine_pb2.EngineOutput) -> None:
        """Record the first result of the order this output placed, if it placed one."""
        command = output.input.command
        if command.WhichOneof("command") != "place":
            return
        order_id = command.place.order_id
        update = next((u for u in output.order_updates if u.order_id == order_id), None)
        if update is None:  # refused before the book (e.g. a duplicate order id): the rejection says why
            rejection = next((r for r in output.rejections if r.order_id == order_id), None)
            if rejection is None:
                return
            update = engine_pb2.OrderUpdate(
                order_id=order_id, user_id=rejection.user_id, client_order_id=rejection.client_order_id,
                symbol=rejection.symbol, side=command.place.side, order_type=command.place.order_type,
                status=common_pb2.ORDER_STATUS_REJECTED, price_units=command.place.price_units,
                qty_units=command.place.qty_units, reason=rejection.reason, ts_event_ns=rejection.ts_event_ns,
                time_in_force=command.place.time_in_force,
            )
        trades = tuple(t for t in output.trades if order_id in (t.taker_order_id, t.maker_order_id))
        with self.condition:
            self.results[order_id] = FirstResult(update, trades)
            while len(self.results) > self.results_max:
                self.results.popitem(last=False)
            self.condition.notify_all()

    def wait(self, order_id: int, *, timeout_ms: int) -> FirstResult | None:
        """The first result of `order_id`, waiting up to `timeout_ms` for it; None if it did not come."""
        with self.condition:
            self.condition.wait_for(lambda: order_id in self.results, timeout=timeout_ms / 1000)
            return self.results.get(order_id)
