"""Exact money arithmetic: decimal strings at the edge, int64 counts of smallest units inside.

Every asset has a `scale` (decimal places of its smallest unit: BTC 8, USDT 6). Amounts are `int` counts of
those units; floats and `Decimal` never touch money. Decimal strings are parsed and formatted here only, and
parsing is exact or it fails with `InvalidAmount` naming the reason.
"""

from __future__ import annotations

import re

from common.errors import InvalidAmount
from common.quoting import quoted

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
SCALE_MAX = 18
PPM_DENOMINATOR = 1_000_000

# A longer string is refused before it is matched or converted, so parsing stays cheap whatever a client sends;
# anything that fits int64 at any scale is far shorter (19 whole digits, 18 decimals plus trailing zeros).
AMOUNT_CHARS_MAX = 128
# No sign, no exponent, no thousands separators: the only accepted shape is 123 or 123.456.
_AMOUNT_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def parse_units(text: str, scale: int, *, allow_zero: bool = False) -> int:
    """Parse a plain decimal string into smallest units, exactly.

    parse_units("0.5", 8) == 50_000_000. Raises InvalidAmount (with a reason) for a malformed string, a sign,
    more decimals than `scale` allows (trailing zeros are fine), zero (unless `allow_zero`), or a value above
    int64 (OUT_OF_RANGE, however many digits, up to AMOUNT_CHARS_MAX characters). A string longer than
    AMOUNT_CHARS_MAX is NOT_A_DECIMAL without being read further, and so is one with whitespace around it: an
    amount is taken exactly as sent or not at all. Messages quote the input shortened (common.quoting).
    """
    assert 0 <= scale <= SCALE_MAX, scale
    if not isinstance(text, str):
        raise InvalidAmount(f"{quoted(text)}: not a string", reason="NOT_A_DECIMAL")
    if len(text) > AMOUNT_CHARS_MAX:
        raise InvalidAmount(
            f"{quoted(text)}: not a plain decimal (longer than {AMOUNT_CHARS_MAX} characters)", reason="NOT_A_DECIMAL"
        )
    if text.startswith("-"):
        raise InvalidAmount(f"{quoted(text)}: negative amounts are not allowed", reason="NEGATIVE")
    match = _AMOUNT_RE.fullmatch(text)
    if match is None:
        raise InvalidAmount(f"{quoted(text)}: not a plain decimal like 12.345", reason="NOT_A_DECIMAL")
    whole, fraction = match.group(1), match.group(2) or ""
    significant = fraction.rstrip("0")
    if len(significant) > scale:
        raise InvalidAmount(f"{quoted(text)}: more than {scale} decimal places", reason="TOO_MANY_DECIMALS")
    units = int(whole) * 10**scale + int(significant.ljust(scale, "0") or "0")
    if units > INT64_MAX:
        raise InvalidAmount(f"{quoted(text)}: out of range (above int64 at scale {scale})", reason="OUT_OF_RANGE")
    if units == 0 and not allow_zero:
        raise InvalidAmount(f"{quoted(text)}: must be greater than zero", reason="ZERO")
    return units


def format_units(units: int, scale: int) -> str:
    """Format smallest units as a decimal string with exactly `scale` decimals: (50_000_000, 8) -> "0.50000000"."""
    assert 0 <= scale <= SCALE_MAX, scale
    check_int64(units)
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**scale)
    if scale == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{scale}d}"


def check_int64(value: int) -> int:
    """Return `value` if it fits a signed int64, else raise InvalidAmount(OUT_OF_RANGE)."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidAmount(f"{value}: out of int64 range", reason="OUT_OF_RANGE")
    return value


def notional_units(price_units: int, qty_units: int, base_scale: int) -> int:
    """Quote units of `qty_units` base units at `price_units` per whole base unit.

    Markets are configured so that this division is always exact (see common.markets); an inexact notional is a
    bug, so it is asserted rather than rounded.
    """
    product = price_units * qty_units
    notional, remainder = divmod(product, 10**base_scale)
    assert remainder == 0, (price_units, qty_units, base_scale)
    return notional


def average_price_units(filled_quote_units: int, filled_qty_units: int, base_scale: int) -> int:
    """The average price of fills (quote units per whole base unit), rounded down to a whole quote unit; 0 if none.

    Fills at several prices average to a price off the tick (0.3 at 100.00 and 0.2 at 100.01 average 100.004),
    so this is a display value, never an input to money arithmetic.
    """
    assert filled_quote_units >= 0, filled_quote_units
    assert filled_qty_units >= 0, filled_qty_units
    if filled_qty_units == 0:
        return 0
    return filled_quote_units * 10**base_scale // filled_qty_units


def fee_units(amount_units: int, fee_ppm: int) -> int:
    """Fee in smallest units on `amount_units` at `fee_ppm` parts per million, rounded up to a whole unit."""
    assert amount_units >= 0, amount_units
    assert 0 <= fee_ppm < PPM_DENOMINATOR, fee_ppm
    return -(-amount_units * fee_ppm // PPM_DENOMINATOR)
