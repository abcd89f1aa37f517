"""Every RPC of the three exchange services has a role row, and keys are parsed and checked as documented."""

from __future__ import annotations

import pytest

from exchange.v1 import account_service_pb2, market_data_service_pb2, trading_service_pb2
from gateway.api_keys import ApiKey, KeyRefused, Role, hash_secret, new_key, parse_roles, split_key
from gateway.auth import METHOD_ROLES, Principal, authorize, role_class_of
from gateway.errors import Refused

SERVICES = (
    trading_service_pb2.DESCRIPTOR.services_by_name["TradingService"],
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"],
    market_data_service_pb2.DESCRIPTOR.services_by_name["MarketDataService"],
)


def test_every_method_of_the_services_has_a_role_row() -> None:
    """A new RPC cannot slip through without a decision about its role."""
    methods = {f"/{service.full_name}/{method.name}" for service in SERVICES for method in service.methods}
    assert methods == set(METHOD_ROLES)


def test_role_classes_follow_the_role_table() -> None:
    """Orders need trade, reads read, transfers transfer, market data any key; other services are open."""
    assert role_class_of("/exchange.v1.TradingService/PlaceOrder") == "trade"
    assert role_class_of("/exchange.v1.AccountService/GetBalances") == "read"
    assert role_class_of("/exchange.v1.AccountService/TransferIn") == "transfer"
    assert role_class_of("/exchange.v1.MarketDataService/GetOrderBook") == "market"
    assert role_class_of("/grpc.health.v1.Health/Check") is None


def test_authorize_refuses_a_missing_role_and_admin_grants_nothing_else() -> None:
    """A read-only key cannot trade; admin is not a superset."""
    reader = Principal(key_id="k", user_id=1001, roles=frozenset({Role.READ}))
    authorize(reader, "/exchange.v1.AccountService/GetBalances")
    authorize(reader, "/exchange.v1.MarketDataService/ListMarkets")
    with pytest.raises(Refused):
        authorize(reader, "/exchange.v1.TradingService/PlaceOrder")
    admin = Principal(key_id="k", user_id=1001, roles=frozenset({Role.ADMIN}))
    with pytest.raises(Refused):
        authorize(admin, "/exchange.v1.AccountService/TransferIn")


def test_an_operator_key_reads_transfer_outcomes_and_nothing_else_of_read() -> None:
    """GetTransfer takes read or transfer: an operator polls the transfers it sent; other reads still need read."""
    operator = Principal(key_id="k", user_id=1, roles=frozenset({Role.TRANSFER}))
    authorize(operator, "/exchange.v1.AccountService/GetTransfer")
    authorize(Principal(key_id="k", user_id=1, roles=frozenset({Role.READ})), "/exchange.v1.AccountService/GetTransfer")
    for method in ("GetBalances", "ListLedger"):
        with pytest.raises(Refused):
            authorize(operator, "/exchange.v1.AccountService/" + method)
    with pytest.raises(Refused):
        authorize(Principal(key_id="k", user_id=1, roles=frozenset({Role.TRADE})),
                  "/exchange.v1.AccountService/GetTransfer")  # fmt: skip


def test_new_key_splits_back_and_matches_only_its_own_secret() -> None:
    """The full key carries its id and secret; only the secret's hash is stored."""
    full, key_id, secret = new_key()
    assert split_key(full) == (key_id, secret)
    key = ApiKey(key_id=key_id, secret_sha256=hash_secret(secret), user_id=1001, roles=frozenset({Role.READ}),
                 label="", created_ns=1, revoked_ns=0)  # fmt: skip
    assert key.matches(secret)
    assert not key.matches(new_key()[2])
    assert split_key(full + "x") is None
    assert split_key("Bearer " + full) is None


def test_parse_roles_refuses_unknown_and_empty() -> None:
    """Roles are read, trade, transfer, admin."""
    assert parse_roles(["READ", "trade"]) == {Role.READ, Role.TRADE}
    with pytest.raises(KeyRefused):
        parse_roles(["root"])
    with pytest.raises(KeyRefused):
        parse_roles([])
