"""Every `bash`/`sh` block of README.md runs as written against the private stack (tests/contracts/readme_blocks.py
reads them; a block marked `<!-- not run by tests: why -->` is skipped, for the reason it states)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from exchange.v1 import account_service_pb2

from ..contracts.readme_blocks import shell_blocks
from .exchange import Exchange, eventually

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
BLOCK_TIMEOUT_S = 300
README_USER_ID = 1001  # the account the README's examples name


def test_every_readme_shell_block_runs_or_says_why_not() -> None:
    """The README's runnable blocks include the whole-exchange commands and both API example blocks; every
    other block states a reason."""
    blocks = shell_blocks()
    runnable = [block.code for block in blocks if not block.not_run]
    assert any("python -m tools.demo" in code for code in runnable)
    assert any("curl -sSf" in code for code in runnable)
    assert any("grpcurl -plaintext" in code for code in runnable)
    assert all(block.not_run.strip() for block in blocks if block.not_run)
    assert len(runnable) + sum(1 for block in blocks if block.not_run) == len(blocks)


def test_readme_shell_blocks_run_as_written_on_the_private_stack(exchange: Exchange) -> None:
    """Each runnable block exits 0 with bash -euo pipefail (run in README order, settings pointing at the private
    stack); afterwards user 1001 holds what the API examples did: 100000 - 25.5 USDT with 22500 frozen for the
    resting buy, 1 BTC with 0.25 frozen for the resting sell."""
    user = exchange.new_user("read", "trade", "transfer", user_id=README_USER_ID)
    env = {**os.environ, "REST": exchange.rest, "GRPC": f"127.0.0.1:{exchange.config.ports.gateway_grpc}",
           "EXCHANGE_API_KEY": user.key, "STACK_HOME": str(exchange.config.home),
           "UBSCORE_STATE_DIR": str(exchange.config.state_dir("ubscore")),
           "PATH": f"{REPO_ROOT / '.local' / 'bin'}:{os.environ['PATH']}"}
    failures = []
    ran = 0
    for block in shell_blocks():
        if block.not_run:
            continue
        ran += 1
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], capture_output=True, text=True,
                                timeout=BLOCK_TIMEOUT_S, env=env, cwd=REPO_ROOT, check=False)
        if result.returncode != 0:
            failures.append(f"README.md line {block.line}: exit {result.returncode}\n{block.code}\n"
                            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    assert not failures, "\n\n".join(failures)
    assert ran >= 4  # whole exchange, UBSCore dump, curl, grpcurl

    def balances() -> dict[str, tuple[str, str]]:
        answer = exchange.account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=user.auth)
        return {entry.asset: (entry.available, entry.frozen) for entry in answer.balances}

    expected = {"USDT": ("77474.500000", "22500.000000"), "BTC": ("0.75000000", "0.25000000")}
    eventually(balances, lambda found: {asset: found.get(asset) for asset in expected} == expected)
