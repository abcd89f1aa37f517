"""Validation of order and transfer requests into integer units (pure: no I/O, no clock).

Invalid input never reaches another service: every request is checked here first, and every problem found is
reported at once as a field violation (google.rpc.BadRequest) with the RejectReason of that field; the refusal's
own reason is the first violation's. Amounts are parsed exactly by `common.money.parse_units` at the asset's
scale. Rules (docs/decisions.md, proto comments, the matcher's shape check in matcher/book.py):

- idempotency keys (`client_order_id`, `request_id`): required, 1 to 64 characters of [A-Za-z0-9._:-];
- LIMIT: price on the tick and at most max_price, quantity on the lot, at least min_qty and at most max_qty,
  notional at least min_notional, no quote quantity; time in force GTC (default), IOC or FOK; post-only only
  with GTC;
- MARKET: no price, no time in force, no post-only; a sell gives a quantity (on the lot, at least min_qty), a
  buy a quote budget (at least min_notional) and no quantity;
- result_wait_ms at most 5000; cancel by order id or client order id (exactly one); transfers for a user id
  (system accounts too: the fee account is paid out by transfer) in a known asset with a positive amount;
- ids within int64 (the proto's uint64 goes further; every table and service stops at 2**63 - 1).

A description quotes a bad value shortened (common.quoting.quoted), however long the request's string.

Per-market maxima: the price at most max_price, the quantity at most max_qty, a market buy's budget at most
max_notional (max_price x max_qty), the same bounds UBSCore and the matcher enforce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import InvalidAmount
from common.markets import Market, MarketCatalog
from common.money import INT64_MAX, format_units, parse_units
from common.quoting import quoted
from exchange.v1 import account_service_pb2, common_pb2, trading_service_pb2
from gateway.errors import FieldViolation, Refused

IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
RESULT_WAIT_MS_MAX = 5_000
# RejectReason values read as the module's constants (common_pb2.REJECT_REASON_X): through the enum wrapper
# (RejectReason.X) each read is a Python __getattr__, ~0.9 us, and the hot path reads two per order.
R = common_pb2
# Enum values read once (a descriptor lookup per order costs more than the check).
SIDES = frozenset(common_pb2.Side.DESCRIPTOR.values_by_number) - {0}
SELF_TRADE_MODES = frozenset(common_pb2.SelfTradeMode.DESCRIPTOR.values_by_number)
LIMIT_TIMES_IN_FORCE = frozenset(
    {0, common_pb2.TIME_IN_FORCE_GTC, common_pb2.TIME_IN_FORCE_IOC, common_pb2.TIME_IN_FORCE_FOK}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidOrder:
    """A PlaceOrderRequest that passed every check, in integer units, ready for UBSCore."""

    market: Market
    client_order_id: str
    side: int  # exchange.v1.Side
    order_type: int  # exchange.v1.OrderType
    time_in_force: int  # exchange.v1.TimeInForce (GTC filled in for a limit order without one)
    post_only: bool
    price_units: int  # 0 on a market order
    qty_units: int  # 0 on a market buy
    quote_budget_units: int  # market buys only
    self_trade_mode: int  # exchange.v1.SelfTradeMode (EXPIRE_TAKER filled in)
    result_wait_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidCancel:
    """A CancelOrderRequest that passed every check."""

    symbol: str  # "" when the caller did not name the market
    order_id: int  # 0: by client order id
    client_order_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidTransfer:
    """A TransferIn/OutRequest that passed every check, in integer units."""

    request_id: str
    user_id: int
    asset_id: int
    asset: str
    amount_units: int
    result_wait_ms: int


class _Violations:
    """Collects field violations; `raise_if_any` turns them into one Refused."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, reason: int, description: str) -> None:
        self.items.append(FieldViolation(field=field, reason=reason, description=description))

    def raise_if_any(self) -> None:
        if self.items:
            raise Refused.from_violations(self.items)

    def idempotency_key(self, field: str, value: str) -> None:
        if not value:
            self.add(field, R.REJECT_REASON_MISSING_FIELD, "required (1 to 64 characters of [A-Za-z0-9._:-])")
        elif IDEMPOTENCY_KEY_RE.fullmatch(value) is None:
            self.add(field, R.REJECT_REASON_INVALID_REQUEST, "must be 1 to 64 characters of [A-Za-z0-9._:-]")

    def id_in_range(self, field: str, value: int) -> None:
        violation = id_violation(field, value)
        if violation is not None:
            self.items.append(violation)

    def result_wait(self, value: int) -> None:
        if value > RESULT_WAIT_MS_MAX:
            self.add("result_wait_ms", R.REJECT_REASON_INVALID_REQUEST, f"at most {RESULT_WAIT_MS_MAX}")

    def units(self, field: str, text: str, scale: int, reason: int) -> int:
        """Parsed units of a required decimal string, or 0 after recording why it is not acceptable."""
        if not text:
            self.add(field, R.REJECT_REASON_MISSING_FIELD, "required")
            return 0
        try:
            return parse_units(text, scale)
        except InvalidAmount as error:
            self.add(field, reason, f"{error} ({error.reason})")
            return 0

    def absent(self, field: str, text: str, why: str) -> None:
        if text:
            self.add(field, R.REJECT_REASON_INVALID_ORDER, why)


