"""Aggregated order books (price level -> total quantity) kept from the matcher's BookDeltas (pure: no I/O).

A BookDelta carries the new total quantity at one level (0: the level is gone), so applying deltas in `seq`
order reproduces the matcher's aggregated book exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exchange.v1 import common_pb2

Levels = list[tuple[int, int]]  # (price_units, qty_units), best first


@dataclass(slots=True)
class BookView:
    """One market's aggregated levels."""

    symbol: str
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    def apply(self, side: int, price_units: int, qty_units: int) -> None:
        """Set the level's total (0 removes it)."""
        assert qty_units >= 0, (self.symbol, price_units, qty_units)
        levels = self.bids if side == common_pb2.SIDE_BUY else self.asks
        assert side in (common_pb2.SIDE_BUY, common_pb2.SIDE_SELL), side
        if qty_units == 0:
            levels.pop(price_units, None)
        else:
            levels[price_units] = qty_units

    def depth(self, levels_max: int) -> tuple[Levels, Levels]:
        """(bids, highest first; asks, lowest first), at most `levels_max` each."""
        bids = sorted(self.bids.items(), key=lambda level: -level[0])[:levels_max]
        asks = sorted(self.asks.items())[:levels_max]
        return bids, asks
