"""Order, cancel and transfer requests are checked into units, every bad field reported with its reason."""

from __future__ import annotations

import pytest

from common.markets import load_catalog
from exchange.v1 import account_service_pb2, common_pb2, trading_service_pb2
from gateway.errors import Refused
from gateway.validation import validate_cancel, validate_place_order, validate_transfer

CATALOG = load_catalog()
R = common_pb2.RejectReason


def limit(**fields: object) -> trading_service_pb2.PlaceOrderRequest:
    """A valid BTC_USDT limit buy, with `fields` overridden."""
    values: dict[str, object] = {
        "symbol": "BTC_USDT", "side": common_pb2.SIDE_BUY, "order_type": common_pb2.ORDER_TYPE_LIMIT,
        "price": "45000.00", "quantity": "0.5", "client_order_id": "alice-1",
    }
    values.update(fields)
    return trading_service_pb2.PlaceOrderRequest(**values)  # type: ignore[arg-type]


def refusal(call: object, *args: object) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def fields_and_reasons(refused: Refused) -> set[tuple[str, int]]:
    return {(v.field, v.reason) for v in refused.violations}


def test_valid_limit_order_parses_to_units_with_gtc_and_expire_taker_defaults() -> None:
    """The seed's order: 0.5 BTC at 45000.00 USDT, in smallest units."""
    order = validate_place_order(limit(), CATALOG)
    assert (order.price_units, order.qty_units, order.quote_budget_units) == (45_000_000_000, 50_000_000, 0)
    assert order.time_in_force == common_pb2.TIME_IN_FORCE_GTC
    assert order.self_trade_mode == common_pb2.SELF_TRADE_MODE_EXPIRE_TAKER


def test_valid_market_buy_takes_a_quote_budget_and_market_sell_a_quantity() -> None:
    """Market buys spend a budget; market sells give a quantity."""
    buy = validate_place_order(
        limit(order_type=common_pb2.ORDER_TYPE_MARKET, price="", quantity="", quote_quantity="100"), CATALOG
    )
    assert (buy.price_units, buy.qty_units, buy.quote_budget_units) == (0, 0, 100_000_000)
    sell = validate_place_order(
        limit(order_type=common_pb2.ORDER_TYPE_MARKET, side=common_pb2.SIDE_SELL, price=""), CATALOG
    )
    assert (sell.qty_units, sell.time_in_force) == (50_000_000, common_pb2.TIME_IN_FORCE_UNSPECIFIED)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"client_order_id": ""}, ("client_order_id", R.REJECT_REASON_MISSING_FIELD)),
        ({"client_order_id": "has space"}, ("client_order_id", R.REJECT_REASON_INVALID_REQUEST)),
        ({"client_order_id": "x" * 65}, ("client_order_id", R.REJECT_REASON_INVALID_REQUEST)),
        ({"symbol": ""}, ("symbol", R.REJECT_REASON_MISSING_FIELD)),
        ({"symbol": "DOGE_USDT"}, ("symbol", R.REJECT_REASON_UNKNOWN_MARKET)),
        ({"side": 0}, ("side", R.REJECT_REASON_MISSING_FIELD)),
        ({"side": 7}, ("side", R.REJECT_REASON_INVALID_ORDER)),
        ({"order_type": 0}, ("order_type", R.REJECT_REASON_MISSING_FIELD)),
        ({"price": ""}, ("price", R.REJECT_REASON_MISSING_FIELD)),
        ({"price": "45000.001"}, ("price", R.REJECT_REASON_INVALID_PRICE)),
        ({"price": "-1"}, ("price", R.REJECT_REASON_INVALID_PRICE)),
        ({"price": "0"}, ("price", R.REJECT_REASON_INVALID_PRICE)),
        ({"price": "1e5"}, ("price", R.REJECT_REASON_INVALID_PRICE)),
        ({"price": "99999999999999999999"}, ("price", R.REJECT_REASON_INVALID_PRICE)),
        ({"quantity": "0.00005"}, ("quantity", R.REJECT_REASON_INVALID_QUANTITY)),
        ({"quantity": "0.000000001"}, ("quantity", R.REJECT_REASON_INVALID_QUANTITY)),
        ({"quantity": "10000.0001"}, ("quantity", R.REJECT_REASON_INVALID_QUANTITY)),
        ({"price": "10000000.01"}, ("price", R.REJECT_REASON_INVALID_PRICE)),
        ({"price": "0.01", "quantity": "0.0001"}, ("quantity", R.REJECT_REASON_BELOW_MIN_NOTIONAL)),
        ({"quote_quantity": "10"}, ("quote_quantity", R.REJECT_REASON_INVALID_ORDER)),
        ({"time_in_force": 9}, ("time_in_force", R.REJECT_REASON_INVALID_ORDER)),
        (
            {"time_in_force": common_pb2.TIME_IN_FORCE_IOC, "post_only": True},
            ("post_only", R.REJECT_REASON_INVALID_ORDER),
        ),
        ({"self_trade_mode": 42}, ("self_trade_mode", R.REJECT_REASON_INVALID_ORDER)),
        ({"result_wait_ms": 5_001}, ("result_wait_ms", R.REJECT_REASON_INVALID_REQUEST)),
    ],
)
def test_bad_limit_order_field_is_refused_with_its_reason(fields: dict[str, object], expected: tuple[str, int]) -> None:
    """Each broken rule names its field and the RejectReason of that field."""
    refused = refusal(validate_place_order, limit(**fields), CATALOG)
    assert expected in fields_and_reasons(refused)
    assert refused.reason == refused.violations[0].reason


