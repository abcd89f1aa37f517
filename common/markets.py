"""Assets and markets: loaded from config/markets.yaml, validated, and exposed as integer-unit value types.

A market is accepted only if every order it admits has an exact notional: prices are multiples of `tick_units`,
quantities multiples of `lot_units`, and `tick_units * lot_units` must be divisible by `10**base_scale`, so
`price_units * qty_units / 10**base_scale` is always a whole number of quote units.

Each market also has a maximum price and quantity (as the big exchanges' symbol filters have). Every order fills
at makers' prices that were themselves at most `max_price_units`, for at most `max_qty_units` (a market buy stops
there too), so `max_notional_units = max_price_units * max_qty_units / 10**base_scale` bounds every notional and
every sum of the fills of one order. Config load refuses a market unless that bound, and `max_qty_units`, fit in
int64 with room for a fee on top (`AMOUNT_UNITS_MAX`, half of int64), so no fill total, lock or fee can overflow.

The fee account (`fee_account_user_id`) is the user that every fee is credited to. User ids below
`SYSTEM_USER_ID_END` (1000) are reserved for system accounts; the fee account is one of them (user 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.errors import ConfigInvalid, InvalidAmount
from common.money import INT64_MAX, PPM_DENOMINATOR, SCALE_MAX, notional_units, parse_units

DEFAULT_MARKETS_PATH = Path(__file__).resolve().parents[1] / "config" / "markets.yaml"
FEE_SCALE = 6  # fee rates are parts per million: "0.001" -> 1_000 ppm
# The largest notional or quantity a market may allow: half of int64, so that an amount plus its fee (a rate below
# 1, so at most the amount again) still fits.
AMOUNT_UNITS_MAX = INT64_MAX // 2
SYSTEM_USER_ID_END = 1_000  # user ids 1..999 are reserved for system accounts (the fee account is one)


@dataclass(frozen=True, slots=True, kw_only=True)
class Asset:
    """A currency or token; amounts of it are ints of 10**-scale."""

    name: str
    asset_id: int
    scale: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Market:
    """A spot market of `base_asset` priced in `quote_asset`, with every quantity in smallest units."""

    symbol: str
    market_id: int
    base_asset: str
    quote_asset: str
    base_asset_id: int
    quote_asset_id: int
    base_scale: int
    quote_scale: int
    tick_units: int  # price step, in quote units per whole base unit
    lot_units: int  # quantity step, in base units
    min_qty_units: int
    min_notional_units: int  # in quote units
    maker_fee_ppm: int
    taker_fee_ppm: int
    max_price_units: int  # highest accepted price, a multiple of the tick
    max_qty_units: int  # highest accepted quantity of one order, a multiple of the lot
    max_notional_units: int = field(init=False)  # max_price x max_qty: bounds every fill total of one order

    def __post_init__(self) -> None:
        # Derived, never configured: it must agree with the two maxima it comes from.
        object.__setattr__(self, "max_notional_units", self.max_price_units * self.max_qty_units // 10**self.base_scale)

    def notional_units(self, price_units: int, qty_units: int) -> int:
        """Quote units paid for `qty_units` at `price_units`; exact for any on-tick price and on-lot quantity."""
        return notional_units(price_units, qty_units, self.base_scale)

    def is_on_tick(self, price_units: int) -> bool:
        """True if `price_units` is a positive multiple of the tick."""
        return price_units > 0 and price_units % self.tick_units == 0

    def is_on_lot(self, qty_units: int) -> bool:
        """True if `qty_units` is a positive multiple of the lot."""
        return qty_units > 0 and qty_units % self.lot_units == 0


@dataclass(frozen=True, slots=True)
class MarketCatalog:
    """All assets and markets, looked up by name, symbol or id, and the system account fees are credited to."""

    assets: Mapping[str, Asset]
    markets: Mapping[str, Market]
    fee_account_user_id: int

    def asset_by_id(self, asset_id: int) -> Asset:
        """The asset with `asset_id`; KeyError if none."""
        for asset in self.assets.values():
            if asset.asset_id == asset_id:
                return asset
        raise KeyError(asset_id)

    def market_by_id(self, market_id: int) -> Market:
        """The market with `market_id`; KeyError if none."""
        for market in self.markets.values():
            if market.market_id == market_id:
                return market
        raise KeyError(market_id)


def load_catalog(path: Path = DEFAULT_MARKETS_PATH) -> MarketCatalog:
    """Load and validate the assets and markets file; raise ConfigInvalid naming the entry and the broken rule."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigInvalid(f"{path}: cannot read: {error}") from error
    if not isinstance(document, dict):
        raise ConfigInvalid(f"{path}: expected a mapping with 'assets' and 'markets'")
    return build_catalog(document, source=str(path))


