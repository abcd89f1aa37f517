"""One private whole exchange per test session (tests/e2e/exchange.py); the infrastructure fixtures it needs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.infra import kafka, runner
from tools.infra.layout import KAFKA_BOOTSTRAP

from .exchange import Exchange, private_exchange


@pytest.fixture(scope="session")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    """The whole stack (every service + REST proxy) on private topics, keyspace, ports and Aeron streams."""
    for component in (kafka.NAME, "cassandra", "aeron"):
        [row] = runner.status([component])
        if not row.ready:
            pytest.fail(f"{component} is not ready: run `bin/stack infra up`", pytrace=False)
    with private_exchange(KAFKA_BOOTSTRAP, tmp_path_factory.mktemp("stack")) as running:
        yield running
