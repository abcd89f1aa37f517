"""Property tests: decimal <-> units round trips, and notionals of on-tick, on-lot orders are always exact."""

from hypothesis import assume, given
from hypothesis import strategies as st

from common.markets import load_catalog
from common.money import INT64_MAX, PPM_DENOMINATOR, fee_units, format_units, parse_units

scales = st.integers(min_value=0, max_value=18)


@given(units=st.integers(min_value=1, max_value=INT64_MAX), scale=scales)
def test_format_then_parse_returns_same_units(units: int, scale: int) -> None:
    assert parse_units(format_units(units, scale), scale) == units


@given(whole=st.integers(min_value=0, max_value=10**6), fraction=st.text("0123456789", min_size=1, max_size=8))
def test_parse_then_format_keeps_value(whole: int, fraction: str) -> None:
    """Parsing then formatting gives the same number, written with exactly `scale` decimals."""
    text = f"{whole}.{fraction}"
    assume(int(text.replace(".", "")) != 0)
    units = parse_units(text, 8)
    assert format_units(units, 8) == f"{whole}.{fraction.ljust(8, '0')}"


@given(data=st.data())
def test_notional_of_on_tick_on_lot_order_is_exact(data: st.DataObject) -> None:
    """For every configured market, any price on the tick times any quantity on the lot is whole quote units."""
    catalog = load_catalog()
    market = data.draw(st.sampled_from(sorted(catalog.markets.values(), key=lambda m: m.market_id)))
    ticks = data.draw(st.integers(min_value=1, max_value=10**9))
    lots = data.draw(st.integers(min_value=1, max_value=10**9))
    price_units, qty_units = ticks * market.tick_units, lots * market.lot_units
    notional = market.notional_units(price_units, qty_units)
    assert notional * 10**market.base_scale == price_units * qty_units


@given(amount=st.integers(min_value=0, max_value=INT64_MAX), fee_ppm=st.integers(0, PPM_DENOMINATOR - 1))
def test_fee_is_smallest_whole_unit_not_below_exact_fee(amount: int, fee_ppm: int) -> None:
    fee = fee_units(amount, fee_ppm)
    assert fee * PPM_DENOMINATOR >= amount * fee_ppm
    assert (fee - 1) * PPM_DENOMINATOR < amount * fee_ppm or fee == 0
    assert fee <= amount
