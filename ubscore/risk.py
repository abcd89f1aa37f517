"""Order validation before any lock, and the amount to lock: pure functions of the request and the market.

Checks run in this order, each refusal with its own 2xxx reason (exchange.v1.RejectReason):

1. user and client order id present and well formed       UBSCORE_MISSING_FIELD / UBSCORE_INVALID_ORDER
   (the client order id is checked before the idempotency lookup, in core.py, since it is the key)
2. the market exists                                        UBSCORE_UNKNOWN_MARKET
3. side / type / time in force / post-only / amounts agree  UBSCORE_INVALID_ORDER
   LIMIT: GTC (or UNSPECIFIED, sent on as GTC), IOC or FOK; post-only only with GTC; no budget.
   MARKET: no time in force, no price, not post-only; a buy gives only a budget, a sell only a quantity.
   System users (ids below 1000, the fee account among them) never trade.
4. price (LIMIT): on tick                                   UBSCORE_PRICE_OFF_TICK
   then > 0 and <= the market's max_price                   UBSCORE_PRICE_OUT_OF_RANGE
5. quantity (LIMIT, MARKET sell): on lot                    UBSCORE_QUANTITY_OFF_LOT
   then >= min_qty and <= max_qty                           UBSCORE_QUANTITY_OUT_OF_RANGE
6. notional (LIMIT) >= min_notional                         UBSCORE_BELOW_MIN_NOTIONAL
   (and <= max_notional, which max_price x max_qty implies) UBSCORE_QUANTITY_OUT_OF_RANGE
7. budget (MARKET buy) within [min_notional, max_notional]  UBSCORE_BUDGET_OUT_OF_RANGE
8. the lock is covered by the available balance             INSUFFICIENT_FUNDS (checked by core.py)

The lock: a LIMIT buy locks the notional at its limit price (quote), a MARKET buy its budget (quote), a sell its
quantity (base). Fees are taken from what each side receives, so nothing more is locked. Python ints never
overflow, so every bound the proto (int64) and the matcher rely on is checked here explicitly.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from common.enums import OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from common.markets import SYSTEM_USER_ID_END, Market
from common.money import format_units, notional_units
from ubscore.commands import PlaceRequest

IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # client order ids and transfer request ids
# Enum members as plain ints: reading an IntEnum member off its class costs ~70 ns in CPython 3.11, a module global
# ~15 ns, and the checks below read a dozen of them per order.
BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT, MARKET = int(OrderType.LIMIT), int(OrderType.MARKET)
TIF_UNSPECIFIED, GTC = int(TimeInForce.UNSPECIFIED), int(TimeInForce.GTC)
SIDES = frozenset((BUY, SELL))
STP_MODES = frozenset(int(mode) for mode in SelfTradeMode)
LIMIT_TIFS = frozenset(int(tif) for tif in (TimeInForce.UNSPECIFIED, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK))
POST_ONLY_TIFS = frozenset((TIF_UNSPECIFIED, GTC))


class Rules(NamedTuple):
    """What the checks read of one market, flattened once at start (the hot path reads a tuple, not a config)."""

    base_asset_id: int
    quote_asset_id: int
    tick_units: int
    lot_units: int
    min_qty_units: int
    max_qty_units: int
    max_price_units: int
    min_notional_units: int
    max_notional_units: int
    base_scale: int
    quote_scale: int
    base_asset: str
    quote_asset: str

    def amount_text(self, asset_id: int, units: int) -> str:
        """`units` of this market's asset `asset_id` for people: "22500.000000 USDT"."""
        if asset_id == self.base_asset_id:
            return f"{format_units(units, self.base_scale)} {self.base_asset}"
        return f"{format_units(units, self.quote_scale)} {self.quote_asset}"


def market_rules(market: Market) -> Rules:
    """The market's bounds (checked at config load so that no lock, fill total or fee can leave int64)."""
    return Rules(
        market.base_asset_id, market.quote_asset_id, market.tick_units, market.lot_units, market.min_qty_units,
        market.max_qty_units, market.max_price_units, market.min_notional_units, market.max_notional_units,
        market.base_scale, market.quote_scale, market.base_asset, market.quote_asset,
    )  # fmt: skip


# What an accepted order locks: (asset_id, units, time_in_force to send on; an UNSPECIFIED LIMIT becomes GTC). A
# plain tuple: built once per accepted order, and a NamedTuple costs ~7x a tuple to build.
Lock = tuple[int, int, int]


class Refusal(NamedTuple):
    """Why an order is refused, with a message for people."""

    reason: RejectReason
    message: str


