"""The market catalog: the shipped config loads, and each broken rule is rejected with a message naming it."""

from typing import Any

import pytest

from common.errors import ConfigInvalid
from common.markets import build_catalog, load_catalog


def _document(**market_overrides: Any) -> dict[str, Any]:
    market = {
        "symbol": "BTC_USDT", "market_id": 1, "base": "BTC", "quote": "USDT", "tick": "0.01", "lot": "0.0001",
        "min_qty": "0.0001", "min_notional": "1", "maker_fee": "0.001", "taker_fee": "0.002",
    }
    market.update(market_overrides)
    return {
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
    ],
)
def test_build_catalog_with_broken_market_raises(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigInvalid, match=message):
        build_catalog(_document(**overrides))


def test_build_catalog_with_duplicate_asset_id_raises() -> None:
    document = _document()
    document["assets"].append({"name": "ETH", "asset_id": 1, "scale": 8})
    with pytest.raises(ConfigInvalid, match="twice"):
        build_catalog(document)


def test_build_catalog_without_markets_raises() -> None:
    with pytest.raises(ConfigInvalid, match="no markets"):
        build_catalog({"assets": [], "markets": []})
