"""UBSCore and the real matcher core together, on hand-computed scenarios (every number below is worked out by hand).

BTC_USDT: price in USDT units (scale 6) per whole BTC, quantity in BTC units (scale 8); maker fee 0.1 %, taker fee
0.2 %, each on the asset received, rounded up. Users: Alice 1001 buys, Bob 1002 sells, fees go to user 1.
"""

from __future__ import annotations

from common.enums import BalanceEventType, FundsUnlockCause, OrderType, RejectReason, Side, TimeInForce
from ubscore.events import OrderAccepted, Refused

from .ubscore_exchange import BTC, FEE_ACCOUNT, USDT, Exchange

ALICE, BOB = 1001, 1002
USDT_1 = 1_000_000  # one USDT in units
BTC_1 = 100_000_000  # one BTC in units
PRICE_45K = 45_000 * USDT_1


def funded() -> Exchange:
    """Alice holds 100,000 USDT, Bob 1 BTC."""
    exchange = Exchange()
    exchange.transfer(ALICE, USDT, 100_000 * USDT_1, deposit=True)
    exchange.transfer(BOB, BTC, BTC_1, deposit=True)
    return exchange


def test_alice_buys_half_a_btc_from_bob_at_45000_both_pay_fees_to_the_fee_account() -> None:
    """The seed's trade: 0.5 BTC at 45,000 costs 22,500 USDT; Alice pays 0.2 % in BTC, Bob 0.1 % in USDT."""
    exchange = funded()
    sell = exchange.place(BOB, "BTC_USDT", Side.SELL, price=PRICE_45K, qty=BTC_1 // 2)
    assert sell.reply == OrderAccepted(1, sell.reply.client_order_id, BTC, 50_000_000, "BTC_USDT",
                                       available_units=50_000_000, frozen_units=50_000_000, version=2)  # fmt: skip
    buy = exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=BTC_1 // 2)
    assert buy.reply.locked_units == 22_500 * USDT_1
    assert exchange.balance(ALICE, USDT) == (77_500 * USDT_1, 22_500 * USDT_1)
    exchange.match()
    assert exchange.balance(ALICE, USDT) == (77_500 * USDT_1, 0)
    assert exchange.balance(ALICE, BTC) == (49_900_000, 0)  # 0.5 BTC - 0.001 BTC taker fee
    assert exchange.balance(BOB, BTC) == (50_000_000, 0)
    assert exchange.balance(BOB, USDT) == (22_477_500_000, 0)  # 22,500 - 22.5 USDT maker fee
    assert exchange.balance(FEE_ACCOUNT, BTC) == (100_000, 0)
    assert exchange.balance(FEE_ACCOUNT, USDT) == (22_500_000, 0)
    assert not exchange.problems()
    kinds = [(e.user_id, e.asset_id, e.type) for e in exchange.events[-6:]]
    assert kinds == [
        (ALICE, USDT, BalanceEventType.TRADE_DEBITED),
        (ALICE, BTC, BalanceEventType.TRADE_CREDITED),
        (FEE_ACCOUNT, BTC, BalanceEventType.FEE_COLLECTED),
        (BOB, BTC, BalanceEventType.TRADE_DEBITED),
        (BOB, USDT, BalanceEventType.TRADE_CREDITED),
        (FEE_ACCOUNT, USDT, BalanceEventType.FEE_COLLECTED),
    ]
    alice_usdt_versions = [e.version for e in exchange.events if (e.user_id, e.asset_id) == (ALICE, USDT)]
    assert alice_usdt_versions == [1, 2, 3]  # deposit, lock, trade debit
    assert [e.event_id for e in exchange.events] == list(range(1, len(exchange.events) + 1))


def test_partial_fill_then_cancel_releases_exactly_the_unfilled_rest() -> None:
    """Alice's 0.5 BTC buy meets Bob's 0.2 BTC: 9,000 USDT spent, the other 0.3 BTC (13,500 USDT) released on cancel."""
    exchange = funded()
    exchange.place(BOB, "BTC_USDT", Side.SELL, price=PRICE_45K, qty=20_000_000)
    buy = exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=50_000_000, coid="alice-1")
    exchange.match()
    assert exchange.balance(ALICE, USDT) == (77_500 * USDT_1, 13_500 * USDT_1)
    cancel = exchange.cancel(ALICE, coid="alice-1")
    assert cancel.reply.order_id == buy.reply.order_id
    assert exchange.balance(ALICE, USDT) == (77_500 * USDT_1, 13_500 * USDT_1)  # nothing moves before the matcher
    exchange.match()
    assert exchange.balance(ALICE, USDT) == (91_000 * USDT_1, 0)
    assert exchange.balance(ALICE, BTC) == (19_960_000, 0)  # 0.2 BTC - 0.0004 BTC fee
    assert exchange.balance(BOB, USDT) == (8_991 * USDT_1, 0)  # 9,000 - 9 USDT fee
    assert exchange.balance(BOB, BTC) == (80_000_000, 0)
    release = exchange.events[-1]
    assert (release.type, release.unlock_cause, release.delta_available_units) == (
        BalanceEventType.FUNDS_UNLOCKED, FundsUnlockCause.CANCELED, 13_500 * USDT_1,
    )  # fmt: skip
    assert release.client_order_id == "alice-1"
    assert not exchange.core.orders.by_id
    assert not exchange.problems()


