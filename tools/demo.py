"""`python -m tools.demo` (`make demo`): a small trading session on the running stack (`make up`), printed as it goes.

It creates two users (alice, bob) and an operator, each with an API key (`python -m tools.apikeys create`), funds
alice with 50,000 USDT and bob with 20 ETH, then through the gateway's gRPC API (the SDK in gen/python), on
ETH_USDT (the README's API examples and the SDK examples trade BTC_USDT and leave orders resting there, which
would take the demo's orders):

1. bob offers 5 ETH at 3,000 and 5 ETH at 3,010 (limit GTC);
2. alice buys 8 ETH limited at 3,010: it takes the cheaper ask first (maker price), then part of the second;
3. alice bids 2 ETH at 2,900; bob sells 1 ETH at market into it;
4. both cancel what is left; once every order reads back final (GetOrder), each user's balances (GetBalances) are
   compared with what their deposits and their fills (ListFills: price, quantity, fee) imply, to the smallest unit.

It exits 1 if an answer is not what the step expects or the balances disagree (within the deadline Settlement needs
to store everything), 0 otherwise. Every run uses new user ids and ids, so it can run again on the same stack.
Settings come from the running stack (`STACK_HOME/run/stack.json`: the gateway port, the keyspace of api_keys).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import grpc

from common.markets import MarketCatalog, load_catalog
from common.money import format_units, parse_units
from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    common_pb2,
    trading_service_pb2,
    trading_service_pb2_grpc,
)
from tools.stack_config import StackConfig, running_stack, saved_stack_home

REPO_ROOT = Path(__file__).resolve().parents[1]
SYMBOL = "ETH_USDT"
RESULT_WAIT_MS = 5_000
SETTLE_TIMEOUT_MS = 30_000
POLL_MS = 200
FINAL_STATUSES = (common_pb2.ORDER_STATUS_FILLED, common_pb2.ORDER_STATUS_CANCELED)
USER_ID_MIN, USER_ID_MAX = 100_000, 900_000_000  # new accounts each run (ids below 1000 are system accounts)


class DemoFailed(Exception):
    """A step did not give what it should."""


class Demo:
    """The gateway's stubs, the three keys, and what was deposited."""

    def __init__(self, channel: grpc.Channel, keys: dict[str, tuple[int, str]], catalog: MarketCatalog) -> None:
        self.trading = trading_service_pb2_grpc.TradingServiceStub(channel)
        self.account = account_service_pb2_grpc.AccountServiceStub(channel)
        self.keys = keys
        self.catalog = catalog
        self.deposited: dict[str, Counter[str]] = {name: Counter() for name in keys}
        self.run_id = f"{int(time.time())}{random.randrange(1000):03d}"
        self.placed: list[tuple[str, int]] = []

    def auth(self, name: str) -> tuple[tuple[str, str]]:
        """The bearer metadata of `name`'s key."""
        return (("authorization", f"Bearer {self.keys[name][1]}"),)

    def fund(self, name: str, asset: str, amount: str) -> None:
        """Deposit with the operator's key and wait for UBSCore's outcome."""
        transfer = self.account.TransferIn(account_service_pb2.TransferInRequest(
            request_id=f"demo-{self.run_id}-{name}-{asset}", user_id=self.keys[name][0], asset=asset, amount=amount,
            result_wait_ms=RESULT_WAIT_MS), metadata=self.auth("operator")).transfer
        status = account_service_pb2.TransferStatus.Name(transfer.status)
        print(f"deposit   {name:<5} +{amount} {asset}: {status}")
        if transfer.status != account_service_pb2.TRANSFER_STATUS_COMPLETED:
            raise DemoFailed(f"deposit for {name} is {status}")
        self.deposited[name][asset] += parse_units(amount, self.catalog.assets[asset].scale)

    def order(self, name: str, tag: str, side: int, expect: int, **fields: str | int) -> int:
        """Place an order, print its outcome and fills, check its status; the order id."""
        kind = common_pb2.ORDER_TYPE_MARKET if "quantity" in fields and "price" not in fields else (
            common_pb2.ORDER_TYPE_LIMIT)
        answer = self.trading.PlaceOrder(trading_service_pb2.PlaceOrderRequest(
            symbol=SYMBOL, side=side, order_type=kind, client_order_id=f"demo-{self.run_id}-{tag}",
            result_wait_ms=RESULT_WAIT_MS, **fields), metadata=self.auth(name))  # type: ignore[arg-type]
        status = common_pb2.OrderStatus.Name(answer.order.status or answer.status)
        base = self.catalog.markets[SYMBOL].base_asset
        what = f"{common_pb2.Side.Name(side)[5:].lower()} {fields.get('quantity')} {base}"
        at = f" at {fields['price']}" if "price" in fields else " at market"
        print(f"order     {name:<5} {what}{at}: #{answer.order_id} {status}, locked {answer.locked} "
              f"{answer.locked_asset}")
        for fill in answer.fills:
            print(f"  trade   {fill.quantity} {base} at {fill.price} ({'maker' if fill.is_maker else 'taker'}), "
                  f"fee {fill.fee} {fill.fee_asset}")
        if (answer.order.status or answer.status) != expect:
            raise DemoFailed(f"{name}'s order {tag} is {status}, expected {common_pb2.OrderStatus.Name(expect)}")
        self.placed.append((name, answer.order_id))
        return answer.order_id

    def wait_until_stored(self) -> None:
        """Wait until GetOrder shows every placed order final (filled or canceled): Settlement then holds every
        trade of the session (a shard's outputs are stored in order), so ListFills is complete."""
        deadline_ns = time.monotonic_ns() + SETTLE_TIMEOUT_MS * 1_000_000
        for name, order_id in self.placed:
            while True:
                try:
                    order = self.trading.GetOrder(trading_service_pb2.GetOrderRequest(order_id=order_id),
                                                  metadata=self.auth(name)).order
                    if order.status in FINAL_STATUSES:
                        break
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                        raise  # NOT_FOUND: not stored yet
                if time.monotonic_ns() > deadline_ns:
                    raise DemoFailed(f"{name}'s order #{order_id} not stored as final in time")
                time.sleep(POLL_MS / 1_000)

    def cancel(self, name: str, order_id: int) -> None:
        """Cancel an order (the outcome arrives as an order update; the balances check shows it)."""
        self.trading.CancelOrder(trading_service_pb2.CancelOrderRequest(symbol=SYMBOL, order_id=order_id),
                                 metadata=self.auth(name))
        print(f"cancel    {name:<5} #{order_id}")

    def implied(self, name: str) -> dict[str, int]:
        """Deposits plus the effect of every fill of `name` (ListFills): what the balances must be, in units."""
        market = self.catalog.markets[SYMBOL]
        base, quote = market.base_asset, market.quote_asset
        totals = Counter(self.deposited[name])
        fills = self.trading.ListFills(trading_service_pb2.ListFillsRequest(symbol=SYMBOL, page_size=1000),
                                       metadata=self.auth(name)).fills
        for fill in fills:
            qty = parse_units(fill.quantity, self.catalog.assets[base].scale)
            cost = parse_units(fill.quote_quantity, self.catalog.assets[quote].scale)
            sign = 1 if fill.side == common_pb2.SIDE_BUY else -1
            totals[base] += sign * qty
            totals[quote] -= sign * cost
            totals[fill.fee_asset] -= parse_units(fill.fee, self.catalog.assets[fill.fee_asset].scale, allow_zero=True)
        return {asset: totals[asset] for asset in (base, quote)}

    def balances(self, name: str) -> dict[str, int]:
        """GetBalances of `name` (available + frozen must all be available after the cancels: frozen is 0)."""
        answer = self.account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=self.auth(name))
        found: dict[str, int] = {}
        for entry in answer.balances:
            scale = self.catalog.assets[entry.asset].scale
            if parse_units(entry.frozen, scale, allow_zero=True):
                found[f"{entry.asset} frozen"] = parse_units(entry.frozen, scale, allow_zero=True)
            found[entry.asset] = parse_units(entry.available, scale, allow_zero=True)
        return found

    def check_balances(self, name: str) -> None:
        """Wait until GetBalances equals what deposits and fills imply; print them; DemoFailed past the deadline."""
        deadline_ns = time.monotonic_ns() + SETTLE_TIMEOUT_MS * 1_000_000
        while True:
            want, got = self.implied(name), self.balances(name)
            got_pair = {asset: got.get(asset, 0) for asset in want}
            if got_pair == want and not any(key.endswith("frozen") for key in got):
                break
            if time.monotonic_ns() > deadline_ns:
                raise DemoFailed(f"{name}'s balances {got} != deposits and fills imply {want}")
            time.sleep(POLL_MS / 1_000)
        shown = ", ".join(f"{format_units(units, self.catalog.assets[asset].scale)} {asset}"
                          for asset, units in sorted(want.items()))
        print(f"balances  {name:<5} {shown} (= deposits and fills, nothing frozen)")