def test_off_tick_and_off_lot_refusals_name_the_step_as_a_decimal() -> None:
    """A client reads the step in the units it sent, not in smallest units."""
    [off_tick] = refusal(validate_place_order, limit(price="45000.001"), CATALOG).violations
    [off_lot] = refusal(validate_place_order, limit(quantity="0.00005"), CATALOG).violations
    assert "the tick 0.01" in off_tick.description
    assert "the lot 0.0001" in off_lot.description


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"price": "45000"}, ("price", R.REJECT_REASON_INVALID_ORDER)),
        ({"time_in_force": common_pb2.TIME_IN_FORCE_IOC}, ("time_in_force", R.REJECT_REASON_INVALID_ORDER)),
        ({"post_only": True}, ("post_only", R.REJECT_REASON_INVALID_ORDER)),
        ({"quantity": "0.5"}, ("quantity", R.REJECT_REASON_INVALID_ORDER)),
        ({"quote_quantity": ""}, ("quote_quantity", R.REJECT_REASON_MISSING_FIELD)),
        ({"quote_quantity": "0.5"}, ("quote_quantity", R.REJECT_REASON_BELOW_MIN_NOTIONAL)),
        ({"quote_quantity": "1.0000001"}, ("quote_quantity", R.REJECT_REASON_INVALID_AMOUNT)),
        ({"quote_quantity": "100000000001"}, ("quote_quantity", R.REJECT_REASON_INVALID_AMOUNT)),
    ],
)
def test_bad_market_buy_field_is_refused_with_its_reason(fields: dict[str, object], expected: tuple[str, int]) -> None:
    """Market buys: no price, no time in force, no post-only, no quantity, a budget of at least min notional."""
    base = {"order_type": common_pb2.ORDER_TYPE_MARKET, "price": "", "quantity": "", "quote_quantity": "100"}
    refused = refusal(validate_place_order, limit(**{**base, **fields}), CATALOG)
    assert expected in fields_and_reasons(refused)


def test_every_violation_is_reported_at_once() -> None:
    """Several bad fields come back together, so a client fixes them in one round trip."""
    refused = refusal(validate_place_order, limit(client_order_id="", price="1.001", quantity="0"), CATALOG)
    assert {field for field, _ in fields_and_reasons(refused)} == {"client_order_id", "price", "quantity"}


def test_cancel_needs_exactly_one_of_order_id_and_client_order_id() -> None:
    """By order id, or by client order id, never neither nor both."""
    assert validate_cancel(trading_service_pb2.CancelOrderRequest(order_id=7), CATALOG).order_id == 7
    by_client = validate_cancel(trading_service_pb2.CancelOrderRequest(client_order_id="a-1"), CATALOG)
    assert by_client.client_order_id == "a-1"
    neither = refusal(validate_cancel, trading_service_pb2.CancelOrderRequest(), CATALOG)
    assert ("client_order_id", R.REJECT_REASON_MISSING_FIELD) in fields_and_reasons(neither)
    both = refusal(validate_cancel, trading_service_pb2.CancelOrderRequest(order_id=7, client_order_id="a"), CATALOG)
    assert ("client_order_id", R.REJECT_REASON_INVALID_REQUEST) in fields_and_reasons(both)
    unknown = refusal(validate_cancel, trading_service_pb2.CancelOrderRequest(order_id=7, symbol="NOPE"), CATALOG)
    assert ("symbol", R.REJECT_REASON_UNKNOWN_MARKET) in fields_and_reasons(unknown)


def test_valid_transfer_parses_amount_at_the_asset_scale() -> None:
    """100000 USDT is 100_000_000_000 units at scale 6."""
    request = account_service_pb2.TransferInRequest(request_id="dep-1", user_id=1001, asset="USDT", amount="100000")
    transfer = validate_transfer(request, CATALOG)
    assert (transfer.asset_id, transfer.amount_units) == (2, 100_000_000_000)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"request_id": ""}, ("request_id", R.REJECT_REASON_MISSING_FIELD)),
        ({"user_id": 0}, ("user_id", R.REJECT_REASON_MISSING_FIELD)),
        ({"user_id": 2**63}, ("user_id", R.REJECT_REASON_INVALID_REQUEST)),
        ({"asset": "XYZ"}, ("asset", R.REJECT_REASON_UNKNOWN_ASSET)),
        ({"amount": "0"}, ("amount", R.REJECT_REASON_INVALID_AMOUNT)),
        ({"amount": "0.0000001"}, ("amount", R.REJECT_REASON_INVALID_AMOUNT)),
        ({"amount": ""}, ("amount", R.REJECT_REASON_MISSING_FIELD)),
    ],
)
def test_bad_transfer_field_is_refused_with_its_reason(fields: dict[str, object], expected: tuple[str, int]) -> None:
    """Transfers: an idempotency key, an account id within int64, a known asset, a positive exact amount."""
    values: dict[str, object] = {"request_id": "w-1", "user_id": 1001, "asset": "USDT", "amount": "5"}
    request = account_service_pb2.TransferOutRequest(**{**values, **fields})  # type: ignore[arg-type]
    assert expected in fields_and_reasons(refusal(validate_transfer, request, CATALOG))