def build_catalog(document: Mapping[str, Any], *, source: str = "<config>") -> MarketCatalog:
    """Validate a parsed config document (see config/markets.yaml) into a MarketCatalog."""
    assets: dict[str, Asset] = {}
    for entry in document.get("assets") or []:
        asset = _build_asset(entry, source)
        if asset.name in assets or any(a.asset_id == asset.asset_id for a in assets.values()):
            raise ConfigInvalid(f"{source}: asset {asset.name} (id {asset.asset_id}) is declared twice")
        assets[asset.name] = asset
    markets: dict[str, Market] = {}
    for entry in document.get("markets") or []:
        market = _build_market(entry, assets, source)
        if market.symbol in markets or any(m.market_id == market.market_id for m in markets.values()):
            raise ConfigInvalid(f"{source}: market {market.symbol} (id {market.market_id}) is declared twice")
        markets[market.symbol] = market
    if not markets:
        raise ConfigInvalid(f"{source}: no markets declared")
    return MarketCatalog(assets=assets, markets=markets, fee_account_user_id=_fee_account(document, source))


def _fee_account(document: Mapping[str, Any], source: str) -> int:
    value = document.get("fee_account_user_id")
    if type(value) is not int:  # bool is an int subclass; yes/no is never a user id
        raise ConfigInvalid(f"{source}: fee_account_user_id must be an integer user id, got {value!r}")
    if not 0 < value < SYSTEM_USER_ID_END:
        raise ConfigInvalid(
            f"{source}: fee_account_user_id {value} is not a system account (1..{SYSTEM_USER_ID_END - 1})"
        )
    return value


def _build_asset(entry: Mapping[str, Any], source: str) -> Asset:
    try:
        name, asset_id, scale = str(entry["name"]), int(entry["asset_id"]), int(entry["scale"])
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigInvalid(f"{source}: asset {entry!r} needs name, asset_id and scale") from error
    if not 0 <= scale <= SCALE_MAX:
        raise ConfigInvalid(f"{source}: asset {name}: scale {scale} is outside 0..{SCALE_MAX}")
    if asset_id <= 0:
        raise ConfigInvalid(f"{source}: asset {name}: asset_id must be positive")
    return Asset(name=name, asset_id=asset_id, scale=scale)


def _units(
    entry: Mapping[str, Any], key: str, scale: int, symbol: str, source: str, *, allow_zero: bool = False
) -> int:
    try:
        return parse_units(str(entry[key]), scale, allow_zero=allow_zero)
    except KeyError as error:
        raise ConfigInvalid(f"{source}: market {symbol}: missing {key}") from error
    except InvalidAmount as error:
        raise ConfigInvalid(f"{source}: market {symbol}: {key}: {error}") from error