def test_buy_filled_below_its_limit_releases_the_price_improvement_at_fill_time() -> None:
    """Alice bids 45,000 for 0.5 BTC and takes Bob's 44,000 ask: 22,000 paid, 500 USDT released as improvement."""
    exchange = funded()
    exchange.place(BOB, "BTC_USDT", Side.SELL, price=44_000 * USDT_1, qty=50_000_000)
    exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=50_000_000)
    exchange.match()
    assert exchange.balance(ALICE, USDT) == (78_000 * USDT_1, 0)
    assert exchange.balance(BOB, USDT) == (21_978 * USDT_1, 0)  # 22,000 - 22 USDT fee
    improvement = [e for e in exchange.events if e.unlock_cause == FundsUnlockCause.PRICE_IMPROVEMENT]
    assert [(e.user_id, e.delta_available_units, e.delta_frozen_units) for e in improvement] == [
        (ALICE, 500 * USDT_1, -500 * USDT_1)
    ]
    assert not exchange.problems()


def test_market_buy_by_budget_spends_what_fills_and_releases_the_unspendable_rest() -> None:
    """A 10,000 USDT market buy takes 0.1 BTC at 45,000 then 0.1195 BTC at 46,000; the 3 USDT left is released."""
    exchange = funded()
    exchange.place(BOB, "BTC_USDT", Side.SELL, price=PRICE_45K, qty=10_000_000)
    exchange.place(BOB, "BTC_USDT", Side.SELL, price=46_000 * USDT_1, qty=30_000_000)
    buy = exchange.place(ALICE, "BTC_USDT", Side.BUY, budget=10_000 * USDT_1, order_type=OrderType.MARKET,
                         tif=TimeInForce.UNSPECIFIED)  # fmt: skip
    assert buy.reply.locked_units == 10_000 * USDT_1
    exchange.match()
    assert exchange.balance(ALICE, USDT) == (90_003 * USDT_1, 0)  # 4,500 + 5,497 spent
    assert exchange.balance(ALICE, BTC) == (21_906_100, 0)  # 0.2195 BTC - (20,000 + 23,900) units of fees
    assert exchange.balance(BOB, BTC) == (60_000_000, 18_050_000)  # 0.1805 BTC still resting
    assert exchange.balance(BOB, USDT) == (9_987_003_000, 0)  # 9,997 USDT - 9.997 USDT fees
    last = exchange.events[-1]
    assert (last.user_id, last.unlock_cause, last.delta_available_units) == (ALICE, FundsUnlockCause.FILLED, 3 * USDT_1)
    assert not exchange.problems()


def test_market_sell_without_buyers_expires_and_releases_its_quantity() -> None:
    """A market sell into an empty book expires (NO_LIQUIDITY) and gives the locked BTC back."""
    exchange = funded()
    exchange.place(BOB, "BTC_USDT", Side.SELL, qty=10_000_000, order_type=OrderType.MARKET, tif=TimeInForce.UNSPECIFIED)
    assert exchange.balance(BOB, BTC) == (90_000_000, 10_000_000)
    exchange.match()
    assert exchange.balance(BOB, BTC) == (BTC_1, 0)
    assert exchange.events[-1].unlock_cause == FundsUnlockCause.EXPIRED
    assert not exchange.problems()


