"""`python -m tools.demo` against the private stack (as `make demo` runs it against `make up`'s)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .exchange import Exchange

pytestmark = pytest.mark.e2e

DEMO_TIMEOUT_S = 180


def test_demo_plays_its_session_and_exits_zero(exchange: Exchange) -> None:
    """Users and keys created, funded, orders placed, filled and canceled, balances agree with the fills."""
    result = subprocess.run([sys.executable, "-m", "tools.demo"], capture_output=True, text=True, check=False,
                            env={**os.environ, "STACK_HOME": str(exchange.config.home)}, timeout=DEMO_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("user ") for line in lines) == 3, result.stdout
    assert sum(line.startswith("  trade ") for line in lines) == 3, result.stdout  # 0.5 + 0.3, then 0.1 at market
    assert any(line.startswith("balances  alice 0.89830000 BTC, 9570.000000 USDT") for line in lines), result.stdout
    assert any(line.startswith("balances  bob   1.10000000 BTC, 40385.170000 USDT") for line in lines), result.stdout
    assert lines[-1].startswith("demo ok"), result.stdout