def create_key(config: StackConfig, user_id: int, *roles: str) -> str:
    """`python -m tools.apikeys create` on the stack's keyspace; the full key it prints once."""
    role_args = [argument for role in roles for argument in ("--role", role)]
    env = {**os.environ, "GATEWAY_CQL_HOSTS": ",".join(config.cql_contact_points),
           "GATEWAY_CQL_PORT": str(config.cql_port), "GATEWAY_CQL_KEYSPACE": config.cql_keyspace}
    result = subprocess.run([sys.executable, "-m", "tools.apikeys", "create", "--user-id", str(user_id), *role_args,
                             "--label", "demo"], capture_output=True, text=True, check=True, env=env, cwd=REPO_ROOT)
    return json.loads(result.stdout)["api_key"]


def wait_for_keys(demo: Demo) -> None:
    """The gateway reloads keys every GATEWAY_KEY_REFRESH_MS: wait until every new key is accepted."""
    deadline_ns = time.monotonic_ns() + SETTLE_TIMEOUT_MS * 1_000_000
    for name in demo.keys:
        while True:
            try:
                demo.account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=demo.auth(name))
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAUTHENTICATED:  # type: ignore[attr-defined]
                    break  # the operator key has no read role: authenticated all the same
                if time.monotonic_ns() > deadline_ns:
                    raise DemoFailed(f"the gateway did not accept {name}'s new key in time") from error
            time.sleep(POLL_MS / 1_000)


