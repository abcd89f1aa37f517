"""Fixtures for the matcher core's unit tests: a simple market and every book implementation to run them on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.markets import Market
from matcher.book_reference import ReferenceBook

# base_scale 0 keeps the arithmetic readable: notional = price * qty. Fees: maker 0.1 %, taker 0.2 %.
SIMPLE = Market(
    symbol="T_Q",
    market_id=7,
    base_asset="T",
    quote_asset="Q",
    base_asset_id=70,
    quote_asset_id=71,
    base_scale=0,
    quote_scale=0,
    tick_units=1,
    lot_units=1,
    min_qty_units=1,
    min_notional_units=1,
    maker_fee_ppm=1_000,
    taker_fee_ppm=2_000,
)

BookFactory = Callable[[Market], ReferenceBook]


@pytest.fixture(params=[ReferenceBook], ids=["reference"])
def make_book(request: pytest.FixtureRequest) -> BookFactory:
    """Every test using this fixture runs once on the naive book and once on the fast one."""
    return request.param
