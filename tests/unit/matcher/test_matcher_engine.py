"""Unit tests of matcher.engine.Engine: routing by symbol, unknown markets, real market scales, snapshots."""

from __future__ import annotations

import json

import pytest

from common.enums import OrderStatus, OrderType, RejectReason, Side, TimeInForce
from common.markets import load_catalog
from matcher.book_reference import ReferenceBook
from matcher.commands import CancelOrder, PlaceOrder
from matcher.engine import Engine
from matcher.events import CancelRejected

MARKETS = load_catalog().markets
BTC = 10**8
USDT = 10**6


def btc_limit(order_id: int, side: Side, price_units: int, qty_units: int, *, user: int = 1) -> PlaceOrder:
    return PlaceOrder(
        symbol="BTC_USDT", order_id=order_id, user_id=user, side=side, order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC, price_units=price_units, qty_units=qty_units, ts_event_ns=order_id,
    )  # fmt: skip


def test_engine_routes_commands_to_each_markets_own_book() -> None:
    """A BTC_USDT order lands on BTC_USDT's book only; ETH_USDT stays empty."""
    engine = Engine(MARKETS.values())
    engine.apply(btc_limit(1, Side.BUY, 45_000 * USDT, BTC // 2))
    assert engine.depth("BTC_USDT", 5) == ([(45_000 * USDT, BTC // 2)], [])
    assert engine.depth("ETH_USDT", 5) == ([], [])


def test_real_scales_give_exact_notional_and_fees() -> None:
    """0.5 BTC at 45000.00 USDT costs exactly 22500 USDT; taker buyer pays 0.2 % in BTC, maker seller 0.1 % in USDT."""
    engine = Engine(MARKETS.values())
    engine.apply(btc_limit(1, Side.SELL, 45_000 * USDT, BTC // 2, user=2))
    (trade,) = engine.apply(btc_limit(2, Side.BUY, 45_000 * USDT, BTC // 2)).trades
    assert trade.quote_qty_units == 22_500 * USDT
    assert trade.taker_fee_units == BTC // 1_000  # 0.001 BTC
    assert trade.maker_fee_units == 22_500 * USDT // 1_000  # 22.5 USDT


def test_unknown_market_rejects_orders_and_cancels() -> None:
    """An order for a symbol the engine does not serve is REJECTED with its whole budget unspent; a cancel too."""
    engine = Engine(MARKETS.values())
    order = PlaceOrder(
        symbol="DOGE_USDT", order_id=1, user_id=1, side=Side.BUY, order_type=OrderType.MARKET,
        quote_budget_units=50, ts_event_ns=1,
    )  # fmt: skip
    (update,) = engine.apply(order).order_updates
    assert (update.status, update.reason, update.remaining_quote_units) == (
        OrderStatus.REJECTED, RejectReason.MATCHER_UNKNOWN_MARKET, 50,
    )  # fmt: skip
    result = engine.apply(CancelOrder(symbol="DOGE_USDT", user_id=1, order_id=1, ts_event_ns=2))
    assert result.rejections == [CancelRejected(
        symbol="DOGE_USDT", order_id=1, user_id=1, client_order_id="", reason=RejectReason.MATCHER_UNKNOWN_MARKET,
        ts_event_ns=2,
    )]


def test_apply_refuses_objects_that_are_not_commands() -> None:
    """Anything but PlaceOrder/CancelOrder is a programming error, raised loudly."""
    with pytest.raises(TypeError):
        Engine(MARKETS.values()).apply("place")  # type: ignore[arg-type]


def test_snapshot_is_plain_json_and_restores_to_identical_behaviour() -> None:
    """The snapshot survives a JSON round trip; the restored engine continues exactly like the original."""
    engine = Engine(MARKETS.values())
    for i, (side, price) in enumerate([(Side.BUY, 44_990), (Side.SELL, 45_010), (Side.BUY, 44_995)], start=1):
        engine.apply(btc_limit(i, side, price * USDT, BTC // 10, user=i))
    document = json.loads(json.dumps(engine.snapshot()))
    restored = Engine(MARKETS.values())
    restored.restore(document)
    assert restored.snapshot() == engine.snapshot()
    follow_up = btc_limit(10, Side.SELL, 44_990 * USDT, BTC // 4, user=9)
    assert restored.apply(follow_up) == engine.apply(follow_up)


def test_fast_snapshot_restores_into_reference_engine() -> None:
    """Both book implementations share one snapshot layout."""
    engine = Engine(MARKETS.values())
    engine.apply(btc_limit(1, Side.BUY, 44_990 * USDT, BTC))
    reference = Engine(MARKETS.values(), book_factory=ReferenceBook)
    reference.restore(engine.snapshot())
    assert reference.snapshot() == engine.snapshot()


def test_restore_refuses_a_snapshot_of_other_markets() -> None:
    """A snapshot must cover exactly the engine's markets (a misconfigured shard must not start)."""
    snapshot = Engine([MARKETS["BTC_USDT"]]).snapshot()
    with pytest.raises(AssertionError):
        Engine(MARKETS.values()).restore(snapshot)