def session(demo: Demo) -> None:
    """The trading session of the module docstring."""
    buy, sell = common_pb2.SIDE_BUY, common_pb2.SIDE_SELL
    demo.fund("alice", "USDT", "50000")
    demo.fund("bob", "ETH", "20")
    demo.order("bob", "ask-1", sell, common_pb2.ORDER_STATUS_NEW, price="3000.00", quantity="5")
    second_ask = demo.order("bob", "ask-2", sell, common_pb2.ORDER_STATUS_NEW, price="3010.00", quantity="5")
    demo.order("alice", "buy", buy, common_pb2.ORDER_STATUS_FILLED, price="3010.00", quantity="8")
    bid = demo.order("alice", "bid", buy, common_pb2.ORDER_STATUS_NEW, price="2900.00", quantity="2")
    demo.order("bob", "market-sell", sell, common_pb2.ORDER_STATUS_FILLED, quantity="1")
    demo.cancel("alice", bid)
    demo.cancel("bob", second_ask)
    demo.wait_until_stored()
    demo.check_balances("alice")
    demo.check_balances("bob")


def main(argv: list[str] | None = None) -> int:
    """Run the demo against the running stack; 0 when everything agreed, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    config = running_stack(os.environ)
    if config is None:
        print(f"no running stack under {saved_stack_home(os.environ)} (run `make up` first)", file=sys.stderr)
        return 1
    rng = random.Random()
    ids = rng.sample(range(USER_ID_MIN, USER_ID_MAX), 3)
    keys = {name: (user_id, create_key(config, user_id, *roles)) for name, user_id, roles in (
        ("alice", ids[0], ("trade", "read")), ("bob", ids[1], ("trade", "read")), ("operator", ids[2], ("transfer",)))}
    for name, (user_id, _) in keys.items():
        print(f"user      {name:<8} id {user_id}, new API key")
    with grpc.insecure_channel(f"127.0.0.1:{config.ports.gateway_grpc}") as channel:
        demo = Demo(channel, keys, load_catalog())
        try:
            wait_for_keys(demo)
            session(demo)
        except (DemoFailed, grpc.RpcError) as error:
            print(f"DEMO FAILED: {error}", file=sys.stderr)
            return 1
    print("demo ok: every answer as expected, balances agree with deposits and fills")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