def _build_market(entry: Mapping[str, Any], assets: Mapping[str, Asset], source: str) -> Market:
    symbol = str(entry.get("symbol", "?"))
    base, quote = assets.get(str(entry.get("base"))), assets.get(str(entry.get("quote")))
    if base is None or quote is None:
        raise ConfigInvalid(f"{source}: market {symbol}: base and quote must name declared assets")
    if base.name == quote.name:
        raise ConfigInvalid(f"{source}: market {symbol}: base and quote are the same asset")
    tick_units = _units(entry, "tick", quote.scale, symbol, source)
    lot_units = _units(entry, "lot", base.scale, symbol, source)
    if (tick_units * lot_units) % 10**base.scale != 0:
        raise ConfigInvalid(
            f"{source}: market {symbol}: tick x lot ({tick_units} x {lot_units}) is not a multiple of "
            f"10**{base.scale}, so some notionals would be inexact"
        )
    min_qty_units = _units(entry, "min_qty", base.scale, symbol, source)
    if min_qty_units % lot_units != 0:
        raise ConfigInvalid(f"{source}: market {symbol}: min_qty is not a multiple of lot")
    maker_fee_ppm = _units(entry, "maker_fee", FEE_SCALE, symbol, source, allow_zero=True)
    taker_fee_ppm = _units(entry, "taker_fee", FEE_SCALE, symbol, source, allow_zero=True)
    if maker_fee_ppm >= PPM_DENOMINATOR or taker_fee_ppm >= PPM_DENOMINATOR:
        raise ConfigInvalid(f"{source}: market {symbol}: a fee rate must be below 1")
    min_notional_units = _units(entry, "min_notional", quote.scale, symbol, source)
    max_price_units, max_qty_units = _maxima(entry, base, quote, tick_units, lot_units, min_qty_units, source)
    if max_price_units * max_qty_units // 10**base.scale < min_notional_units:
        raise ConfigInvalid(f"{source}: market {symbol}: max_price x max_qty is below min_notional")
    try:
        market_id = int(entry["market_id"])
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigInvalid(f"{source}: market {symbol}: needs an integer market_id") from error
    return Market(
        symbol=symbol,
        market_id=market_id,
        base_asset=base.name,
        quote_asset=quote.name,
        base_asset_id=base.asset_id,
        quote_asset_id=quote.asset_id,
        base_scale=base.scale,
        quote_scale=quote.scale,
        tick_units=tick_units,
        lot_units=lot_units,
        min_qty_units=min_qty_units,
        min_notional_units=min_notional_units,
        maker_fee_ppm=maker_fee_ppm,
        taker_fee_ppm=taker_fee_ppm,
        max_price_units=max_price_units,
        max_qty_units=max_qty_units,
    )


def _maxima(
    entry: Mapping[str, Any], base: Asset, quote: Asset, tick_units: int, lot_units: int, min_qty_units: int,
    source: str,
) -> tuple[int, int]:  # fmt: skip
    """(max_price_units, max_qty_units), refused unless on tick/lot and every fill total of one order fits."""
    symbol = str(entry.get("symbol", "?"))
    max_price_units = _units(entry, "max_price", quote.scale, symbol, source)
    max_qty_units = _units(entry, "max_qty", base.scale, symbol, source)
    if max_price_units % tick_units != 0:
        raise ConfigInvalid(f"{source}: market {symbol}: max_price is not a multiple of tick")
    if max_qty_units % lot_units != 0:
        raise ConfigInvalid(f"{source}: market {symbol}: max_qty is not a multiple of lot")
    if max_qty_units < min_qty_units:
        raise ConfigInvalid(f"{source}: market {symbol}: max_qty is below min_qty")
    if max_qty_units > AMOUNT_UNITS_MAX:
        raise ConfigInvalid(f"{source}: market {symbol}: max_qty {max_qty_units} units leaves no room for a fee")
    # A SELL taker fills at makers' prices (up to max_price), a BUY at or below its own: either way one order's
    # fill total is at most max_price x max_qty.
    max_notional_units = max_price_units * max_qty_units // 10**base.scale
    if max_notional_units > AMOUNT_UNITS_MAX:
        raise ConfigInvalid(
            f"{source}: market {symbol}: max_price x max_qty = {max_notional_units} quote units, above "
            f"{AMOUNT_UNITS_MAX} (int64 with room for a fee): one order's fills could overflow"
        )
    return max_price_units, max_qty_units
