"""The README's API examples work as written against the real stack: the curl block (`rest-examples`) through the
real REST proxy, then the grpcurl block (`grpc-examples`), both run with bash exactly as they stand in README.md,
against matcher, UBSCore, Settlement and the gateway (full_stack.py), with one key of user 1001 holding the
read, trade and transfer roles as the README says. Afterwards the account shows exactly what they did."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from exchange.v1 import account_service_pb2, account_service_pb2_grpc, trading_service_pb2, trading_service_pb2_grpc
from gateway.app import Gateway

from ...contracts.conftest import start_proxy, stop_proxy
from ..settlement import conftest as settlement_fixtures
from ..ubscore.conftest import Stack
from .calls import bearer
from .conftest import eventually
from .full_stack import start_full_stack

pytestmark = pytest.mark.integration

settlement_factory = settlement_fixtures.settlement_factory

REPO_ROOT = Path(__file__).resolve().parents[3]
README = REPO_ROOT / "README.md"
SCRIPT_TIMEOUT_S = 120


def readme_block(name: str) -> str:
    """The bash code between `<!-- {name}: begin -->` and `<!-- {name}: end -->` in README.md."""
    block = README.read_text().split(f"<!-- {name}: begin -->\n", 1)[1].split(f"<!-- {name}: end -->", 1)[0]
    assert block.startswith("```bash\n"), block
    return block.removeprefix("```bash\n").rstrip().removesuffix("```")


def run_block(name: str, env: dict[str, str]) -> str:
    """Run a README block with bash -euo pipefail; its stdout (it must exit 0)."""
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_block(name)], capture_output=True, text=True,
                            timeout=SCRIPT_TIMEOUT_S, env={**os.environ, **env}, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_readme_curl_and_grpcurl_examples_work_as_written_on_the_real_stack(
    stack: Stack, keyspace: str, settlement_factory: Callable[..., settlement_fixtures.SettlementProcess],
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], proxy_binary: Path, tmp_path: Path,
) -> None:
    """Both blocks exit 0; user 1001 then holds 100000 - 25.5 USDT with 22500 frozen for the resting buy, 1 BTC
    with 0.25 frozen for the resting sell, and both orders are open."""
    key, key_id = make_key(1001, "read", "trade", "transfer")
    gateway = start_full_stack(stack, keyspace, settlement_factory, gateway_factory, [key_id])
    proxy = start_proxy(proxy_binary, f"127.0.0.1:{gateway.port}", tmp_path / "rest.log")
    try:
        rest_output = run_block("rest-examples", {"REST": proxy.base_url, "EXCHANGE_API_KEY": key})
    finally:
        stop_proxy(proxy)
    assert '"client_order_id":"buy-1"' in rest_output.replace(" ", "")
    grpc_output = run_block("grpc-examples", {
        "GRPC": f"127.0.0.1:{gateway.port}", "EXCHANGE_API_KEY": key,
        "PATH": f"{REPO_ROOT / '.local' / 'bin'}:{os.environ['PATH']}",
    })
    assert "exchange.v1.TradingService" in grpc_output
    assert '"status": "SERVING"' in grpc_output

    channel = channel_factory(gateway.port)
    account = account_service_pb2_grpc.AccountServiceStub(channel)
    trading = trading_service_pb2_grpc.TradingServiceStub(channel)

    def balances() -> dict[str, tuple[str, str]]:
        response = account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=bearer(key))
        return {b.asset: (b.available, b.frozen) for b in response.balances}

    def open_orders() -> list[str]:
        response = trading.ListOrders(trading_service_pb2.ListOrdersRequest(open_only=True), metadata=bearer(key))
        return sorted(order.client_order_id for order in response.orders)

    # Balances come from balance.events, open orders from the matcher feed: Settlement stores the two inputs
    # independently, so each is awaited (the assertions are the waits' conditions).
    expected = {"USDT": ("77474.500000", "22500.000000"), "BTC": ("0.75000000", "0.25000000")}
    eventually(lambda: balances() == expected, timeout_ms=90_000)
    eventually(lambda: open_orders() == ["buy-1", "sell-1"], timeout_ms=90_000)
