"""Steps of the end-to-end flows, each returning what the client got, and the readers of every other place a flow
must show up in (private stream, Kafka, UBSCore's dump, the database)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common.enums import BalanceEventType
from exchange.v1 import account_service_pb2, balance_pb2, common_pb2, trading_service_pb2

from ..integration.gateway.calls import StreamReader
from .exchange import Exchange, User, eventually, units

RESULT_WAIT_MS = 5_000


def deposit(ex: Exchange, operator: User, user: User, asset: str, amount: str, request_id: str
            ) -> account_service_pb2.Transfer:
    """TransferIn over gRPC, waiting for UBSCore's outcome."""
    return ex.account.TransferIn(account_service_pb2.TransferInRequest(
        request_id=request_id, user_id=user.user_id, asset=asset, amount=amount, result_wait_ms=RESULT_WAIT_MS,
    ), metadata=operator.auth).transfer


def withdraw(ex: Exchange, operator: User, user: User, asset: str, amount: str, request_id: str
             ) -> account_service_pb2.Transfer:
    """TransferOut over gRPC, waiting for UBSCore's outcome."""
    return ex.account.TransferOut(account_service_pb2.TransferOutRequest(
        request_id=request_id, user_id=user.user_id, asset=asset, amount=amount, result_wait_ms=RESULT_WAIT_MS,
    ), metadata=operator.auth).transfer


def place(ex: Exchange, user: User, **fields: Any) -> trading_service_pb2.PlaceOrderResponse:
    """PlaceOrder over gRPC (BTC_USDT limit GTC unless said otherwise), waiting for the matcher's first result."""
    request = {"symbol": "BTC_USDT", "order_type": common_pb2.ORDER_TYPE_LIMIT,
               "time_in_force": common_pb2.TIME_IN_FORCE_GTC, "result_wait_ms": RESULT_WAIT_MS, **fields}
    return ex.trading.PlaceOrder(trading_service_pb2.PlaceOrderRequest(**request), metadata=user.auth)


def rest(ex: Exchange, method: str, path: str, user: User, body: object = None) -> tuple[int, Any]:
    """One call to the REST proxy: (HTTP status, JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ex.rest + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **user.rest_headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def open_stream(ex: Exchange, user: User) -> StreamReader:
    """The user's private stream (StreamUserData), read on a thread from its first heartbeat on."""
    stream = ex.account.StreamUserData(account_service_pb2.StreamUserDataRequest(), metadata=user.auth)
    assert next(stream).HasField("heartbeat")
    reader = StreamReader(stream)
    reader.start()
    return reader


def stream_balances(reader: StreamReader) -> dict[str, tuple[str, str]]:
    """(available, frozen) per asset after the last balance change the stream delivered."""
    last: dict[str, tuple[str, str]] = {}
    for message in reader.seen:
        if message.HasField("balance_change"):
            last[message.balance_change.asset] = (message.balance_change.available, message.balance_change.frozen)
    return last


def stream_order_statuses(reader: StreamReader, client_order_id: str) -> list[int]:
    """Every status the stream reported for the order, in order."""
    return [message.order_update.status for message in reader.seen
            if message.HasField("order_update") and message.order_update.client_order_id == client_order_id]


def expect_balances(ex: Exchange, user: User, scratch: Path, expected: dict[str, tuple[str, str]]) -> None:
    """UBSCore's dump, the database (user_balances) and GetBalances (gRPC and REST) all hold exactly `expected`
    (available, frozen) per asset."""
    wanted = {asset: (units(ex.catalog, asset, available), units(ex.catalog, asset, frozen))
              for asset, (available, frozen) in expected.items()}

    def in_ubscore() -> dict[str, tuple[int, int]]:
        dump = ex.dump(scratch)
        return {asset: dump.get((user.user_id, asset), (0, 0)) for asset in wanted}

    # UBSCore settles trades, expiries and cancels from the matcher feed, which the client's answer (the gateway's
    # own copy of that feed) does not wait for: its state is awaited like every other place.
    eventually(in_ubscore, lambda balances: balances == wanted)
    names = {asset.asset_id: name for name, asset in ex.catalog.assets.items()}

    def in_db() -> dict[str, tuple[int, int]]:
        rows = {names[row["asset_id"]]: (row["available_units"], row["frozen_units"])
                for row in ex.queries.get_balances(user_id=user.user_id)}
        return {asset: rows.get(asset, (0, 0)) for asset in wanted}

    eventually(in_db, lambda rows: rows == wanted)

    def answered(entries: list[tuple[str, str, str]]) -> dict[str, tuple[int, int]]:
        found = {asset: (units(ex.catalog, asset, available), units(ex.catalog, asset, frozen))
                 for asset, available, frozen in entries}
        return {asset: found.get(asset, (0, 0)) for asset in wanted}

    def over_grpc() -> dict[str, tuple[int, int]]:
        answer = ex.account.GetBalances(account_service_pb2.GetBalancesRequest(), metadata=user.auth)
        return answered([(entry.asset, entry.available, entry.frozen) for entry in answer.balances])

    def over_rest() -> dict[str, tuple[int, int]]:
        status, body = rest(ex, "GET", "/v1/balances", user)
        assert status == 200, body
        return answered([(entry["asset"], entry["available"], entry["frozen"]) for entry in body.get("balances", [])])

    eventually(over_grpc, lambda found: found == wanted)
    eventually(over_rest, lambda found: found == wanted)


def event_types(ex: Exchange, user: User) -> list[BalanceEventType]:
    """Types of the user's records on balance.events, in event id order."""
    return [BalanceEventType(event.type) for event in ex.balance_events(user.user_id)]


def events_of(ex: Exchange, user: User, kind: BalanceEventType) -> list[balance_pb2.BalanceEvent]:
    """The user's balance.events records of one type."""
    return [event for event in ex.balance_events(user.user_id) if event.type == kind]
