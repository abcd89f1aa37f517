"""The query RPCs against rows the real Settlement wrote: a real UBSCore and matcher (subprocesses, private topics),
a real Settlement process persisting the matcher feed and UBSCore's balance.events into this module's keyspace, and
a real gateway reading that keyspace, called over gRPC and over REST through the real proxy.

Alice deposits 100,000 USDT, Bob 10 BTC; Bob sells 0.5 BTC at 45,000; Alice buys it (filled), rests a buy of 0.1
at 44,000, and is refused an unfunded buy (UBSCore refuses it: no order id); a withdrawal of hers is refused. Each
query must show exactly that, to its owner only, with decimal strings, paging through its tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from exchange.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    common_pb2,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    trading_service_pb2,
    trading_service_pb2_grpc,
)
from gateway.app import Gateway

from ...contracts.conftest import http, start_proxy, stop_proxy
from ..settlement import conftest as settlement_fixtures
from ..ubscore.conftest import Stack
from .calls import StreamReader, bearer, reason_of
from .conftest import eventually
from .full_stack import start_full_stack

pytestmark = pytest.mark.integration

settlement_factory = settlement_fixtures.settlement_factory

ALICE, BOB, EVE, OPERATOR = 1001, 1002, 1003, 5000
T = trading_service_pb2
A = account_service_pb2


def code_and_reason(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    """The status code and ErrorInfo reason of a call that must fail."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error = raised.value
    return error.code(), reason_of(error)  # type: ignore[attr-defined,arg-type]


def limit(symbol: str, side: int, price: str, quantity: str, client_order_id: str) -> T.PlaceOrderRequest:
    return T.PlaceOrderRequest(symbol=symbol, side=side, order_type=common_pb2.ORDER_TYPE_LIMIT, price=price,
                               quantity=quantity, client_order_id=client_order_id, result_wait_ms=5_000)


