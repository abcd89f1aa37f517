"""Users of a load run: one API key each (trade, read, transfer), funded by deposits through the gateway.

Keys are written straight to the gateway's `api_keys` table (the same `ApiKeyStore` `python -m tools.apikeys`
uses); the gateway reloads that table every few seconds, so `wait_until_known` polls until every key is accepted.
Each user funds itself (its key has the `transfer` role) with one TransferIn per asset and waits for UBSCore's
outcome, so trading starts on money UBSCore really holds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from exchange.v1 import account_service_pb2, account_service_pb2_grpc, trading_service_pb2, trading_service_pb2_grpc
from gateway.api_keys import ApiKeyStore, parse_roles
from gateway.cql import connect

KEY_KNOWN_DEADLINE_S = 30.0
TRANSFER_WAIT_MS = 5_000
TRANSFER_ATTEMPTS_MAX = 10
POLL_S = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """One trading account of the run."""

    user_id: int
    api_key: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC call metadata carrying this user's key."""
        return (("authorization", f"Bearer {self.api_key}"),)


def create_users(*, hosts: Sequence[str], port: int, keyspace: str, first_user_id: int, count: int,
                 label: str) -> list[User]:
    """`count` users from `first_user_id` on, each with a fresh key (roles read, trade, transfer)."""
    session = connect(hosts, port)
    try:
        store = ApiKeyStore(session, keyspace)
        store.create_table()
        roles = parse_roles(["read", "trade", "transfer"])
        users = []
        for user_id in range(first_user_id, first_user_id + count):
            key, _ = store.create(user_id=user_id, roles=roles, label=label, now_ns=time.time_ns())
            users.append(User(user_id=user_id, api_key=key))
        return users
    finally:
        session.cluster.shutdown()


def wait_until_known(channel: grpc.Channel, users: Sequence[User], *, deadline_s: float = KEY_KNOWN_DEADLINE_S) -> None:
    """Send an empty PlaceOrders with every user's key until none is UNAUTHENTICATED (the gateway's key cache
    reloads periodically); an empty batch places nothing whatever the answer."""
    stub = trading_service_pb2_grpc.TradingServiceStub(channel)
    deadline_ns = time.monotonic_ns() + int(deadline_s * 1e9)
    for user in users:
        while True:
            try:
                stub.PlaceOrders(trading_service_pb2.PlaceOrdersRequest(), metadata=user.metadata, timeout=5)
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAUTHENTICATED:
                    break  # past authentication: the key is known
                if time.monotonic_ns() > deadline_ns:
                    raise
                time.sleep(POLL_S)  # the gateway's key cache reloads every GATEWAY_KEY_REFRESH_MS


def transfer(stub: account_service_pb2_grpc.AccountServiceStub, user: User, *, asset: str, amount: str,
             request_id: str, deposit: bool) -> int:
    """One deposit or withdrawal, retried with the same request id (idempotent) until UBSCore's outcome is known.

    Returns the final TransferStatus (COMPLETED or REJECTED). Retries cover a gateway or UBSCore that is down for a
    moment (a crash drill), never a refusal.
    """
    call = stub.TransferIn if deposit else stub.TransferOut
    message = account_service_pb2.TransferInRequest if deposit else account_service_pb2.TransferOutRequest
    request = message(request_id=request_id, user_id=user.user_id, asset=asset, amount=amount,
                      result_wait_ms=TRANSFER_WAIT_MS)
    last_error: grpc.RpcError | None = None
    for _ in range(TRANSFER_ATTEMPTS_MAX):
        try:
            status = call(request, metadata=user.metadata, timeout=TRANSFER_WAIT_MS / 1000 + 5).transfer.status
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                    grpc.StatusCode.RESOURCE_EXHAUSTED):
                raise
            last_error = error
            time.sleep(POLL_S)  # back off before the retry
            continue
        if status != account_service_pb2.TRANSFER_STATUS_PENDING:
            return status
    raise RuntimeError(f"transfer {request_id}: no outcome after {TRANSFER_ATTEMPTS_MAX} attempts ({last_error})")


def fund(channel: grpc.Channel, users: Sequence[User], amounts: dict[str, str], *, run_tag: str) -> None:
    """Deposit `amounts` (asset -> decimal string) to every user; raise unless every deposit completed."""
    stub = account_service_pb2_grpc.AccountServiceStub(channel)
    for user in users:
        for asset, amount in amounts.items():
            status = transfer(stub, user, asset=asset, amount=amount, request_id=f"{run_tag}-fund-{asset}",
                              deposit=True)
            if status != account_service_pb2.TRANSFER_STATUS_COMPLETED:
                raise RuntimeError(f"funding user {user.user_id} with {amount} {asset}: status {status}")
