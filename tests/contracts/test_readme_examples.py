"""The seed-style REST examples of the README work as written: the block between the `rest-examples` markers is
run with bash (curl) against the real proxy and the backend double, and the backend receives what it says."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from exchange.v1 import account_service_pb2, common_pb2, trading_service_pb2

from .conftest import Backend, Proxy

README = Path(__file__).resolve().parents[2] / "README.md"
SCRIPT_TIMEOUT_S = 60


def _examples() -> str:
    block = README.read_text().split("<!-- rest-examples: begin -->\n", 1)[1].split("<!-- rest-examples: end -->", 1)[0]
    assert block.startswith("```bash\n"), block
    assert block.rstrip().endswith("```"), block
    return block.removeprefix("```bash\n").rstrip().removesuffix("```")


def test_readme_rest_examples_work_as_written(proxy: Proxy, backend: Backend) -> None:
    backend.double.reset()

    result = subprocess.run(["bash", "-euo", "pipefail", "-c", _examples()], capture_output=True, text=True,
                            timeout=SCRIPT_TIMEOUT_S,
                            env={**os.environ, "REST": proxy.base_url, "EXCHANGE_API_KEY": "key-of-the-readme"})

    assert result.returncode == 0, result.stdout + result.stderr
    (deposit,) = backend.double.calls_of("AccountService/TransferIn")
    assert deposit.request == account_service_pb2.TransferInRequest(
        request_id="dep-1001-1", user_id=1001, asset="USDT", amount="100000", result_wait_ms=5000)
    (withdrawal,) = backend.double.calls_of("AccountService/TransferOut")
    assert withdrawal.request == account_service_pb2.TransferOutRequest(
        request_id="wd-1001-1", user_id=1001, asset="USDT", amount="25.5")
    (order,) = backend.double.calls_of("TradingService/PlaceOrder")
    assert order.request == trading_service_pb2.PlaceOrderRequest(
        client_order_id="buy-1", symbol="BTC_USDT", side=common_pb2.SIDE_BUY, order_type=common_pb2.ORDER_TYPE_LIMIT,
        time_in_force=common_pb2.TIME_IN_FORCE_GTC, price="45000.00", quantity="0.5")
    assert ("authorization", "Bearer key-of-the-readme") in order.metadata
    (lookup,) = backend.double.calls_of("TradingService/GetOrder")
    assert lookup.request == trading_service_pb2.GetOrderRequest(client_order_id="buy-1")
    (listing,) = backend.double.calls_of("TradingService/ListOrders")
    assert listing.request == trading_service_pb2.ListOrdersRequest(symbol="BTC_USDT", open_only=True, page_size=50)
    assert len(backend.double.calls_of("AccountService/GetBalances")) == 1
