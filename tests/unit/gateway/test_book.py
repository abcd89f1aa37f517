"""A book kept from deltas shows the latest total per level, best first, removed levels gone."""

from __future__ import annotations

from exchange.v1 import common_pb2
from gateway.book import BookView

BUY, SELL = common_pb2.SIDE_BUY, common_pb2.SIDE_SELL


def test_deltas_set_replace_and_remove_levels_and_depth_sorts_best_first() -> None:
    """Bids highest first, asks lowest first; a zero delta removes a level; depth is capped."""
    book = BookView("BTC_USDT")
    for side, price, qty in [(BUY, 100, 5), (BUY, 102, 1), (BUY, 101, 2), (SELL, 105, 3), (SELL, 104, 4),
                             (BUY, 102, 7), (SELL, 104, 0)]:  # fmt: skip
        book.apply(side, price, qty)
    bids, asks = book.depth(2)
    assert bids == [(102, 7), (101, 2)]
    assert asks == [(105, 3)]
