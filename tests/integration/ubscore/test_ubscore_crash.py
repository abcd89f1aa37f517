"""SIGKILL of UBSCore under a steady load of orders, cancels and transfers, then restart.

After the dust settles: every WAL record replayed from scratch through a fresh core gives the balances UBSCore
holds; the events on `balance.events`, deduplicated by event_id, are dense and each repeat is
byte-identical to the first copy; summing their deltas from scratch gives exactly the balances UBSCore holds (its
dump); commands on `orders` deduplicated by command_seq are dense, and no order id was handed out twice; every
client order id got one order id, whether it was answered before the crash or on a retry after it.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from common.aeron.errors import RequestTimeout, Undeliverable
from common.markets import load_catalog
from common.wal import read_directory
from exchange.v1 import balance_pb2, common_pb2, order_pb2, ubscore_pb2
from ubscore.core import UbsCore
from ubscore.state import Positions, apply_record

from .conftest import Gateway, Stack, eventually

pytestmark = pytest.mark.integration

USERS = range(1001, 1011)
BTC, USDT = 1, 2
PIPELINE = 40  # requests in flight when the kill lands
ROUNDS = 30


def order_request(rng: random.Random, index: int) -> ubscore_pb2.UbscoreRequest:
    side = rng.choice([common_pb2.SIDE_BUY, common_pb2.SIDE_SELL])
    order = ubscore_pb2.OrderRequest(
        user_id=rng.choice(USERS), client_order_id=f"o{index}", symbol="BTC_USDT", side=side,
        order_type=common_pb2.ORDER_TYPE_LIMIT, time_in_force=rng.choice([1, 1, 1, 2]),
        price_units=45_000_000_000 + 10_000 * 100 * rng.randint(-5, 5), qty_units=10_000 * rng.randint(1, 50),
        ts_event_ns=index,
    )  # fmt: skip
    return ubscore_pb2.UbscoreRequest(place_order=order)


def send_all(gateway: Gateway, requests: dict[str, ubscore_pb2.UbscoreRequest],
             answers: dict[str, ubscore_pb2.UbscoreResponse]) -> None:  # fmt: skip
    """Send every request not answered yet, pipelined, and collect replies; retry what the crash swallowed."""

    def attempt() -> bool:
        pending = {}
        for coid, request in requests.items():
            if coid not in answers:
                try:
                    pending[coid] = gateway.requester.send(request.SerializeToString(), timeout_ms=3_000)
                except Undeliverable:
                    return False
        while pending:
            gateway.requester.poll()
            for coid, correlation_id in list(pending.items()):
                try:
                    reply = gateway.requester.take(correlation_id)
                except RequestTimeout:
                    del pending[coid]
                    continue
                if reply is not None:
                    answers[coid] = ubscore_pb2.UbscoreResponse.FromString(reply)
                    del pending[coid]
        return all(coid in answers for coid in requests)

    eventually(attempt, timeout_ms=120_000, poll_ms=100)


def test_sigkill_under_load_then_restart_loses_nothing_and_doubles_nothing(
    stack: Stack, gateway_factory: Callable[[], Gateway],
    events_reader: Callable[[], list[balance_pb2.BalanceEvent]],
    orders_reader: Callable[[], list[order_pb2.OrderCommand]],
) -> None:  # fmt: skip
    rng = random.Random(8)
    stack.matcher.start()
    stack.ubscore.start()
    gateway = gateway_factory()
    for user in USERS:
        gateway.transfer(user, USDT, 10_000_000_000_000, deposit=True)
        gateway.transfer(user, BTC, 10_000_000_000, deposit=True)
    answers: dict[str, ubscore_pb2.UbscoreResponse] = {}
    index = 0
    for round_index in range(ROUNDS):
        requests = {}
        for _ in range(PIPELINE):
            index += 1
            requests[f"o{index}"] = order_request(rng, index)
        if round_index == ROUNDS // 2:  # the kill lands with a pipeline of orders and transfers in flight
            for request in requests.values():
                gateway.requester.send(request.SerializeToString(), timeout_ms=3_000)
            gateway.transfer(rng.choice(USERS), USDT, rng.randint(1, 10**9), deposit=rng.random() < 0.5)
            assert stack.ubscore.signal(signal.SIGKILL) == -signal.SIGKILL
            stack.ubscore.start()
        send_all(gateway, requests, answers)
        gateway.transfer(rng.choice(USERS), USDT, rng.randint(1, 10**9), deposit=rng.random() < 0.5)
        accepted = [a.order_accepted.order_id for a in answers.values() if a.HasField("order_accepted")]
        if accepted and round_index % 3 == 0:
            owner = {a.order_accepted.order_id: r.place_order.user_id for coid, a in answers.items()
                     for r in [requests.get(coid)] if r is not None and a.HasField("order_accepted")}  # fmt: skip
            for order_id in list(owner)[:5]:
                gateway.cancel(user_id=owner[order_id], order_id=order_id)
    eventually(lambda: stack.ubscore.metric("ubscore_commands_in_flight") == 0, timeout_ms=60_000)
    assert stack.ubscore.signal(signal.SIGTERM) == 0
    dumped = stack.ubscore.dump()

    # Events: dense after dedupe, repeats identical, and summed from scratch they give the dumped balances.
    last_event_id = dumped["summary"]["last_event_id"]
    eventually(lambda: len({e.event_id for e in events_reader()}) == last_event_id, timeout_ms=60_000)
    first_copy: dict[int, bytes] = {}
    for event in events_reader():
        data = event.SerializeToString(deterministic=True)
        assert first_copy.setdefault(event.event_id, data) == data, f"event {event.event_id} differs on re-send"
    assert sorted(first_copy) == list(range(1, last_event_id + 1))
    replayed: dict[tuple[int, int], list[int]] = {}
    for event_id in sorted(first_copy):
        event = balance_pb2.BalanceEvent.FromString(first_copy[event_id])
        balance = replayed.setdefault((event.user_id, event.asset_id), [0, 0])
        balance[0] += event.delta_available_units
        balance[1] += event.delta_frozen_units
    held = {(a["user_id"], a["asset_id"]): [a["available_units"], a["frozen_units"]] for a in dumped["accounts"]}
    assert {k: v for k, v in replayed.items() if v != [0, 0]} == {k: v for k, v in held.items() if v != [0, 0]}

    # Inputs replayed from scratch (every WAL record from lsn 1 through a fresh core, no snapshot) give the same.
    catalog = load_catalog()
    fresh = UbsCore(catalog.markets.values(), [a.asset_id for a in catalog.assets.values()],
                    fee_account_user_id=catalog.fee_account_user_id)  # fmt: skip
    records = list(read_directory(Path(stack.ubscore.env["UBSCORE_STATE_DIR"]) / "wal", 1))
    assert records[0].lsn == 1  # the whole history is still on disk (segments are far from full)
    positions = Positions()
    for record in records:
        apply_record(fresh, positions, record.payload)
    assert [list(row) for row in fresh.ledger.rows()] == [
        [a["user_id"], a["asset_id"], a["available_units"], a["frozen_units"], a["version"]] for a in dumped["accounts"]
    ]
    assert fresh.counters.last_order_id == dumped["summary"]["last_order_id"]

    # Commands: dense after dedupe, repeats identical, no order id handed out twice.
    last_command_seq = dumped["summary"]["last_command_seq"]
    eventually(lambda: len({c.command_seq for c in orders_reader()}) == last_command_seq, timeout_ms=60_000)
    commands: dict[int, bytes] = {}
    for command in orders_reader():
        data = command.SerializeToString(deterministic=True)
        assert commands.setdefault(command.command_seq, data) == data
    assert sorted(commands) == list(range(1, last_command_seq + 1))
    places = [order_pb2.OrderCommand.FromString(commands[seq]).place for seq in sorted(commands)]
    order_ids = [p.order_id for p in places if p.order_id]
    assert order_ids == sorted(set(order_ids)), "an order id was reused or went backwards"

    # Every client order id has one order id, the one in its accepted reply (before or after the crash).
    by_coid = {p.client_order_id: p.order_id for p in places if p.order_id}
    for coid, answer in answers.items():
        if answer.HasField("order_accepted"):
            assert by_coid[coid] == answer.order_accepted.order_id, coid
    assert len(by_coid) == len(set(by_coid.values()))
    assert stack.ubscore.log_text().count(" ready: ") == 2
