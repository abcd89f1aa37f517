"""Every refusal reason of the UBSCore core, each on a request that differs from a valid one in one field only.

A refused order changes no balance, gets no order id, and is told in an ORDER_REJECTED event that carries the
whole request; a refused transfer is a *_REJECTED event with version 0.
"""

from __future__ import annotations

import pytest

from common.enums import BalanceEventType, BalanceOperation, OrderType, RejectReason, SelfTradeMode, Side, TimeInForce
from common.markets import load_catalog
from common.money import INT64_MAX
from ubscore.commands import CancelRequest, PlaceRequest, TransferRequest
from ubscore.core import UbsCore
from ubscore.events import Refused

ALICE = 1001
BTC, USDT = 1, 2
PRICE = 45_000_000_000  # 45,000 USDT
TICK, LOT = 10_000, 10_000
VALID = PlaceRequest(ALICE, "c1", "BTC_USDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, False, PRICE, 10_000_000,
                     0, SelfTradeMode.UNSPECIFIED, 7)  # fmt: skip
MARKET_BUY = VALID._replace(order_type=OrderType.MARKET, time_in_force=0, price_units=0, qty_units=0,
                            quote_budget_units=1_000_000_000)  # fmt: skip


def funded_core() -> UbsCore:
    """A core where Alice holds 10,000 USDT and 1 BTC."""
    catalog = load_catalog()
    core = UbsCore(catalog.markets.values(), [a.asset_id for a in catalog.assets.values()], fee_account_user_id=1)
    core.transfer(TransferRequest("d1", ALICE, USDT, 10_000_000_000, BalanceOperation.TRANSFER_IN, 1))
    core.transfer(TransferRequest("d2", ALICE, BTC, 100_000_000, BalanceOperation.TRANSFER_IN, 2))
    return core


def limits() -> tuple[int, int, int]:
    rules = funded_core().rules["BTC_USDT"]
    return rules.max_price_units, rules.max_qty_units, rules.max_notional_units


MAX_PRICE, MAX_QTY, MAX_NOTIONAL = limits()