@pytest.fixture
def scenario(
    stack: Stack, keyspace: str, settlement_factory: Callable[..., settlement_fixtures.SettlementProcess],
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> dict[str, object]:
    """Runs the scenario above and waits until Settlement has stored its last effects; returns keys and ids."""
    keys = {user: make_key(user, *roles) for user, roles in (
        (ALICE, ("trade", "read")), (BOB, ("trade", "read")), (EVE, ("read",)), (OPERATOR, ("transfer", "read")))}
    gateway = start_full_stack(stack, keyspace, settlement_factory, gateway_factory,
                               [key_id for _, key_id in keys.values()])
    key = {user: full for user, (full, _) in keys.items()}
    channel = channel_factory(gateway.port)
    account = account_service_pb2_grpc.AccountServiceStub(channel)
    trading = trading_service_pb2_grpc.TradingServiceStub(channel)
    for request_id, user_id, asset, amount in (("dep-alice", ALICE, "USDT", "100000"), ("dep-bob", BOB, "BTC", "10")):
        deposit = account.TransferIn(A.TransferInRequest(
            request_id=request_id, user_id=user_id, asset=asset, amount=amount, result_wait_ms=5_000,
        ), metadata=bearer(key[OPERATOR])).transfer  # fmt: skip
        assert deposit.status == A.TRANSFER_STATUS_COMPLETED, deposit
    sell = trading.PlaceOrder(limit("BTC_USDT", common_pb2.SIDE_SELL, "45000", "0.5", "bob-1"),
                              metadata=bearer(key[BOB]))
    buy = trading.PlaceOrder(limit("BTC_USDT", common_pb2.SIDE_BUY, "45000", "0.5", "alice-1"),
                             metadata=bearer(key[ALICE]))
    assert buy.status == common_pb2.ORDER_STATUS_FILLED, buy
    rest = trading.PlaceOrder(limit("BTC_USDT", common_pb2.SIDE_BUY, "44000", "0.1", "alice-2"),
                              metadata=bearer(key[ALICE]))
    refused = code_and_reason(lambda: trading.PlaceOrder(
        limit("BTC_USDT", common_pb2.SIDE_BUY, "45000", "10", "alice-big"), metadata=bearer(key[ALICE])))
    assert refused == (grpc.StatusCode.FAILED_PRECONDITION, "REJECT_REASON_INSUFFICIENT_FUNDS")
    withdrawal = account.TransferOut(A.TransferOutRequest(
        request_id="wd-alice", user_id=ALICE, asset="BTC", amount="1", result_wait_ms=5_000,
    ), metadata=bearer(key[OPERATOR])).transfer  # fmt: skip
    assert withdrawal.status == A.TRANSFER_STATUS_REJECTED

    def stored() -> bool:
        # Settlement writes rows of different partitions in concurrent batches (one input's rows can straddle two),
        # and the matcher feed and balance.events are separate topics: every row read below is awaited itself.
        alice = bearer(key[ALICE])
        try:
            account.GetTransfer(A.GetTransferRequest(request_id="wd-alice"), metadata=alice)
            trading.GetOrder(T.GetOrderRequest(client_order_id="alice-big"), metadata=alice)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                raise
            return False
        orders = trading.ListOrders(T.ListOrdersRequest(open_only=True), metadata=alice).orders
        history = trading.ListOrders(T.ListOrdersRequest(), metadata=alice).orders
        balances = {b.asset: (b.available, b.frozen)
                    for b in account.GetBalances(A.GetBalancesRequest(), metadata=alice).balances}
        btc_ledger = account.ListLedger(A.ListLedgerRequest(asset="BTC", page_size=1), metadata=alice).entries
        usdt_ledger = account.ListLedger(A.ListLedgerRequest(asset="USDT"), metadata=alice).entries
        fills = [len(trading.ListFills(T.ListFillsRequest(), metadata=bearer(key[user])).fills)
                 for user in (ALICE, BOB)]
        trades = market_data_service_pb2_grpc.MarketDataServiceStub(channel).ListTrades(
            market_data_service_pb2.ListTradesRequest(symbol="BTC_USDT"), metadata=alice).trades
        return ([order.client_order_id for order in orders] == ["alice-2"]
                and sorted(order.client_order_id for order in history) == ["alice-1", "alice-2", "alice-big"]
                and balances == {"BTC": ("0.49900000", "0.00000000"), "USDT": ("73100.000000", "4400.000000")}
                and [entry.available for entry in btc_ledger] == ["0.49900000"]
                and any(entry.delta_available.startswith("-") for entry in usdt_ledger) and fills == [1, 1]
                and len(trades) == 1)

    eventually(stored, timeout_ms=90_000)
    return {"gateway": gateway, "account": account, "trading": trading, "key": key,
            "market": market_data_service_pb2_grpc.MarketDataServiceStub(channel),
            "sell_id": sell.order_id, "buy_id": buy.order_id, "rest_id": rest.order_id}


def test_queries_show_the_scenario_to_its_owner_over_grpc_and_rest(
    scenario: dict[str, object], proxy_binary: Path, tmp_path: Path,
) -> None:
    """Orders (by id, by client id, refused), open orders, history with paging and filters, fills, balances,
    transfers, ledger and market trades read back exactly, and the private stream opens with the balances;
    another user's order or transfer is PERMISSION_DENIED,
    an unknown one NOT_FOUND, a page token of another user INVALID_ARGUMENT; REST answers the same."""
    trading: trading_service_pb2_grpc.TradingServiceStub = scenario["trading"]  # type: ignore[assignment]
    account: account_service_pb2_grpc.AccountServiceStub = scenario["account"]  # type: ignore[assignment]
    market: market_data_service_pb2_grpc.MarketDataServiceStub = scenario["market"]  # type: ignore[assignment]
    key: dict[int, str] = scenario["key"]  # type: ignore[assignment]
    alice, bob, eve, operator = (bearer(key[user]) for user in (ALICE, BOB, EVE, OPERATOR))

    filled = trading.GetOrder(T.GetOrderRequest(order_id=scenario["buy_id"]), metadata=alice).order  # type: ignore[arg-type]
    assert (filled.client_order_id, filled.status, filled.price, filled.quantity, filled.filled_quantity,
            filled.filled_quote_quantity, filled.remaining_quantity) == (
        "alice-1", common_pb2.ORDER_STATUS_FILLED, "45000.000000", "0.50000000", "0.50000000", "22500.000000",
        "0.00000000")
    assert filled.average_price == "45000.000000"
    refused = trading.GetOrder(T.GetOrderRequest(client_order_id="alice-big"), metadata=alice).order
    assert (refused.order_id, refused.status, refused.reason, refused.quantity) == (
        0, common_pb2.ORDER_STATUS_REJECTED, common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, "10.00000000")
    assert code_and_reason(lambda: trading.GetOrder(T.GetOrderRequest(order_id=scenario["sell_id"]),  # type: ignore[arg-type]
                                                    metadata=alice)) == (
        grpc.StatusCode.PERMISSION_DENIED, "REJECT_REASON_PERMISSION_DENIED")
    assert code_and_reason(lambda: trading.GetOrder(T.GetOrderRequest(order_id=987_654_321), metadata=alice)) == (
        grpc.StatusCode.NOT_FOUND, "REJECT_REASON_NOT_FOUND")
    assert code_and_reason(lambda: trading.GetOrder(T.GetOrderRequest(client_order_id="bob-1"), metadata=alice))[0] \
        == grpc.StatusCode.NOT_FOUND  # client order ids are per user: Bob's is not Alice's
    out_of_range = (grpc.StatusCode.INVALID_ARGUMENT, "REJECT_REASON_INVALID_REQUEST")
    for huge in (2**63, 2**64 - 1):  # uint64 on the wire, int64 in every table: a clear refusal, not INTERNAL
        get_order = T.GetOrderRequest(order_id=huge)
        assert code_and_reason(lambda r=get_order: trading.GetOrder(r, metadata=alice)) == out_of_range
        get_transfer = A.GetTransferRequest(request_id="dep-alice", user_id=huge)
        assert code_and_reason(lambda r=get_transfer: account.GetTransfer(r, metadata=operator)) == out_of_range

    first = trading.ListOrders(T.ListOrdersRequest(page_size=1), metadata=alice)
    history, token = list(first.orders), first.next_page_token
    assert code_and_reason(lambda: trading.ListOrders(T.ListOrdersRequest(page_token=first.next_page_token),
                                                      metadata=bob))[0] == grpc.StatusCode.INVALID_ARGUMENT
    while token:
        page = trading.ListOrders(T.ListOrdersRequest(page_size=1, page_token=token), metadata=alice)
        history.extend(page.orders)
        token = page.next_page_token
    assert [order.client_order_id for order in history] == ["alice-big", "alice-2", "alice-1"]
    only_filled = trading.ListOrders(T.ListOrdersRequest(statuses=[common_pb2.ORDER_STATUS_FILLED]), metadata=alice)
    assert [order.order_id for order in only_filled.orders] == [scenario["buy_id"]]
    [resting] = trading.ListOrders(T.ListOrdersRequest(open_only=True, symbol="BTC_USDT"), metadata=alice).orders
    assert (resting.order_id, resting.price, resting.remaining_quantity, resting.average_price) == (
        scenario["rest_id"], "44000.000000", "0.10000000", "")
    got = trading.GetOrder(T.GetOrderRequest(order_id=resting.order_id), metadata=alice).order
    assert (resting.self_trade_mode, resting.post_only) == (got.self_trade_mode, got.post_only)  # as GetOrder shows
    assert resting.self_trade_mode != common_pb2.SELF_TRADE_MODE_UNSPECIFIED
    assert code_and_reason(lambda: trading.ListOrders(T.ListOrdersRequest(page_token="forged"), metadata=alice))[0] \
        == grpc.StatusCode.INVALID_ARGUMENT

    [fill] = trading.ListFills(T.ListFillsRequest(), metadata=alice).fills
    assert (fill.order_id, fill.side, fill.price, fill.quantity, fill.fee, fill.fee_asset, fill.is_maker) == (
        scenario["buy_id"], common_pb2.SIDE_BUY, "45000.000000", "0.50000000", "0.00100000", "BTC", False)
    [bob_fill] = trading.ListFills(T.ListFillsRequest(symbol="BTC_USDT"), metadata=bob).fills
    assert (bob_fill.fee, bob_fill.fee_asset, bob_fill.is_maker) == ("22.500000", "USDT", True)

    balances = {b.asset: (b.available, b.frozen) for b in account.GetBalances(A.GetBalancesRequest(),
                                                                              metadata=alice).balances}
    assert balances == {"BTC": ("0.49900000", "0.00000000"), "USDT": ("73100.000000", "4400.000000")}
    assert list(account.GetBalances(A.GetBalancesRequest(), metadata=eve).balances) == []

    deposit = account.GetTransfer(A.GetTransferRequest(request_id="dep-alice"), metadata=alice).transfer
    assert (deposit.status, deposit.amount, deposit.asset, deposit.direction) == (
        A.TRANSFER_STATUS_COMPLETED, "100000.000000", "USDT", A.TRANSFER_DIRECTION_IN)
    assert code_and_reason(lambda: account.GetTransfer(A.GetTransferRequest(request_id="dep-bob", user_id=BOB),
                                                       metadata=alice)) == (
        grpc.StatusCode.PERMISSION_DENIED, "REJECT_REASON_PERMISSION_DENIED")
    by_operator = account.GetTransfer(A.GetTransferRequest(request_id="wd-alice", user_id=ALICE),
                                      metadata=operator).transfer
    assert (by_operator.status, by_operator.reason, by_operator.amount, by_operator.direction) == (
        A.TRANSFER_STATUS_REJECTED, common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, "1.00000000", A.TRANSFER_DIRECTION_OUT)
    assert code_and_reason(lambda: account.GetTransfer(A.GetTransferRequest(request_id="dep-bob"), metadata=alice)) \
        == (grpc.StatusCode.NOT_FOUND, "REJECT_REASON_NOT_FOUND")

    ledger = account.ListLedger(A.ListLedgerRequest(asset="BTC"), metadata=alice).entries
    assert {entry.asset for entry in ledger} == {"BTC"}
    assert (ledger[0].available, ledger[0].frozen) == ("0.49900000", "0.00000000")  # newest first
    assert [entry.ts_event_ns for entry in ledger] == sorted((entry.ts_event_ns for entry in ledger), reverse=True)
    assert any(entry.delta_available.startswith("-") for entry in
               account.ListLedger(A.ListLedgerRequest(asset="USDT"), metadata=alice).entries)

    [trade] = market.ListTrades(market_data_service_pb2.ListTradesRequest(symbol="BTC_USDT"), metadata=eve).trades
    assert (trade.price, trade.quantity, trade.taker_side) == ("45000.000000", "0.50000000", common_pb2.SIDE_BUY)

    gateway: Gateway = scenario["gateway"]  # type: ignore[assignment]
    proxy = start_proxy(proxy_binary, f"127.0.0.1:{gateway.port}", tmp_path / "rest.log")
    try:
        headers = {"Authorization": f"Bearer {key[ALICE]}"}
        order = http("GET", f"{proxy.base_url}/v1/orders/{scenario['buy_id']}", None, headers)
        by_client = http("GET", f"{proxy.base_url}/v1/client_orders/alice-big", None, headers)
        others = http("GET", f"{proxy.base_url}/v1/orders/{scenario['sell_id']}", None, headers)
        unknown = http("GET", f"{proxy.base_url}/v1/orders/987654321", None, headers)
        balances_rest = http("GET", f"{proxy.base_url}/v1/balances", None, headers)
        open_rest = http("GET", f"{proxy.base_url}/v1/orders?open_only=true", None, headers)
        trades_rest = http("GET", f"{proxy.base_url}/v1/markets/BTC_USDT/trades?page_size=1", None, headers)
        no_key = http("GET", f"{proxy.base_url}/v1/balances")
    finally:
        stop_proxy(proxy)
    rest_order = order.body["order"]  # type: ignore[index]
    assert (order.status, rest_order["status"], rest_order["filled_quantity"], rest_order["average_price"]) == (
        200, "ORDER_STATUS_FILLED", "0.50000000", "45000.000000")
    assert (by_client.status, by_client.body["order"]["status"]) == (200, "ORDER_STATUS_REJECTED")  # type: ignore[index]
    assert (others.status, unknown.status, no_key.status) == (403, 404, 401)
    assert {b["asset"]: b["available"] for b in balances_rest.body["balances"]} == {  # type: ignore[index]
        "BTC": "0.49900000", "USDT": "73100.000000"}
    assert [o["client_order_id"] for o in open_rest.body["orders"]] == ["alice-2"]  # type: ignore[index]
    assert trades_rest.body["trades"][0]["price"] == "45000.000000"  # type: ignore[index]

    stream = account.StreamUserData(A.StreamUserDataRequest(), metadata=alice)
    assert next(stream).HasField("heartbeat")
    opening = next(stream)
    assert opening.WhichOneof("event") == "balance_snapshot"
    snapshot = {b.asset: (b.available, b.frozen) for b in opening.balance_snapshot.balances}
    assert snapshot == {"BTC": ("0.49900000", "0.00000000"), "USDT": ("73100.000000", "4400.000000")}
    usdt_version = next(b.version for b in opening.balance_snapshot.balances if b.asset == "USDT")
    reader = StreamReader(stream)
    reader.start()
    try:
        trading.CancelOrder(T.CancelOrderRequest(symbol="BTC_USDT", client_order_id="alice-2"), metadata=alice)
        reader.until(lambda m: m.balance_change.asset == "USDT" and m.balance_change.frozen == "0.000000")
    finally:
        stream.cancel()  # type: ignore[attr-defined]
    [released] = [m.balance_change for m in reader.seen if m.balance_change.frozen == "0.000000"]
    assert (released.available, released.version > usdt_version) == ("77500.000000", True)
