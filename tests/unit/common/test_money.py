"""Exact decimal <-> units conversion: every accepted shape, and every bad input rejected with its reason."""

import pytest

from common.errors import InvalidAmount
from common.money import (
    AMOUNT_CHARS_MAX,
    INT64_MAX,
    average_price_units,
    check_int64,
    fee_units,
    format_units,
    notional_units,
    parse_units,
)


@pytest.mark.parametrize(
    ("text", "scale", "units"),
    [
        ("0.5", 8, 50_000_000),
        ("45000.00", 6, 45_000_000_000),
        ("1", 0, 1),
        ("0.00000001", 8, 1),
        ("1.10000000000", 2, 110),  # trailing zeros beyond the scale are exact, so accepted
        ("1." + "0" * 30, 8, 100_000_000),  # however many of them
        ("0" * 30 + "1", 0, 1),  # and leading zeros
        ("92233720368.54775807", 8, INT64_MAX),
    ],
)
def test_parse_units_with_plain_decimal_returns_exact_units(text: str, scale: int, units: int) -> None:
    assert parse_units(text, scale) == units


@pytest.mark.parametrize(
    ("text", "scale", "reason"),
    [
        ("0.000000001", 8, "TOO_MANY_DECIMALS"),
        ("1.001", 2, "TOO_MANY_DECIMALS"),
        ("-1", 8, "NEGATIVE"),
        ("0", 8, "ZERO"),
        ("0.000", 8, "ZERO"),
        ("92233720368.54775808", 8, "OUT_OF_RANGE"),
        ("1e5", 8, "NOT_A_DECIMAL"),
        ("+1", 8, "NOT_A_DECIMAL"),
        ("1,000", 8, "NOT_A_DECIMAL"),
        (".5", 8, "NOT_A_DECIMAL"),
        ("5.", 8, "NOT_A_DECIMAL"),
        ("", 8, "NOT_A_DECIMAL"),
        ("NaN", 8, "NOT_A_DECIMAL"),
        ("١٢", 8, "NOT_A_DECIMAL"),  # non-ASCII digits are not accepted
        (" 1", 8, "NOT_A_DECIMAL"),  # whitespace around an amount: taken exactly as sent or not at all
        ("1 ", 8, "NOT_A_DECIMAL"),
        ("0.0005\n", 8, "NOT_A_DECIMAL"),
        ("\u00a01", 8, "NOT_A_DECIMAL"),
        (" -1", 8, "NOT_A_DECIMAL"),
        ("12345678901234567890", 0, "OUT_OF_RANGE"),  # 20 integer digits: a decimal, above int64
        ("99999999999999999999999999", 8, "OUT_OF_RANGE"),
        ("9" * AMOUNT_CHARS_MAX, 0, "OUT_OF_RANGE"),
        ("0." + "0" * 30 + "1", 8, "TOO_MANY_DECIMALS"),
        ("1" * (AMOUNT_CHARS_MAX + 1), 0, "NOT_A_DECIMAL"),  # longer than the cap: not read further
    ],
)
def test_parse_units_with_bad_input_raises_with_reason(text: str, scale: int, reason: str) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_units(text, scale)
    assert caught.value.reason == reason


@pytest.mark.parametrize("text", ["1" * 100_000, "A" * 5_000_000, "1." + "1" * 100_000, "-" + "😀" * 100_000])
def test_parse_units_message_quotes_a_long_input_shortened_with_its_length(text: str) -> None:
    """A refusal's message names at most the input's first 64 characters and its length, however long it is."""
    with pytest.raises(InvalidAmount) as caught:
        parse_units(text, 8)
    message = str(caught.value)
    assert len(message) < 200
    assert f"… ({len(text)} characters)" in message
    assert message.startswith(repr(text[:64]))


def test_parse_units_with_allow_zero_accepts_zero() -> None:
    assert parse_units("0.00", 2, allow_zero=True) == 0


def test_parse_units_with_non_string_raises() -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_units(0.5, 8)  # type: ignore[arg-type]
    assert caught.value.reason == "NOT_A_DECIMAL"


def test_format_units_pads_to_scale_and_keeps_sign() -> None:
    assert format_units(50_000_000, 8) == "0.50000000"
    assert format_units(-1, 6) == "-0.000001"
    assert format_units(7, 0) == "7"


def test_check_int64_rejects_out_of_range() -> None:
    assert check_int64(INT64_MAX) == INT64_MAX
    with pytest.raises(InvalidAmount):
        check_int64(INT64_MAX + 1)


def test_notional_of_design_example_is_exact() -> None:
    """DESIGN.md: 0.5 BTC at 45000.00 costs exactly 22500 USDT."""
    assert notional_units(parse_units("45000.00", 6), parse_units("0.5", 8), 8) == parse_units("22500", 6)


def test_fee_units_rounds_up_to_whole_unit() -> None:
    assert fee_units(1_000_000, 1_000) == 1_000
    assert fee_units(1, 1_000) == 1  # 0.001 of a unit still costs one unit
    assert fee_units(0, 1_000) == 0
    assert fee_units(999, 1_000) == 1
    assert fee_units(1_001, 1_000) == 2


def test_average_price_is_quote_per_whole_base_rounded_down() -> None:
    """0.3 BTC at 100.00 and 0.2 at 100.01 (USDT scale 6, BTC 8) average 100.004 exactly; a third of a unit is
    cut, never rounded up; nothing filled averages to 0."""
    quote = notional_units(100_000_000, 30_000_000, 8) + notional_units(100_010_000, 20_000_000, 8)
    assert average_price_units(quote, 50_000_000, 8) == 100_004_000
    assert average_price_units(10, 3 * 10**8, 8) == 3  # 10 / 3 units of quote per whole base
    assert average_price_units(0, 0, 8) == 0
