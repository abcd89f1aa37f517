"""The load generator's pure parts: the seeded order mix and the joining of driver, feed and chain_state records."""

from __future__ import annotations

import re
from collections import Counter

from common.markets import load_catalog
from common.money import parse_units
from exchange.v1 import common_pb2
from tools.loadgen.driver import LoadRecord
from tools.loadgen.mix import Cancel, OrderMix, Place
from tools.loadgen.report import percentiles_us, stages
from tools.loadgen.watch import FirstOutput, ShardProgress

CLIENT_ORDER_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _mix(seed: int = 5, users: int = 3) -> OrderMix:
    market = load_catalog().markets["BTC_USDT"]
    return OrderMix(market=market, users=users, mid_units=parse_units("30000.00", market.quote_scale), seed=seed,
                    run_tag="lgtest")


def test_same_seed_gives_the_same_commands_and_another_seed_others() -> None:
    """Two mixes from one seed produce identical command streams; a different seed does not."""
    first, second, other = _mix(seed=5), _mix(seed=5), _mix(seed=6)
    stream = [first.next(i % 3) for i in range(500)]
    assert stream == [second.next(i % 3) for i in range(500)]
    assert stream != [other.next(i % 3) for i in range(500)]


def test_orders_are_valid_for_the_market_and_every_kind_appears() -> None:
    """Every order is on the market's tick and lot, within its maxima, with a unique well-formed client order id;
    the mix has GTC, IOC, FOK, market buys by budget, market sells by quantity and cancels."""
    mix = _mix()
    market = mix.market
    kinds: Counter[str] = Counter()
    ids: set[str] = set()
    for number in range(3_000):
        command = mix.next(number % 3)
        if isinstance(command, Cancel):
            kinds["cancel"] += 1
            continue
        request = command.request
        assert CLIENT_ORDER_ID_RE.fullmatch(request.client_order_id), request.client_order_id
        assert request.client_order_id not in ids
        ids.add(request.client_order_id)
        if request.order_type == common_pb2.ORDER_TYPE_MARKET:
            assert request.time_in_force == common_pb2.TIME_IN_FORCE_UNSPECIFIED
            kinds["market buy" if request.side == common_pb2.SIDE_BUY else "market sell"] += 1
            if request.side == common_pb2.SIDE_BUY:
                assert parse_units(request.quote_quantity, market.quote_scale) >= market.min_notional_units
            continue
        price = parse_units(request.price, market.quote_scale)
        quantity = parse_units(request.quantity, market.base_scale)
        assert price % market.tick_units == 0, price
        assert 0 < price <= market.max_price_units, price
        assert quantity % market.lot_units == 0, quantity
        assert market.min_qty_units <= quantity <= market.max_qty_units, quantity
        kinds[common_pb2.TimeInForce.Name(request.time_in_force)] += 1
    assert set(kinds) == {"cancel", "market buy", "market sell", "TIME_IN_FORCE_GTC", "TIME_IN_FORCE_IOC",
                          "TIME_IN_FORCE_FOK"}, kinds


def test_a_cancel_names_an_earlier_gtc_order_of_the_same_user_once() -> None:
    """Cancels pick from the user's own GTC orders placed before, and never the same order twice."""
    mix = _mix()
    placed_gtc: dict[int, set[str]] = {0: set(), 1: set(), 2: set()}
    canceled: set[str] = set()
    for number in range(3_000):
        user = number % 3
        command = mix.next(user)
        if isinstance(command, Place):
            if (command.request.order_type == common_pb2.ORDER_TYPE_LIMIT
                    and command.request.time_in_force == common_pb2.TIME_IN_FORCE_GTC):
                placed_gtc[user].add(command.request.client_order_id)
            continue
        assert command.user_index == user
        assert command.request.client_order_id in placed_gtc[user]
        assert command.request.client_order_id not in canceled
        canceled.add(command.request.client_order_id)
    assert canceled


def test_stages_join_each_accepted_order_to_its_first_output_and_the_persisted_seq() -> None:
    """An order is matched when its first output was seen and persisted once chain_state reached that seq; an
    order without output is neither; percentiles come out of the HdrHistogram within its precision."""
    record = LoadRecord(started_ns=0, ended_ns=10, accepted={1: 100, 2: 200, 3: 300})
    first = {1: FirstOutput(0, 5, 1_100), 2: FirstOutput(0, 9, 1_200)}
    progress = {0: ShardProgress(seqs=[4, 7, 12], times_ns=[2_000, 3_000, 4_000])}
    staged = stages(record, first, progress)
    assert staged.matched_ns == [1_100, 1_200, None]
    assert staged.persisted_ns == [3_000, 4_000, None]
    assert progress[0].persisted_ns(13) is None
    pct = percentiles_us([1_000.0] * 99 + [50_000.0])
    assert pct["count"] == 100
    assert abs(pct["p50"] - 1_000) <= 1
    assert abs(pct["p100"] - 50_000) <= 50