def id_violation(field: str, value: int) -> FieldViolation | None:
    """The violation of an id beyond int64 (a uint64 field no table or service can hold), else None."""
    if value <= INT64_MAX:
        return None
    return FieldViolation(field=field, reason=R.REJECT_REASON_INVALID_REQUEST, description="out of range (above int64)")


def validate_place_order(request: trading_service_pb2.PlaceOrderRequest, catalog: MarketCatalog) -> ValidOrder:
    """The order in units, or Refused with every field violation found."""
    violations = _Violations()
    violations.idempotency_key("client_order_id", request.client_order_id)
    violations.result_wait(request.result_wait_ms)
    market = catalog.markets.get(request.symbol)
    if not request.symbol:
        violations.add("symbol", R.REJECT_REASON_MISSING_FIELD, "required")
    elif market is None:
        violations.add("symbol", R.REJECT_REASON_UNKNOWN_MARKET, f"no market {quoted(request.symbol)}")
    if request.side not in SIDES:
        violations.add("side", R.REJECT_REASON_MISSING_FIELD if request.side == 0 else R.REJECT_REASON_INVALID_ORDER,
                       "SIDE_BUY or SIDE_SELL")  # fmt: skip
    stp = request.self_trade_mode
    if stp not in SELF_TRADE_MODES:
        violations.add("self_trade_mode", R.REJECT_REASON_INVALID_ORDER, f"unknown value {stp}")
    prices = (0, 0, 0)
    if request.order_type == common_pb2.ORDER_TYPE_LIMIT:
        prices = _limit_amounts(request, market, violations)
    elif request.order_type == common_pb2.ORDER_TYPE_MARKET:
        prices = _market_amounts(request, market, violations)
    else:
        violations.add("order_type", R.REJECT_REASON_MISSING_FIELD if request.order_type == 0
                       else R.REJECT_REASON_INVALID_ORDER, "ORDER_TYPE_LIMIT or ORDER_TYPE_MARKET")  # fmt: skip
    violations.raise_if_any()
    assert market is not None
    price_units, qty_units, budget_units = prices
    tif = request.time_in_force
    if request.order_type == common_pb2.ORDER_TYPE_LIMIT and tif == common_pb2.TIME_IN_FORCE_UNSPECIFIED:
        tif = common_pb2.TIME_IN_FORCE_GTC
    return ValidOrder(
        market=market, client_order_id=request.client_order_id, side=request.side, order_type=request.order_type,
        time_in_force=tif, post_only=request.post_only, price_units=price_units, qty_units=qty_units,
        quote_budget_units=budget_units, self_trade_mode=stp or common_pb2.SELF_TRADE_MODE_EXPIRE_TAKER,
        result_wait_ms=request.result_wait_ms,
    )


def _limit_amounts(
    request: trading_service_pb2.PlaceOrderRequest, market: Market | None, violations: _Violations
) -> tuple[int, int, int]:
    tif = request.time_in_force
    if tif not in LIMIT_TIMES_IN_FORCE:
        violations.add("time_in_force", R.REJECT_REASON_INVALID_ORDER, f"unknown value {tif}")
    elif request.post_only and tif not in (0, common_pb2.TIME_IN_FORCE_GTC):
        violations.add("post_only", R.REJECT_REASON_INVALID_ORDER, "post-only orders must be GTC")
    violations.absent("quote_quantity", request.quote_quantity, "limit orders give a quantity, not a quote quantity")
    if market is None:
        return 0, 0, 0
    price = violations.units("price", request.price, market.quote_scale, R.REJECT_REASON_INVALID_PRICE)
    if price and not market.is_on_tick(price):
        tick = format_units(market.tick_units, market.quote_scale)
        violations.add("price", R.REJECT_REASON_INVALID_PRICE, f"not a multiple of the tick {tick}")
        price = 0
    elif price > market.max_price_units:
        violations.add("price", R.REJECT_REASON_INVALID_PRICE, f"above the maximum price of {market.symbol}")
        price = 0
    qty = _quantity(request, market, violations)
    if price and qty and market.notional_units(price, qty) < market.min_notional_units:
        violations.add("quantity", R.REJECT_REASON_BELOW_MIN_NOTIONAL,
                       f"price x quantity is below the minimum notional of {market.symbol}")  # fmt: skip
    return price, qty, 0