def test_post_only_that_would_take_is_rejected_by_the_matcher_and_released() -> None:
    """UBSCore locks a post-only bid that crosses; the matcher REJECTS it and the lock comes back (cause REJECTED)."""
    exchange = funded()
    exchange.place(BOB, "BTC_USDT", Side.SELL, price=PRICE_45K, qty=10_000_000)
    exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=10_000_000, post_only=True)
    exchange.match()
    assert exchange.balance(ALICE, USDT) == (100_000 * USDT_1, 0)
    assert exchange.events[-1].unlock_cause == FundsUnlockCause.REJECTED
    assert not exchange.problems()


def test_cancel_the_matcher_refuses_releases_nothing_and_the_redelivered_output_is_applied_once() -> None:
    """A cancel racing a fill gets a CommandRejected: no funds move; an output delivered twice settles once."""
    exchange = funded()
    exchange.place(BOB, "BTC_USDT", Side.SELL, price=PRICE_45K, qty=10_000_000, coid="bob-1")
    exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=10_000_000)
    exchange.cancel(BOB, coid="bob-1")  # UBSCore still sees it open: the cancel is queued behind the fill
    outputs = exchange.match()
    rejected = outputs[-1]
    before = list(exchange.core.ledger.rows())
    events_before = len(exchange.events)
    assert not exchange.settle(rejected).events  # redelivery of the CommandRejected output
    assert not exchange.settle(outputs[1]).events  # redelivery of the trade
    assert list(exchange.core.ledger.rows()) == before
    assert len(exchange.events) == events_before
    assert not exchange.problems()


def test_repeated_client_order_id_returns_the_first_outcome_and_changes_nothing() -> None:
    """Same (user, client order id) and same order: first outcome with duplicate=True; a different order: refused."""
    exchange = funded()
    first = exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=10_000_000, coid="k1")
    again = exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=10_000_000, coid="k1")
    assert again.reply == first.reply._replace(duplicate=True, available_units=0, frozen_units=0, version=0)
    assert not again.events
    assert not again.commands
    other = exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=20_000_000, coid="k1")
    assert other.reply.reason == RejectReason.DUPLICATE_REQUEST
    assert not other.events
    refused = exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=BTC_1 * 100, coid="k2")
    refused_again = exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=BTC_1 * 100, coid="k2")
    assert refused_again.reply == refused.reply
    assert not refused_again.events
    assert exchange.core.counters.last_order_id == 1


def test_repeated_transfer_request_id_applies_once() -> None:
    """A redelivered deposit (same user and request id) changes nothing and emits nothing."""
    exchange = Exchange()
    exchange.transfer(ALICE, USDT, 5 * USDT_1, deposit=True, request_id="dep-1")
    repeat = exchange.transfer(ALICE, USDT, 5 * USDT_1, deposit=True, request_id="dep-1")
    assert repeat.events == []
    assert repeat.reply is None
    different = exchange.transfer(ALICE, USDT, 6 * USDT_1, deposit=True, request_id="dep-1")
    assert different.reply == Refused(RejectReason.DUPLICATE_REQUEST, different.reply.message)
    assert exchange.balance(ALICE, USDT) == (5 * USDT_1, 0)


def test_snapshot_restore_mid_trade_gives_the_same_outcome() -> None:
    """A core restored from its snapshot between lock and fill settles exactly like the original."""
    exchange = funded()
    exchange.place(BOB, "BTC_USDT", Side.SELL, price=PRICE_45K, qty=BTC_1 // 2)
    exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=BTC_1 // 2)
    exchange.restart()
    exchange.match()
    assert exchange.balance(ALICE, BTC) == (49_900_000, 0)
    assert exchange.core.counters.last_command_seq == 2
    assert not exchange.problems()


def test_client_order_id_of_an_order_resting_beyond_the_window_cannot_be_reused() -> None:
    """Keys leave the idempotency window, open orders do not: a resting order's client id stays taken."""
    exchange = funded()
    exchange.core.order_keys.keys_max = 1  # the window now forgets all but the newest key
    exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=10_000_000, coid="old")
    exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=10_000_000, coid="newer")
    assert exchange.core.order_keys.get((ALICE, "old")) is None
    again = exchange.place(ALICE, "BTC_USDT", Side.BUY, price=PRICE_45K, qty=10_000_000, coid="old")
    assert again.reply.reason == RejectReason.DUPLICATE_REQUEST
    assert (again.events, again.commands) == ([], [])
    exchange.match()
    assert exchange.cancel(ALICE, coid="old").reply.order_id == 1
