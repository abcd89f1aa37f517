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
    assert sum(line.startswith("  trade ") for line in lines) == 3, result.stdout  # 5 + 3, then 1 at market
    # alice: 50,000 - 5 x 3,000 - 3 x 3,010 - 1 x 2,900 USDT; 8 + 1 ETH less fees (taker 0.2 %: 0.016, maker 0.1 %:
    # 0.001). bob: 20 - 9 ETH; 15,000 + 9,030 less 0.1 % and 2,900 less 0.2 % USDT.
    assert any(line.startswith("balances  alice 8.98300000 ETH, 23070.000000 USDT") for line in lines), result.stdout
    assert any(line.startswith("balances  bob   11.00000000 ETH, 26900.170000 USDT") for line in lines), result.stdout
    assert lines[-1].startswith("demo ok"), result.stdout