def is_valid_key(key: str) -> bool:
    """True for an idempotency key of 1 to 64 characters of [A-Za-z0-9._:-]."""
    return IDEMPOTENCY_KEY_RE.fullmatch(key) is not None


def check_order(request: PlaceRequest, rules: Rules | None) -> Lock | Refusal:
    """The lock of a valid order (before the funds check), or the first refusal (see the module docstring)."""
    if rules is None:
        return Refusal(RejectReason.UBSCORE_UNKNOWN_MARKET, f"no market {request.symbol!r}")
    shape = _shape_problem(request)
    if shape:
        return Refusal(RejectReason.UBSCORE_INVALID_ORDER, shape)
    if request.order_type == LIMIT:
        return _check_limit(request, rules)
    if request.side == SELL:
        refusal = _check_qty(request.qty_units, rules)
        return refusal or (rules.base_asset_id, request.qty_units, TIF_UNSPECIFIED)
    budget = request.quote_budget_units
    if not rules.min_notional_units <= budget <= rules.max_notional_units:
        return Refusal(
            RejectReason.UBSCORE_BUDGET_OUT_OF_RANGE,
            f"budget {budget} outside {rules.min_notional_units}..{rules.max_notional_units}",
        )
    return (rules.quote_asset_id, budget, TIF_UNSPECIFIED)


def _shape_problem(request: PlaceRequest) -> str:
    (user_id, _, _, side, order_type, time_in_force, post_only, price_units, qty_units, quote_budget_units,
     self_trade_mode, _, _) = request  # fmt: skip
    if user_id < SYSTEM_USER_ID_END:
        return f"user {user_id} is a system account"
    if side not in SIDES:
        return f"side {side}"
    if self_trade_mode not in STP_MODES:
        return f"self_trade_mode {self_trade_mode}"
    if order_type == LIMIT:
        if time_in_force not in LIMIT_TIFS:
            return f"time_in_force {time_in_force}"
        if post_only and time_in_force not in POST_ONLY_TIFS:
            return "post-only needs GTC"
        if quote_budget_units:
            return "a limit order has no quote budget"
        return ""
    if order_type != MARKET:
        return f"order_type {order_type}"
    if time_in_force != TIF_UNSPECIFIED or post_only or price_units:
        return "a market order has no time in force, post-only or price"
    if side == BUY and qty_units:
        return "a market buy gives a quote budget, not a quantity"
    if side == SELL and quote_budget_units:
        return "a market sell gives a quantity, not a quote budget"
    return ""


def _check_qty(qty_units: int, rules: Rules) -> Refusal | None:
    if qty_units % rules.lot_units:
        return Refusal(
            RejectReason.UBSCORE_QUANTITY_OFF_LOT, f"quantity {qty_units} not a multiple of {rules.lot_units}"
        )
    if not rules.min_qty_units <= qty_units <= rules.max_qty_units:
        return Refusal(
            RejectReason.UBSCORE_QUANTITY_OUT_OF_RANGE,
            f"quantity {qty_units} outside {rules.min_qty_units}..{rules.max_qty_units}",
        )
    return None


def _check_limit(request: PlaceRequest, rules: Rules) -> Lock | Refusal:
    (base_asset_id, quote_asset_id, tick_units, lot_units, min_qty_units, max_qty_units, max_price_units,
     min_notional_units, max_notional_units, base_scale, _, _, _) = rules  # fmt: skip
    price, qty = request.price_units, request.qty_units
    if price % tick_units:
        return Refusal(RejectReason.UBSCORE_PRICE_OFF_TICK, f"price {price} not a multiple of {tick_units}")
    if not 0 < price <= max_price_units:
        return Refusal(RejectReason.UBSCORE_PRICE_OUT_OF_RANGE, f"price {price} outside 1..{max_price_units}")
    if qty % lot_units or not min_qty_units <= qty <= max_qty_units:
        return _check_qty(qty, rules)
    notional = notional_units(price, qty, base_scale)
    if notional < min_notional_units:
        return Refusal(RejectReason.UBSCORE_BELOW_MIN_NOTIONAL, f"notional {notional} below {min_notional_units}")
    if notional > max_notional_units:
        return Refusal(RejectReason.UBSCORE_QUANTITY_OUT_OF_RANGE, f"notional {notional} above {max_notional_units}")
    if request.side == BUY:
        return (quote_asset_id, notional, request.time_in_force or GTC)
    return (base_asset_id, qty, request.time_in_force or GTC)
