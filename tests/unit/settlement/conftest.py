"""Real EngineOutputs for the projection tests, made by the matcher's pure core (no sockets) and sealed in a chain."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from common.engine_chain import Chain
from common.markets import load_catalog
from exchange.v1 import common_pb2, engine_pb2, order_pb2
from matcher.codec import build_output, decode_command
from matcher.engine import Engine

TS_BASE_NS = 1_763_000_000_000_000_000


@dataclass(slots=True)
class OutputMaker:
    """Applies commands to a fresh engine and returns the sealed outputs, as a matcher shard would publish them."""

    shard_id: int = 7
    engine: Engine = field(default_factory=lambda: Engine(load_catalog().markets.values()))
    chain: Chain = field(init=False)
    command_seq: int = 0

    def __post_init__(self) -> None:
        self.chain = Chain(shard_id=self.shard_id)

    def place(self, *, order_id: int, user_id: int, side: int, price_units: int, qty_units: int,
              symbol: str = "BTC_USDT", ts_ns: int = TS_BASE_NS, tif: int = common_pb2.TIME_IN_FORCE_GTC,
              post_only: bool = False) -> engine_pb2.EngineOutput:
        order = order_pb2.InternalOrder(
            order_id=order_id, user_id=user_id, client_order_id=f"c{order_id}", symbol=symbol, side=side,
            order_type=common_pb2.ORDER_TYPE_LIMIT, time_in_force=tif, post_only=post_only,
            price_units=price_units, qty_units=qty_units, self_trade_mode=common_pb2.SELF_TRADE_MODE_EXPIRE_TAKER,
            ts_event_ns=ts_ns,
        )
        return self._apply(order_pb2.OrderCommand(place=order))

    def cancel(self, *, order_id: int, user_id: int, symbol: str = "BTC_USDT", ts_ns: int) -> engine_pb2.EngineOutput:
        cancel = order_pb2.InternalCancel(order_id=order_id, user_id=user_id, symbol=symbol, ts_event_ns=ts_ns)
        return self._apply(order_pb2.OrderCommand(cancel=cancel))

    def _apply(self, command: order_pb2.OrderCommand) -> engine_pb2.EngineOutput:
        self.command_seq += 1
        command.command_seq = self.command_seq
        result = self.engine.apply(decode_command(command))
        return self.chain.seal(build_output(command, partition=0, offset=self.command_seq - 1, result=result))


@pytest.fixture
def outputs() -> OutputMaker:
    """A fresh engine and chain (shard 7)."""
    return OutputMaker()
