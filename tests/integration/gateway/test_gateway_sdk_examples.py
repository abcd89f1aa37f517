"""The SDK example clients (examples/python/client.py on gen/python, examples/go on gen/go) run as a user runs them,
as subprocesses, against a real stack: matcher, UBSCore, Settlement and the gateway (tests/integration/gateway/
full_stack.py). Each connects, authenticates with its API key, reads its balances, places an order with decimal
strings, reads it back from the database and sees it on its private stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from exchange.v1 import account_service_pb2, account_service_pb2_grpc
from gateway.app import Gateway

from ..settlement import conftest as settlement_fixtures
from ..ubscore.conftest import Stack
from .calls import bearer
from .conftest import eventually
from .full_stack import start_full_stack

pytestmark = pytest.mark.integration

settlement_factory = settlement_fixtures.settlement_factory

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_TIMEOUT_S = 240
WAIT_S = 90  # each example's own bound on its waits (the order read back, its update): a loaded machine is slow
GO_BUILD_TIMEOUT_S = 600
ALICE, BOB, OPERATOR = 1001, 1002, 5000


def steps(stdout: str) -> dict[str, list[dict]]:
    """The example's JSON lines, grouped by step name."""
    found: dict[str, list[dict]] = {}
    for line in stdout.splitlines():
        [(step, body)] = json.loads(line).items()
        found.setdefault(step, []).append(body)
    return found


def run_example(command: list[str], key: str) -> dict[str, list[dict]]:
    """Run one example with the key in its environment, as documented; its steps (it must exit 0)."""
    env = {**os.environ, "EXCHANGE_API_KEY": key}
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=EXAMPLE_TIMEOUT_S, check=False)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return steps(result.stdout)


def test_python_and_go_sdk_examples_place_read_back_and_follow_their_orders(
    stack: Stack, keyspace: str, settlement_factory: Callable[..., settlement_fixtures.SettlementProcess],
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], tmp_path: Path,
) -> None:
    """Alice (Python SDK) rests a buy of 0.1 BTC at 44000, Bob (Go SDK) a sell of 0.2 at 46000: each example
    prints its opening balances, the accepted order, the same order read back and its NEW update on the stream."""
    keys = {user: make_key(user, *roles) for user, roles in (
        (ALICE, ("trade", "read")), (BOB, ("trade", "read")), (OPERATOR, ("transfer",)))}
    gateway = start_full_stack(stack, keyspace, settlement_factory, gateway_factory,
                               [key_id for _, key_id in keys.values()])
    account = account_service_pb2_grpc.AccountServiceStub(channel_factory(gateway.port))
    for request_id, user_id, asset, amount in (("sdk-alice", ALICE, "USDT", "10000"), ("sdk-bob", BOB, "BTC", "1")):
        deposit = account.TransferIn(account_service_pb2.TransferInRequest(
            request_id=request_id, user_id=user_id, asset=asset, amount=amount, result_wait_ms=5_000,
        ), metadata=bearer(keys[OPERATOR][0])).transfer  # fmt: skip
        assert deposit.status == account_service_pb2.TRANSFER_STATUS_COMPLETED, deposit

    def stored(user_id: int, asset: str, amount: str) -> bool:
        balances = account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=bearer(keys[user_id][0]))
        return [(b.asset, b.available) for b in balances.balances] == [(asset, amount)]

    # Each example opens with its balances read from the database; a COMPLETED deposit is UBSCore's answer, which
    # Settlement stores later, so both users' balances are awaited before an example runs.
    eventually(lambda: stored(ALICE, "USDT", "10000.000000") and stored(BOB, "BTC", "1.00000000"), timeout_ms=90_000)
    target = f"127.0.0.1:{gateway.port}"

    python = run_example([sys.executable, "examples/python/client.py", "--target", target, "--side", "buy",
                          "--price", "44000.00", "--quantity", "0.1", "--client-order-id", "sdk-py-1",
                          "--timeout-s", str(WAIT_S)],
                         keys[ALICE][0])
    go_binary = tmp_path / "example"
    built = subprocess.run(["go", "build", "-o", str(go_binary), "./examples/go"], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=GO_BUILD_TIMEOUT_S, check=False)
    assert built.returncode == 0, built.stderr
    go = run_example([str(go_binary), "--target", target, "--side", "sell", "--price", "46000.00",
                      "--quantity", "0.2", "--client-order-id", "sdk-go-1", "--timeout", f"{WAIT_S}s"], keys[BOB][0])

    for output, client_order_id, side, price, quantity, funded in (
        (python, "sdk-py-1", "SIDE_BUY", "44000.000000", "0.10000000", ("USDT", "10000.000000")),
        (go, "sdk-go-1", "SIDE_SELL", "46000.000000", "0.20000000", ("BTC", "1.00000000")),
    ):
        [balances] = output["balances"]
        assert [(b["asset"], b["available"]) for b in balances["balances"]] == [funded]
        [placed] = output["placed"]
        [order] = output["order"]
        assert (order["order_id"], order["client_order_id"], order["side"], order["price"], order["quantity"],
                order["status"]) == (placed["order_id"], client_order_id, side, price, quantity, "ORDER_STATUS_NEW")
        updates = [event["order_update"] for event in output["stream"] if "order_update" in event]
        assert [(u["order_id"], u["status"]) for u in updates] == [(placed["order_id"], "ORDER_STATUS_NEW")]
