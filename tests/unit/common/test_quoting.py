"""Values quoted in error messages are shortened to a bound, with the length of what was cut."""

from __future__ import annotations

from common.quoting import ECHO_CHARS_MAX, quoted, shortened


def test_short_text_and_values_are_unchanged() -> None:
    assert shortened("abc") == "abc"
    assert shortened("x" * ECHO_CHARS_MAX) == "x" * ECHO_CHARS_MAX
    assert quoted("BTC_USDT") == "'BTC_USDT'"
    assert quoted(0.5) == "0.5"


def test_long_text_keeps_its_first_characters_and_says_its_length() -> None:
    assert shortened("abcdef", 3) == "abc… (6 characters)"
    assert quoted("A" * 5_000_000) == repr("A" * ECHO_CHARS_MAX) + "… (5000000 characters)"
    assert quoted(b"\x00" * 1_000, 10) == "b'\\x00\\x00… (4003 characters)"


def test_quoted_stays_bounded_whatever_the_characters() -> None:
    """repr escapes lengthen a character (up to 10 for \\U0010ffff): fewer are kept, the bound holds."""
    for text in ("\U0010ffff" * 100_000, "\x00" * 100_000, "😀" * 100_000, "'\"" * 100_000, "\x00" * 64):
        assert len(quoted(text)) <= ECHO_CHARS_MAX + 40
    assert quoted("\x00" * 64) == repr("\x00" * 16) + "… (64 characters)"
    assert quoted("\x00" * 16) == repr("\x00" * 16)