def _market_amounts(
    request: trading_service_pb2.PlaceOrderRequest, market: Market | None, violations: _Violations
) -> tuple[int, int, int]:
    violations.absent("price", request.price, "market orders take no price")
    if request.time_in_force != common_pb2.TIME_IN_FORCE_UNSPECIFIED:
        violations.add("time_in_force", R.REJECT_REASON_INVALID_ORDER, "market orders take no time in force")
    if request.post_only:
        violations.add("post_only", R.REJECT_REASON_INVALID_ORDER, "market orders cannot be post-only")
    if market is None:
        return 0, 0, 0
    if request.side == common_pb2.SIDE_BUY:
        violations.absent("quantity", request.quantity, "a market buy gives quote_quantity (the budget)")
        budget = violations.units(
            "quote_quantity", request.quote_quantity, market.quote_scale, R.REJECT_REASON_INVALID_AMOUNT
        )
        if budget and budget < market.min_notional_units:
            violations.add("quote_quantity", R.REJECT_REASON_BELOW_MIN_NOTIONAL,
                           f"below the minimum notional of {market.symbol}")  # fmt: skip
        elif budget > market.max_notional_units:
            violations.add("quote_quantity", R.REJECT_REASON_INVALID_AMOUNT,
                           f"above the maximum notional of {market.symbol} (max price x max quantity)")  # fmt: skip
        return 0, 0, budget
    violations.absent("quote_quantity", request.quote_quantity, "a market sell gives a quantity")
    return 0, _quantity(request, market, violations), 0


def _quantity(
    request: trading_service_pb2.PlaceOrderRequest, market: Market, violations: _Violations
) -> int:
    qty = violations.units("quantity", request.quantity, market.base_scale, R.REJECT_REASON_INVALID_QUANTITY)
    if qty and not market.is_on_lot(qty):
        lot = format_units(market.lot_units, market.base_scale)
        violations.add("quantity", R.REJECT_REASON_INVALID_QUANTITY, f"not a multiple of the lot {lot}")
        return 0
    if qty and qty < market.min_qty_units:
        violations.add("quantity", R.REJECT_REASON_INVALID_QUANTITY, f"below the minimum of {market.symbol}")
        return 0
    if qty > market.max_qty_units:
        violations.add("quantity", R.REJECT_REASON_INVALID_QUANTITY, f"above the maximum of {market.symbol}")
        return 0
    return qty


def validate_cancel(request: trading_service_pb2.CancelOrderRequest, catalog: MarketCatalog) -> ValidCancel:
    """The cancel, or Refused: exactly one of order_id and client_order_id; the symbol, if given, must exist."""
    violations = _Violations()
    if request.symbol and request.symbol not in catalog.markets:
        violations.add("symbol", R.REJECT_REASON_UNKNOWN_MARKET, f"no market {quoted(request.symbol)}")
    if request.order_id and request.client_order_id:
        violations.add("client_order_id", R.REJECT_REASON_INVALID_REQUEST, "give order_id or client_order_id, not both")
    elif not request.order_id:
        violations.idempotency_key("client_order_id", request.client_order_id)
    violations.id_in_range("order_id", request.order_id)
    violations.raise_if_any()
    return ValidCancel(symbol=request.symbol, order_id=request.order_id, client_order_id=request.client_order_id)


def validate_transfer(
    request: account_service_pb2.TransferInRequest | account_service_pb2.TransferOutRequest, catalog: MarketCatalog
) -> ValidTransfer:
    """The transfer in units, or Refused with every field violation found."""
    violations = _Violations()
    violations.idempotency_key("request_id", request.request_id)
    violations.result_wait(request.result_wait_ms)
    if request.user_id == 0:
        violations.add("user_id", R.REJECT_REASON_MISSING_FIELD, "required")
    else:
        violations.id_in_range("user_id", request.user_id)
    asset = catalog.assets.get(request.asset)
    amount_units = 0
    if not request.asset:
        violations.add("asset", R.REJECT_REASON_MISSING_FIELD, "required")
    elif asset is None:
        violations.add("asset", R.REJECT_REASON_UNKNOWN_ASSET, f"no asset {quoted(request.asset)}")
    else:
        amount_units = violations.units("amount", request.amount, asset.scale, R.REJECT_REASON_INVALID_AMOUNT)
    violations.raise_if_any()
    assert asset is not None
    return ValidTransfer(
        request_id=request.request_id, user_id=request.user_id, asset_id=asset.asset_id, asset=asset.name,
        amount_units=amount_units, result_wait_ms=request.result_wait_ms,
    )