CASES = [
    ("no user", VALID._replace(user_id=0), RejectReason.UBSCORE_MISSING_FIELD),
    ("no client order id", VALID._replace(client_order_id=""), RejectReason.UBSCORE_MISSING_FIELD),
    ("malformed client order id", VALID._replace(client_order_id="a b"), RejectReason.UBSCORE_INVALID_ORDER),
    ("client order id too long", VALID._replace(client_order_id="x" * 65), RejectReason.UBSCORE_INVALID_ORDER),
    ("unknown market", VALID._replace(symbol="DOGE_USDT"), RejectReason.UBSCORE_UNKNOWN_MARKET),
    ("system user", VALID._replace(user_id=999), RejectReason.UBSCORE_INVALID_ORDER),
    ("no side", VALID._replace(side=0), RejectReason.UBSCORE_INVALID_ORDER),
    ("unknown side", VALID._replace(side=9), RejectReason.UBSCORE_INVALID_ORDER),
    ("unknown type", VALID._replace(order_type=7), RejectReason.UBSCORE_INVALID_ORDER),
    ("unknown tif", VALID._replace(time_in_force=8), RejectReason.UBSCORE_INVALID_ORDER),
    ("unknown stp", VALID._replace(self_trade_mode=6), RejectReason.UBSCORE_INVALID_ORDER),
    ("post-only IOC", VALID._replace(post_only=True, time_in_force=TimeInForce.IOC),
     RejectReason.UBSCORE_INVALID_ORDER),
    ("limit with a budget", VALID._replace(quote_budget_units=5), RejectReason.UBSCORE_INVALID_ORDER),
    ("market with a price", MARKET_BUY._replace(price_units=PRICE), RejectReason.UBSCORE_INVALID_ORDER),
    ("market with FOK", MARKET_BUY._replace(time_in_force=TimeInForce.FOK), RejectReason.UBSCORE_INVALID_ORDER),
    ("market post-only", MARKET_BUY._replace(post_only=True), RejectReason.UBSCORE_INVALID_ORDER),
    ("market buy with a quantity", MARKET_BUY._replace(qty_units=LOT), RejectReason.UBSCORE_INVALID_ORDER),
    ("market sell with a budget", MARKET_BUY._replace(side=Side.SELL, qty_units=LOT),
     RejectReason.UBSCORE_INVALID_ORDER),
    ("price off tick", VALID._replace(price_units=PRICE + 5), RejectReason.UBSCORE_PRICE_OFF_TICK),
    ("price zero", VALID._replace(price_units=0), RejectReason.UBSCORE_PRICE_OUT_OF_RANGE),
    ("price negative", VALID._replace(price_units=-TICK), RejectReason.UBSCORE_PRICE_OUT_OF_RANGE),
    ("price above max", VALID._replace(price_units=(MAX_PRICE // TICK + 1) * TICK),
     RejectReason.UBSCORE_PRICE_OUT_OF_RANGE),
    ("qty off lot", VALID._replace(qty_units=LOT + 1), RejectReason.UBSCORE_QUANTITY_OFF_LOT),
    ("qty zero", VALID._replace(qty_units=0), RejectReason.UBSCORE_QUANTITY_OUT_OF_RANGE),
    ("qty above max", VALID._replace(qty_units=(MAX_QTY // LOT + 1) * LOT), RejectReason.UBSCORE_QUANTITY_OUT_OF_RANGE),
    ("market sell qty off lot", MARKET_BUY._replace(side=Side.SELL, quote_budget_units=0, qty_units=LOT + 1),
     RejectReason.UBSCORE_QUANTITY_OFF_LOT),
    ("notional below min", VALID._replace(price_units=TICK, qty_units=LOT), RejectReason.UBSCORE_BELOW_MIN_NOTIONAL),
    ("budget below min notional", MARKET_BUY._replace(quote_budget_units=999_999),
     RejectReason.UBSCORE_BUDGET_OUT_OF_RANGE),
    ("budget above max notional", MARKET_BUY._replace(quote_budget_units=MAX_NOTIONAL + 1),
     RejectReason.UBSCORE_BUDGET_OUT_OF_RANGE),
    ("buy not covered", VALID._replace(qty_units=30_000_000), RejectReason.INSUFFICIENT_FUNDS),
    ("sell not covered", VALID._replace(side=Side.SELL, qty_units=100_010_000), RejectReason.INSUFFICIENT_FUNDS),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_place_refused_with_its_reason_changes_nothing_and_emits_order_rejected(
    request_: PlaceRequest, reason: RejectReason
) -> None:
    core = funded_core()
    before = list(core.ledger.rows())
    effects = core.place(request_)
    assert effects.reply.reason == reason, effects.reply
    assert effects.commands == []
    [event] = effects.events
    assert (event.type, event.reject_reason, event.version, event.order_id) == (
        BalanceEventType.ORDER_REJECTED, reason, 0, 0,
    )  # fmt: skip
    assert event.order == request_
    assert event.client_order_id == request_.client_order_id
    assert list(core.ledger.rows()) == before
    assert core.counters.last_order_id == 0


def test_valid_order_of_the_table_is_accepted() -> None:
    """The base request of the table above is itself valid (so each case fails for its one changed field)."""
    core = funded_core()
    assert core.place(VALID).reply.order_id == 1
    assert core.place(MARKET_BUY._replace(client_order_id="c2")).reply.order_id == 2


@pytest.mark.parametrize(
    ("cancel", "reason"),
    [
        (CancelRequest(ALICE, 99, "", "", 1), RejectReason.ORDER_NOT_OPEN),
        (CancelRequest(ALICE, 0, "nope", "", 1), RejectReason.ORDER_NOT_OPEN),
        (CancelRequest(1002, 1, "", "", 1), RejectReason.PERMISSION_DENIED),  # open, but not the caller's
        (CancelRequest(ALICE, 1, "", "ETH_USDT", 1), RejectReason.ORDER_NOT_OPEN),  # wrong market
        (CancelRequest(ALICE, 0, "", "", 1), RejectReason.UBSCORE_MISSING_FIELD),
        (CancelRequest(0, 1, "", "", 1), RejectReason.UBSCORE_MISSING_FIELD),
    ],
    ids=["unknown id", "unknown client id", "other user", "wrong market", "no order named", "no user"],
)
def test_cancel_refused_changes_nothing(cancel: CancelRequest, reason: RejectReason) -> None:
    core = funded_core()
    core.place(VALID)
    seq = core.counters.last_command_seq
    effects = core.cancel(cancel)
    assert effects == (Refused(reason, effects.reply.message), [], [])
    assert core.counters.last_command_seq == seq


TRANSFER_CASES = [
    ("unknown asset", TransferRequest("r", ALICE, 77, 5, BalanceOperation.TRANSFER_IN, 9),
     RejectReason.UBSCORE_UNKNOWN_ASSET, BalanceEventType.DEPOSIT_REJECTED),
    ("zero amount", TransferRequest("r", ALICE, USDT, 0, BalanceOperation.TRANSFER_IN, 9),
     RejectReason.UBSCORE_INVALID_AMOUNT, BalanceEventType.DEPOSIT_REJECTED),
    ("negative amount", TransferRequest("r", ALICE, USDT, -5, BalanceOperation.TRANSFER_OUT, 9),
     RejectReason.UBSCORE_INVALID_AMOUNT, BalanceEventType.WITHDRAWAL_REJECTED),
    ("no request id", TransferRequest("", ALICE, USDT, 5, BalanceOperation.TRANSFER_IN, 9),
     RejectReason.UBSCORE_MISSING_FIELD, BalanceEventType.DEPOSIT_REJECTED),
    ("no user", TransferRequest("r", 0, USDT, 5, BalanceOperation.TRANSFER_IN, 9),
     RejectReason.UBSCORE_MISSING_FIELD, BalanceEventType.DEPOSIT_REJECTED),
    ("withdrawal not covered", TransferRequest("r", ALICE, USDT, 10_000_000_001, BalanceOperation.TRANSFER_OUT, 9),
     RejectReason.INSUFFICIENT_FUNDS, BalanceEventType.WITHDRAWAL_REJECTED),
    ("deposit beyond int64", TransferRequest("r", ALICE, USDT, INT64_MAX - 10_000_000_000 + 1,
                                             BalanceOperation.TRANSFER_IN, 9),
     RejectReason.BALANCE_OVERFLOW, BalanceEventType.DEPOSIT_REJECTED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "reason", "kind"), [c[1:] for c in TRANSFER_CASES], ids=[c[0] for c in TRANSFER_CASES]
)
def test_transfer_refused_is_an_event_with_version_zero(
    request_: TransferRequest, reason: RejectReason, kind: BalanceEventType
) -> None:
    core = funded_core()
    before = list(core.ledger.rows())
    [event] = core.transfer(request_).events
    assert (event.type, event.reject_reason, event.version, event.request_id) == (kind, reason, 0, request_.request_id)
    assert event.operation == request_.operation
    assert event.requested_amount_units == request_.amount_units  # the refused amount stays known downstream
    assert list(core.ledger.rows()) == before
    assert not core.invariant_problems()


def test_deposit_up_to_int64_supply_is_accepted() -> None:
    """The overflow bound is exact: supply may reach int64 max, not pass it."""
    core = funded_core()
    [event] = core.transfer(
        TransferRequest("r", 1002, USDT, INT64_MAX - 10_000_000_000, BalanceOperation.TRANSFER_IN, 9)
    ).events
    assert event.type == BalanceEventType.DEPOSITED
    assert core.ledger.supply[USDT] == INT64_MAX


def test_insufficient_funds_says_what_is_needed_and_available_in_decimals() -> None:
    """The refusal's message is for people: amounts in the asset's decimals and name, not units and ids."""
    core = funded_core()
    effects = core.place(VALID._replace(side=Side.SELL, qty_units=100_010_000))  # 1.0001 BTC; Alice holds 1
    assert effects.reply == Refused(RejectReason.INSUFFICIENT_FUNDS, "needs 1.00010000 BTC, available 1.00000000 BTC")
