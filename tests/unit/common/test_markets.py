"""The market catalog: the shipped config loads, and each broken rule is rejected with a message naming it."""

import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from common.errors import ConfigInvalid
from common.markets import build_catalog, load_catalog
from common.money import INT64_MAX, fee_units, format_units


def _document(**market_overrides: Any) -> dict[str, Any]:
    market = {
        "symbol": "BTC_USDT", "market_id": 1, "base": "BTC", "quote": "USDT", "tick": "0.01", "lot": "0.0001",
        "min_qty": "0.0001", "min_notional": "1", "maker_fee": "0.001", "taker_fee": "0.002",
        "max_price": "10000000", "max_qty": "10000",
    }  # fmt: skip
    market.update(market_overrides)
    return {
        "fee_account_user_id": 1,
        "assets": [{"name": "BTC", "asset_id": 1, "scale": 8}, {"name": "USDT", "asset_id": 2, "scale": 6}],
        "markets": [market],
    }


def test_load_catalog_with_shipped_config_gives_units() -> None:
    catalog = load_catalog()
    market = catalog.markets["BTC_USDT"]
    assert (market.tick_units, market.lot_units) == (10_000, 10_000)
    assert (market.maker_fee_ppm, market.taker_fee_ppm) == (1_000, 2_000)
    assert catalog.market_by_id(market.market_id) is market
    assert catalog.asset_by_id(market.base_asset_id).name == "BTC"
    assert (market.max_price_units, market.max_qty_units) == (10_000_000 * 10**6, 10_000 * 10**8)
    assert market.max_notional_units == 10_000_000 * 10_000 * 10**6  # 10^11 USDT, in USDT units
    assert catalog.fee_account_user_id == 1


def test_load_catalog_with_shipped_config_bounds_every_fill_total_inside_int64() -> None:
    """For every shipped market, the largest fill total of one order plus a fee on it fits int64."""
    for market in load_catalog().markets.values():
        assert market.max_notional_units * 2 <= INT64_MAX, market.symbol
        assert market.max_qty_units * 2 <= INT64_MAX, market.symbol
        assert market.max_price_units % market.tick_units == 0
        assert market.max_qty_units % market.lot_units == 0


def test_build_catalog_with_inexact_tick_times_lot_raises() -> None:
    """tick 0.01 USDT (10_000 units) x lot 0.00000001 BTC (1 unit) = 10_000, not a multiple of 10**8."""
    with pytest.raises(ConfigInvalid, match="inexact"):
        build_catalog(_document(lot="0.00000001"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base": "DOGE"}, "declared assets"),
        ({"quote": "BTC"}, "same asset"),
        ({"tick": "0.0000001"}, "tick"),
        ({"lot": "-1"}, "lot"),
        ({"min_qty": "0.00015"}, "multiple of lot"),
        ({"maker_fee": "1"}, "below 1"),
        ({"taker_fee": "abc"}, "taker_fee"),
        ({"market_id": "x"}, "market_id"),
        ({"max_price": "10000000.001"}, "max_price"),  # more decimals than USDT has
        ({"max_price": "10000000.005", "tick": "0.01"}, "max_price"),
        ({"max_price": "10000000.000001"}, "max_price is not a multiple of tick"),
        ({"max_qty": "10000.00005"}, "max_qty is not a multiple of lot"),
        ({"max_qty": "0.0001", "min_qty": "0.0002"}, "max_qty is below min_qty"),
        ({"max_price": "0.01", "max_qty": "0.0001", "min_notional": "1"}, "below min_notional"),
        ({"max_price": "9000000000000"}, "overflow"),  # 9e12 USDT x 1e4 BTC = 9e16 USDT = 9e22 units
        ({"max_qty": "50000000000"}, "no room for a fee"),  # 5e10 BTC = 5e18 units, above int64 / 2
        ({"max_price": None}, "max_price"),
        ({"max_qty": "0"}, "max_qty"),
    ],
)
def test_build_catalog_with_broken_market_raises(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigInvalid, match=message):
        build_catalog(_document(**overrides))


@pytest.mark.parametrize("value", [None, 0, 1000, -1, "1", True])
def test_build_catalog_with_bad_fee_account_raises(value: object) -> None:
    """The fee account must be named, and must be a system account (1..999): never a client's user id."""
    document = _document()
    if value is None:
        del document["fee_account_user_id"]
    else:
        document["fee_account_user_id"] = value
    with pytest.raises(ConfigInvalid, match="fee_account_user_id"):
        build_catalog(document)


@settings(max_examples=300, deadline=None)
@given(
    base_scale=st.integers(0, 12), quote_scale=st.integers(0, 18), tick_factor=st.integers(1, 1_000),
    lot_units=st.integers(1, 10**6), price_ticks=st.integers(1, 10**20), qty_lots=st.integers(1, 10**20),
)  # fmt: skip
def test_build_catalog_accepts_a_market_exactly_when_every_fill_total_fits(
    base_scale: int, quote_scale: int, tick_factor: int, lot_units: int, price_ticks: int, qty_lots: int
) -> None:
    """Any maxima on tick and lot: load accepts them iff max_price x max_qty / 10**base (and max_qty) stay within
    half of int64, and then the largest fill total of one order plus a fee on it fits int64."""
    tick_units = tick_factor * (10**base_scale // math.gcd(lot_units, 10**base_scale))  # tick x lot is exact
    max_price_units, max_qty_units = tick_units * price_ticks, lot_units * qty_lots
    assume(max(max_price_units, max_qty_units, tick_units, lot_units) <= INT64_MAX)
    document = {
        "fee_account_user_id": 1,
        "assets": [
            {"name": "B", "asset_id": 1, "scale": base_scale}, {"name": "Q", "asset_id": 2, "scale": quote_scale},
        ],
        "markets": [{
            "symbol": "B_Q", "market_id": 1, "base": "B", "quote": "Q", "tick": format_units(tick_units, quote_scale),
            "lot": format_units(lot_units, base_scale), "min_qty": format_units(lot_units, base_scale),
            "min_notional": format_units(1, quote_scale), "maker_fee": "0.001", "taker_fee": "0.002",
            "max_price": format_units(max_price_units, quote_scale), "max_qty": format_units(max_qty_units, base_scale),
        }],
    }  # fmt: skip
    max_notional_units = max_price_units * max_qty_units // 10**base_scale
    fits = max_notional_units <= INT64_MAX // 2 and max_qty_units <= INT64_MAX // 2 and max_notional_units >= 1
    if not fits:
        with pytest.raises(ConfigInvalid):
            build_catalog(document)
        return
    market = build_catalog(document).markets["B_Q"]
    assert market.max_notional_units == max_notional_units
    worst_fill_total = market.notional_units(market.max_price_units, market.max_qty_units)
    assert worst_fill_total + fee_units(worst_fill_total, market.taker_fee_ppm) <= INT64_MAX


def test_build_catalog_with_duplicate_asset_id_raises() -> None:
    document = _document()
    document["assets"].append({"name": "ETH", "asset_id": 1, "scale": 8})
    with pytest.raises(ConfigInvalid, match="twice"):
        build_catalog(document)


def test_build_catalog_without_markets_raises() -> None:
    with pytest.raises(ConfigInvalid, match="no markets"):
        build_catalog({"assets": [], "markets": []})
