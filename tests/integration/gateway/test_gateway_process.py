"""`python -m gateway` as a real process, driven by grpcurl and the admin command, as an operator would.

The process reads its settings from GATEWAY_* variables (free ports, the test's private keyspace, no matcher
feed), logs JSON lines, serves reflection (grpcurl needs no proto files), health, metrics, and stops cleanly
on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import eventually, free_port

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[3]
GRPCURL = REPO_ROOT / ".local" / "bin" / "grpcurl"


@pytest.fixture
def gateway_process(keyspace: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """A running `python -m gateway` (address, metrics port, log path); SIGKILLed if a test left it running."""
    address, metrics_port = f"127.0.0.1:{free_port()}", free_port()
    env = {
        **os.environ, "GATEWAY_GRPC_ADDRESS": address, "GATEWAY_METRICS_PORT": str(metrics_port),
        "GATEWAY_CQL_KEYSPACE": keyspace, "GATEWAY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "GATEWAY_MATCHER_PUB_ENDPOINT": "", "GATEWAY_UBSCORE_STREAM_ID": "0",
        "GATEWAY_KEY_REFRESH_MS": "200", "GATEWAY_HEALTH_INTERVAL_MS": "200",
    }
    log_path = tmp_path / "gateway.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=REPO_ROOT, env=env, stderr=log_file)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gateway exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        return "gateway ready" in log_path.read_text()

    eventually(ready, timeout_ms=30_000)
    yield address, metrics_port, log_path
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert all(json.loads(line)["level"] for line in log_path.read_text().splitlines()), "a log line is not JSON"


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run grpcurl (installed by `make setup`) in plaintext mode."""
    assert GRPCURL.exists(), f"{GRPCURL} missing: run `make setup`"
    return subprocess.run([str(GRPCURL), "-plaintext", *args], capture_output=True, text=True, timeout=30, check=False)


def apikeys(keyspace: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the admin command against the test's keyspace."""
    return subprocess.run(
        [sys.executable, "-m", "tools.apikeys", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "GATEWAY_CQL_KEYSPACE": keyspace}, check=False,
    )


def test_grpcurl_lists_and_calls_the_services_through_reflection(
    gateway_process: tuple[str, int, Path], keyspace: str
) -> None:
    """grpcurl lists and describes the services with no proto files; a key from the admin command reads markets;
    no key is Unauthenticated; health turns SERVING; metrics count the calls."""
    address, metrics_port, _ = gateway_process
    listed = grpcurl(address, "list")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {
        "exchange.v1.TradingService", "exchange.v1.AccountService", "exchange.v1.MarketDataService",
        "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
    }
    described = grpcurl(address, "describe", "exchange.v1.TradingService")
    assert "rpc PlaceOrder ( .exchange.v1.PlaceOrderRequest )" in described.stdout

    created = apikeys(keyspace, "create", "--user-id", "1020", "--role", "read", "--label", "grpcurl test")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    listed_keys = apikeys(keyspace, "list", "--user-id", "1020")
    assert json.loads(listed_keys.stdout)["roles"] == ["read"]
    assert key.split("_")[-1] not in listed_keys.stdout  # the secret is never shown again

    def markets_listed() -> bool:
        called = grpcurl("-H", f"authorization: Bearer {key}", address, "exchange.v1.MarketDataService/ListMarkets")
        return called.returncode == 0 and "BTC_USDT" in called.stdout

    eventually(markets_listed, timeout_ms=10_000)
    refused = grpcurl(address, "exchange.v1.MarketDataService/ListMarkets")
    assert refused.returncode != 0
    assert "Unauthenticated" in refused.stdout + refused.stderr
    assert "REJECT_REASON_UNAUTHENTICATED" in refused.stdout + refused.stderr

    def serving() -> bool:
        return '"SERVING"' in grpcurl(address, "grpc.health.v1.Health/Check").stdout

    eventually(serving, timeout_ms=10_000)
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'gateway_requests_total{code="UNAUTHENTICATED",method="/exchange.v1.MarketDataService/ListMarkets"}' in text


def test_admin_command_refuses_system_accounts_and_unknown_roles(keyspace: str) -> None:
    """No keys for user ids below 1000, none with a made-up role, and revoking an unknown key fails."""
    system = apikeys(keyspace, "create", "--user-id", "1", "--role", "read")
    assert system.returncode == 2
    assert "system account" in system.stderr
    assert apikeys(keyspace, "create", "--user-id", "1021", "--role", "root").returncode == 2
    assert apikeys(keyspace, "revoke", "0123456789abcdef").returncode == 2
