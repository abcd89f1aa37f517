"""Back-pressure triggers of UBSCore as a real process: Kafka that does not acknowledge, and a slow WAL disk.

(The third trigger, a matcher feed that lags, is test_ubscore_service.py::test_orders_get_busy_while_the_matcher_
lags_and_are_taken_again_once_it_catches_up.) Each test drives the real service into the condition, checks that
orders get UBSCORE_BUSY naming the cause while cancels are still taken, then removes the condition and waits on the
service's own signals (its metrics, its replies) until orders are taken again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from exchange.v1 import balance_pb2, common_pb2

from ..settlement.conftest import ProxyProcess
from .conftest import Gateway, Stack, eventually, free_port

pytestmark = pytest.mark.integration

ALICE = 1001
USDT = 2
PRICE_45K = 45_000_000_000
Events = Callable[[], list[balance_pb2.BalanceEvent]]


def limit_buy(coid: str) -> dict[str, object]:
    return {"user_id": ALICE, "client_order_id": coid, "symbol": "BTC_USDT", "side": common_pb2.SIDE_BUY,
            "order_type": common_pb2.ORDER_TYPE_LIMIT, "time_in_force": common_pb2.TIME_IN_FORCE_GTC,
            "price_units": PRICE_45K, "qty_units": 10_000}  # fmt: skip


def test_orders_get_busy_while_kafka_does_not_acknowledge_and_are_taken_again_once_it_does(
    stack: Stack, gateway_factory: Callable[[], Gateway], events_reader: Events, kafka_bootstrap: str
) -> None:
    """UBSCore's Kafka address leads nowhere at first: the ORDER_REJECTED events of three unfunded orders stay
    unacknowledged, over the bound of 2, so the fourth order is refused UBSCORE_BUSY (a cancel is still answered).
    Then the address starts forwarding to the real broker: the events are delivered, the lag gauge drops to 0,
    and the next order is decided on its merits again (INSUFFICIENT_FUNDS, not BUSY)."""
    port = free_port()  # nothing listens here until the forwarder starts
    stack.ubscore.env.update(UBSCORE_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}", UBSCORE_KAFKA_UNCONFIRMED_MAX="2",
                             UBSCORE_FEEDS="")  # fmt: skip
    stack.ubscore.start()
    gateway = gateway_factory()
    for index in range(3):  # 0, 1, 2 unacknowledged before each: decided (refused: Alice has no funds)
        reply = gateway.place(**limit_buy(f"k{index}"))
        assert reply.rejected.reason == common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, reply
    busy = gateway.place(**limit_buy("k3"))
    assert busy.rejected.reason == common_pb2.REJECT_REASON_UBSCORE_BUSY, busy
    assert "await Kafka acknowledgement" in busy.rejected.message
    not_open = gateway.cancel(user_id=ALICE, client_order_id="k0")  # cancels are still decided
    assert not_open.rejected.reason == common_pb2.REJECT_REASON_ORDER_NOT_OPEN
    eventually(lambda: stack.ubscore.metric("ubscore_kafka_unconfirmed_records", "balance.events") == 3)
    forwarder = ProxyProcess(port, kafka_bootstrap)  # the broker UBSCore was given "comes back"
    forwarder.start()
    try:
        eventually(lambda: stack.ubscore.metric("ubscore_kafka_unconfirmed_records") == 0)
        after = gateway.place(**limit_buy("k3"))  # the busy refusal was not remembered: the same key is decided
        assert after.rejected.reason == common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, after
        eventually(lambda: {e.client_order_id for e in events_reader()} == {"k0", "k1", "k2", "k3"})
        assert stack.ubscore.metric("ubscore_refusals_total", 'reason="UBSCORE_BUSY"') == 1
        assert stack.ubscore.running()
    finally:
        forwarder.kill()


def test_orders_get_busy_after_a_slow_wal_commit_and_are_taken_again_after_it(
    stack: Stack, gateway_factory: Callable[[], Gateway], events_reader: Events, tmp_path: Path
) -> None:
    """UBSCore on a disk whose fsync is slowed by 300 ms (fault injected under the WAL, slow_disk_ubscore.py),
    with a bound of 100 ms: the order in the slow group commit is accepted (it is durable), the next is refused
    UBSCORE_BUSY naming the slow commit, a cancel is still taken; with the disk fast again, orders are taken again
    (the busy spell lasts one second after the slow commit)."""
    flag = tmp_path / "slow-disk"
    here = Path(__file__).resolve().parent
    stack.ubscore.module = "slow_disk_ubscore"
    stack.ubscore.env.update(PYTHONPATH=f"{stack.ubscore.env['PYTHONPATH']}:{here}", SLOW_DISK_FLAG=str(flag),
                             SLOW_DISK_FSYNC_MS="300", UBSCORE_WAL_FSYNC_MS_MAX="100", UBSCORE_FEEDS="")  # fmt: skip
    stack.ubscore.start()
    gateway = gateway_factory()
    deposit = gateway.transfer(ALICE, USDT, 100_000_000_000, deposit=True)
    eventually(lambda: any(e.request_id == deposit for e in events_reader()))
    flag.touch()
    slow = gateway.place(**limit_buy("w0"))
    flag.unlink()
    assert slow.HasField("order_accepted"), slow
    busy = gateway.place(**limit_buy("w1"))
    assert busy.rejected.reason == common_pb2.REJECT_REASON_UBSCORE_BUSY, busy
    assert "a WAL commit took" in busy.rejected.message
    assert gateway.cancel(user_id=ALICE, client_order_id="w0").HasField("cancel_accepted")
    assert stack.ubscore.metric("ubscore_wal_append_seconds_sum") >= 0.3
    replies = []

    def accepted() -> bool:
        replies.append(gateway.place(**limit_buy("w1")))  # a busy refusal is not remembered: the same key again
        return replies[-1].HasField("order_accepted")

    eventually(accepted)
    assert all(r.rejected.reason == common_pb2.REJECT_REASON_UBSCORE_BUSY for r in replies[:-1]), replies
    locked_only = [balance_pb2.BALANCE_EVENT_TYPE_FUNDS_LOCKED]  # the busy refusals left no event
    eventually(lambda: [e.type for e in events_reader() if e.client_order_id == "w1"] == locked_only)
