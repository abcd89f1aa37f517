"""UBSCore as a real process with the real Kafka, the real Aeron media driver and a real matcher subprocess.

Each test follows a request to its observable outcome (the Aeron reply, the events on `balance.events`), reading
the real topics; nothing is faked.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from common.aeron.request_response import encode_request
from exchange.v1 import balance_pb2, common_pb2, order_pb2, ubscore_pb2

from .conftest import Gateway, ServiceProcess, Stack, eventually, free_port

pytestmark = pytest.mark.integration

ALICE, BOB, FEE_ACCOUNT = 1001, 1002, 1
BTC, USDT, ETH = 1, 2, 3
PRICE_45K = 45_000_000_000
HALF_BTC = 50_000_000
T = balance_pb2  # event types and causes
Events = Callable[[], list[balance_pb2.BalanceEvent]]


def wait_for(read: Events, predicate: Callable[[balance_pb2.BalanceEvent], bool]) -> balance_pb2.BalanceEvent:
    """The first event matching `predicate`, waiting for it on the real topic."""
    found: list[balance_pb2.BalanceEvent] = []

    def arrived() -> bool:
        found[:] = [event for event in read() if predicate(event)]
        return bool(found)

    eventually(arrived, timeout_ms=30_000)
    return found[0]


def limit(user: int, coid: str, side: int, price: int, qty: int) -> dict[str, object]:
    return {"user_id": user, "client_order_id": coid, "symbol": "BTC_USDT", "side": side,
            "order_type": common_pb2.ORDER_TYPE_LIMIT, "time_in_force": common_pb2.TIME_IN_FORCE_GTC,
            "price_units": price, "qty_units": qty}  # fmt: skip


def test_deposit_becomes_an_event_and_a_refused_withdrawal_too(
    stack: Stack, gateway_factory: Callable[[], Gateway], events_reader: Events
) -> None:
    """deposit -> DEPOSITED (version 1); a withdrawal above the balance -> WITHDRAWAL_REJECTED (version 0)."""
    stack.ubscore.start()
    gateway = gateway_factory()
    deposit_id = gateway.transfer(ALICE, USDT, 1_000_000_000, deposit=True)
    deposited = wait_for(events_reader, lambda e: e.request_id == deposit_id)
    assert (deposited.type, deposited.available_units, deposited.version) == (T.BALANCE_EVENT_TYPE_DEPOSITED,
                                                                              1_000_000_000, 1)  # fmt: skip
    withdrawal_id = gateway.transfer(ALICE, USDT, 1_000_000_001, deposit=False)
    refused = wait_for(events_reader, lambda e: e.request_id == withdrawal_id)
    assert refused.type == T.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED
    assert refused.reject_reason == common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS
    assert (refused.version, refused.available_units) == (0, 1_000_000_000)
    assert refused.operation == T.BALANCE_OPERATION_TRANSFER_OUT


def test_order_locks_goes_through_the_matcher_and_the_trade_settles_both_users(
    stack: Stack, gateway_factory: Callable[[], Gateway], events_reader: Events,
    orders_reader: Callable[[], list[order_pb2.OrderCommand]],
) -> None:  # fmt: skip
    """Alice buys 0.5 BTC from Bob at 45,000: locks, `orders`, the matcher, the feed, then every settlement event."""
    stack.matcher.start()
    stack.ubscore.start()
    gateway = gateway_factory()
    # Transfers are keyed by user: each user's deposit is on its own partition, applied on its own, so each is
    # awaited (one applied says nothing of the other).
    deposits = {gateway.transfer(ALICE, USDT, 100_000_000_000, deposit=True),
                gateway.transfer(BOB, BTC, 100_000_000, deposit=True)}
    eventually(lambda: deposits <= {e.request_id for e in events_reader()}, timeout_ms=30_000)
    sell = gateway.place(**limit(BOB, "bob-1", common_pb2.SIDE_SELL, PRICE_45K, HALF_BTC))
    assert sell.order_accepted.locked_units == HALF_BTC, sell
    buy = gateway.place(**limit(ALICE, "alice-1", common_pb2.SIDE_BUY, PRICE_45K, HALF_BTC))
    assert buy.order_accepted.locked_units == 22_500_000_000, buy
    assert buy.order_accepted.order_id > sell.order_accepted.order_id
    again = gateway.place(**limit(ALICE, "alice-1", common_pb2.SIDE_BUY, PRICE_45K, HALF_BTC))
    assert again.order_accepted.duplicate
    assert again.order_accepted.order_id == buy.order_accepted.order_id
    fee = wait_for(events_reader, lambda e: e.user_id == FEE_ACCOUNT and e.asset_id == USDT)
    assert fee.available_units == 22_500_000
    events: list[balance_pb2.BalanceEvent] = []

    def last(user: int, asset: int) -> tuple[int, int] | None:
        changes = [e for e in events if (e.user_id, e.asset_id) == (user, asset) and e.version]
        return (changes[-1].available_units, changes[-1].frozen_units) if changes else None

    settled = {(ALICE, USDT): (77_500_000_000, 0), (ALICE, BTC): (49_900_000, 0), (BOB, BTC): (50_000_000, 0),
               (BOB, USDT): (22_477_500_000, 0), (FEE_ACCOUNT, BTC): (100_000, 0)}

    def all_read() -> bool:
        # Events are keyed by user, so each user's are on their own partition, read on its own: the fee event
        # having arrived says nothing of the other users' last events.
        events[:] = events_reader()
        return all(last(user, asset) == balance for (user, asset), balance in settled.items())

    eventually(all_read, timeout_ms=30_000)
    assert {(user, asset): last(user, asset) for user, asset in settled} == settled
    commands = orders_reader()
    assert [c.command_seq for c in commands] == [1, 2]
    assert [c.place.order_id for c in commands] == [sell.order_accepted.order_id, buy.order_accepted.order_id]
    dumped = {(a["user_id"], a["asset_id"]): (a["available_units"], a["frozen_units"])
              for a in stack.ubscore.dump()["accounts"]}  # fmt: skip
    assert dumped[(ALICE, USDT)] == (77_500_000_000, 0)
    assert dumped[(BOB, USDT)] == (22_477_500_000, 0)


def test_cancel_releases_the_lock_and_refusals_are_answered(
    stack: Stack, gateway_factory: Callable[[], Gateway], events_reader: Events
) -> None:
    """A resting buy canceled by client order id: FUNDS_UNLOCKED(CANCELED); bad requests get their 2xxx reason."""
    stack.matcher.start()
    stack.ubscore.start()
    gateway = gateway_factory()
    deposit = gateway.transfer(ALICE, USDT, 100_000_000_000, deposit=True)
    wait_for(events_reader, lambda e: e.request_id == deposit)
    placed = gateway.place(**limit(ALICE, "rest-1", common_pb2.SIDE_BUY, PRICE_45K, HALF_BTC))
    order_id = placed.order_accepted.order_id
    canceled = gateway.cancel(user_id=ALICE, client_order_id="rest-1")
    assert canceled.cancel_accepted.order_id == order_id
    released = wait_for(events_reader, lambda e: e.type == T.BALANCE_EVENT_TYPE_FUNDS_UNLOCKED)
    assert (released.order_id, released.unlock_cause, released.available_units, released.frozen_units) == (
        order_id, T.FUNDS_UNLOCK_CAUSE_CANCELED, 100_000_000_000, 0,
    )  # fmt: skip
    not_open = gateway.cancel(user_id=ALICE, order_id=order_id)
    assert not_open.rejected.reason == common_pb2.REJECT_REASON_ORDER_NOT_OPEN
    off_tick = gateway.place(**limit(ALICE, "bad-1", common_pb2.SIDE_BUY, PRICE_45K + 1, HALF_BTC))
    assert off_tick.rejected.reason == common_pb2.REJECT_REASON_UBSCORE_PRICE_OFF_TICK
    rejected = wait_for(events_reader, lambda e: e.type == T.BALANCE_EVENT_TYPE_ORDER_REJECTED)
    assert (rejected.client_order_id, rejected.order.price_units) == ("bad-1", PRICE_45K + 1)


def test_malformed_inputs_on_every_channel_are_counted_and_the_service_goes_on(
    stack: Stack, gateway_factory: Callable[[], Gateway], events_reader: Events
) -> None:
    """Garbage on Kafka and on Aeron, and a request past its deadline: refused or set aside, then normal service."""
    stack.ubscore.start()
    gateway = gateway_factory()
    gateway.producer.produce(stack.topics.operations, key=b"x", value=b"\xff\xfe garbage")
    reply = gateway.requester.request(b"\xff\xff\xff\xff", timeout_ms=10_000)
    malformed = ubscore_pb2.UbscoreResponse.FromString(reply)
    assert malformed.rejected.reason == common_pb2.REJECT_REASON_UBSCORE_INVALID_ORDER
    late = gateway.request(ubscore_pb2.UbscoreRequest(
        place_order=ubscore_pb2.OrderRequest(**limit(ALICE, "late", common_pb2.SIDE_BUY, PRICE_45K, HALF_BTC)),
        deadline_ns=1,
    ))  # fmt: skip
    assert late.rejected.reason == common_pb2.REJECT_REASON_UBSCORE_DEADLINE_EXCEEDED
    deposit = gateway.transfer(ALICE, USDT, 5, deposit=True)
    assert wait_for(events_reader, lambda e: e.request_id == deposit).type == T.BALANCE_EVENT_TYPE_DEPOSITED
    eventually(lambda: stack.ubscore.metric("ubscore_inputs_malformed_total", 'channel="kafka"') == 1)
    assert stack.ubscore.metric("ubscore_inputs_malformed_total", 'channel="aeron"') == 1
    assert stack.ubscore.metric("ubscore_refusals_total", "UBSCORE_DEADLINE_EXCEEDED") == 1
    # Framing nobody can read, and a request naming a response channel the driver refuses: counted, skipped.
    raw = gateway.client.add_exclusive_publication("aeron:ipc", stack.request_stream_id)
    raw.wait_connected(timeout_ms=10_000)
    assert raw.offer(b"\x01\x02") > 0
    assert raw.offer(encode_request(7, "aeron:bogus?x=y", 5, b"")) > 0
    eventually(lambda: stack.ubscore.metric("ubscore_inputs_malformed_total", "BAD_FRAMING") == 1)
    eventually(lambda: stack.ubscore.metric("ubscore_inputs_malformed_total", "BAD_RESPONSE_CHANNEL") == 1)
    raw.close()
    assert gateway.cancel(user_id=ALICE, order_id=12345).rejected.reason == common_pb2.REJECT_REASON_ORDER_NOT_OPEN
    assert "MALFORMED INPUT" in stack.ubscore.log_text()
    assert stack.ubscore.signal(signal.SIGTERM) == 0
    # After a restart the set-aside record is not read again (its offset is in the state), nor the deposit.
    stack.ubscore.start()
    second = gateway.transfer(ALICE, USDT, 7, deposit=True)
    event = wait_for(events_reader, lambda e: e.request_id == second)
    assert (event.available_units, event.version) == (12, 2)
    assert stack.ubscore.metric("ubscore_inputs_malformed_total", 'channel="kafka"') == 0
    assert len([e for e in events_reader() if e.request_id == deposit]) == 1


def test_orders_get_busy_while_the_matcher_lags_and_are_taken_again_once_it_catches_up(
    stack: Stack, gateway_factory: Callable[[], Gateway], events_reader: Events
) -> None:
    """With at most 2 commands awaiting the matcher (which is down), the next order is refused UBSCORE_BUSY and
    changes nothing; a cancel is still taken; once the matcher runs and answers, orders are accepted again."""
    stack.ubscore.env["UBSCORE_IN_FLIGHT_MAX"] = "2"
    stack.ubscore.start()
    gateway = gateway_factory()
    deposit = gateway.transfer(ALICE, USDT, 100_000_000_000, deposit=True)
    wait_for(events_reader, lambda e: e.request_id == deposit)
    for index in range(3):  # 0, 1, 2 in flight before each: all accepted
        assert gateway.place(**limit(ALICE, f"q{index}", common_pb2.SIDE_BUY, PRICE_45K, 10_000)).HasField(
            "order_accepted"
        )
    busy = gateway.place(**limit(ALICE, "q3", common_pb2.SIDE_BUY, PRICE_45K, 10_000))
    assert busy.rejected.reason == common_pb2.REJECT_REASON_UBSCORE_BUSY, busy
    assert "await the matcher" in busy.rejected.message
    assert gateway.cancel(user_id=ALICE, client_order_id="q0").HasField("cancel_accepted")
    assert not [e for e in events_reader() if e.client_order_id == "q3"]  # a busy refusal is not an outcome
    eventually(lambda: stack.ubscore.metric("ubscore_commands_in_flight") == 4)
    stack.matcher.start()
    eventually(lambda: stack.ubscore.metric("ubscore_commands_in_flight") == 0)
    # Set just after commands_in_flight in the same gauge refresh: a scrape can fall between the two.
    eventually(lambda: stack.ubscore.metric("ubscore_feed_lag_outputs") == 0)
    retry = gateway.place(**limit(ALICE, "q3", common_pb2.SIDE_BUY, PRICE_45K, 10_000))
    assert retry.HasField("order_accepted"), retry
    assert stack.ubscore.metric("ubscore_refusals_total", 'reason="UBSCORE_BUSY"') == 1


def test_trades_of_two_matcher_shards_settle_through_both_feeds(
    stack: Stack, gateway_factory: Callable[[], Gateway], events_reader: Events, tmp_path: Path
) -> None:
    """Shard 1 owns partitions 0-1 (BTC_USDT), shard 2 owns 2-3 (ETH_USDT): UBSCore follows both feeds and settles
    a trade on each market, each feed position kept on its own."""
    shards = []
    for shard_id, partitions in ((1, "0,1"), (2, "2,3")):
        env = dict(stack.matcher.env, MATCHER_SHARD_ID=str(shard_id), MATCHER_PARTITIONS=partitions,
                   MATCHER_PUB_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
                   MATCHER_REPLAY_ENDPOINT=f"tcp://127.0.0.1:{free_port()}", MATCHER_METRICS_PORT=str(free_port()),
                   MATCHER_STATE_DIR=str(tmp_path / f"matcher-{shard_id}"))  # fmt: skip
        shards.append(ServiceProcess("matcher", env, tmp_path / f"matcher-{shard_id}.log"))
    stack.ubscore.env["UBSCORE_FEEDS"] = ",".join(
        f"{s.env['MATCHER_SHARD_ID']}={s.env['MATCHER_PUB_ENDPOINT']}|{s.env['MATCHER_REPLAY_ENDPOINT']}"
        for s in shards
    )
    try:
        for shard in shards:
            shard.start()
        stack.ubscore.start()
        gateway = gateway_factory()
        deposits = {gateway.transfer(ALICE, USDT, 100_000_000_000, deposit=True),
                    gateway.transfer(BOB, BTC, 100_000_000, deposit=True),
                    gateway.transfer(BOB, ETH, 1_000_000_000, deposit=True)}
        eventually(lambda: deposits <= {e.request_id for e in events_reader()}, timeout_ms=30_000)  # per user
        for symbol, price, qty in (("BTC_USDT", PRICE_45K, 10_000_000), ("ETH_USDT", 3_000_000_000, 100_000_000)):
            sell = dict(limit(BOB, f"s-{symbol}", common_pb2.SIDE_SELL, price, qty), symbol=symbol)
            buy = dict(limit(ALICE, f"b-{symbol}", common_pb2.SIDE_BUY, price, qty), symbol=symbol)
            assert gateway.place(**sell).HasField("order_accepted")
            assert gateway.place(**buy).HasField("order_accepted")
        for symbol in ("BTC_USDT", "ETH_USDT"):
            wait_for(events_reader, lambda e, s=symbol: e.type == T.BALANCE_EVENT_TYPE_FEE_COLLECTED and e.symbol == s)
        eventually(lambda: stack.ubscore.metric("ubscore_commands_in_flight") == 0)
        assert stack.ubscore.metric("ubscore_feed_outputs_total", 'shard="1"') == 2
        assert stack.ubscore.metric("ubscore_feed_outputs_total", 'shard="2"') == 2
    finally:
        for shard in shards:
            if shard.running():
                shard.signal(signal.SIGKILL)
