"""Fixtures for the matcher core's unit tests: every book implementation to run them on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.markets import Market
from matcher.book import Book
from matcher.book_reference import ReferenceBook

BookFactory = Callable[[Market], Book | ReferenceBook]


@pytest.fixture(params=[ReferenceBook, Book], ids=["reference", "fast"])
def make_book(request: pytest.FixtureRequest) -> BookFactory:
    """Every test using this fixture runs once on the naive book and once on the fast one."""
    return request.param
