"""RecentOrders: the latest state of each order accepted through the gateway or seen on the matcher feed (real
engine outputs), by order id or the owner's client order id; the further-along of two states; bounded."""

from __future__ import annotations

from common.markets import load_catalog
from exchange.v1 import common_pb2, trading_service_pb2
from gateway.recent_orders import RecentOrders, progress
from gateway.user_streams import UserStreams
from gateway.validation import ValidOrder, validate_place_order
from tests.unit.settlement.conftest import TS_BASE_NS, OutputMaker

CATALOG = load_catalog()
PRICE = 45_000_000_000
LOT = 10_000
TICK = 10_000
ALICE, BOB = 1001, 1002


def _bob_sells_alice_takes_a_lot(recent: RecentOrders, maker: OutputMaker) -> None:
    """Bob's order 1 rests (3 lots, post-only, at TS_BASE_NS); Alice's order 2 takes one lot of it 5 ns later."""
    recent.observe(maker.place(order_id=1, user_id=BOB, side=common_pb2.SIDE_SELL, price_units=PRICE,
                               qty_units=3 * LOT, post_only=True))  # fmt: skip
    recent.observe(maker.place(order_id=2, user_id=ALICE, side=common_pb2.SIDE_BUY, price_units=PRICE,
                               qty_units=LOT, ts_ns=TS_BASE_NS + 5))  # fmt: skip


def test_an_order_is_found_by_id_and_client_id_at_its_latest_state() -> None:
    recent, maker = RecentOrders(CATALOG), OutputMaker()
    _bob_sells_alice_takes_a_lot(recent, maker)

    found = recent.find(user_id=BOB, order_id=1)
    assert found is not None
    owner, order = found
    assert owner == BOB
    assert (order.status, order.filled_quantity, order.remaining_quantity) == (
        common_pb2.ORDER_STATUS_PARTIALLY_FILLED, "0.00010000", "0.00020000")
    assert (order.created_ns, order.updated_ns, order.post_only) == (TS_BASE_NS, TS_BASE_NS + 5, True)
    assert recent.find(user_id=ALICE, client_order_id="c2") == recent.find(user_id=ALICE, order_id=2)
    assert recent.find(user_id=BOB, client_order_id="c2") is None  # a client order id is per user
    assert recent.find(user_id=ALICE, order_id=9) is None


def test_final_beats_open_then_later_then_more_filled() -> None:
    def order(status: int, updated_ns: int, filled: str) -> trading_service_pb2.Order:
        return trading_service_pb2.Order(status=status, updated_ns=updated_ns, filled_quantity=filled)

    resting = order(common_pb2.ORDER_STATUS_NEW, 10, "0.00000000")
    assert progress(order(common_pb2.ORDER_STATUS_CANCELED, 5, "0")) > progress(resting)
    assert progress(order(common_pb2.ORDER_STATUS_PARTIALLY_FILLED, 11, "0.1")) > progress(resting)
    assert progress(order(common_pb2.ORDER_STATUS_PARTIALLY_FILLED, 10, "0.1")) > progress(resting)
    assert progress(resting) <= progress(order(common_pb2.ORDER_STATUS_NEW, 10, "0"))


def test_only_the_most_recently_updated_orders_are_kept() -> None:
    recent, maker = RecentOrders(CATALOG, capacity_max=2), OutputMaker()
    for order_id in (1, 2):
        recent.observe(maker.place(order_id=order_id, user_id=BOB, side=common_pb2.SIDE_SELL,
                                   price_units=PRICE + order_id * TICK, qty_units=LOT))  # fmt: skip
    recent.observe(maker.cancel(order_id=1, user_id=BOB, ts_ns=TS_BASE_NS + 1))  # order 1 is the newest again
    recent.observe(maker.place(order_id=3, user_id=ALICE, side=common_pb2.SIDE_BUY, price_units=PRICE - TICK,
                               qty_units=LOT))  # evicts order 2  # fmt: skip

    assert len(recent) == 2
    assert recent.find(user_id=BOB, order_id=2) is None
    assert recent.find(user_id=BOB, client_order_id="c2") is None
    canceled = recent.find(user_id=BOB, order_id=1)
    assert canceled is not None
    assert canceled[1].status == common_pb2.ORDER_STATUS_CANCELED


def _valid(client_order_id: str, *, side: int = common_pb2.SIDE_BUY) -> ValidOrder:
    return validate_place_order(trading_service_pb2.PlaceOrderRequest(
        symbol="BTC_USDT", side=side, order_type=common_pb2.ORDER_TYPE_LIMIT, price="45000", quantity="0.0003",
        client_order_id=client_order_id, post_only=True,
    ), CATALOG)  # fmt: skip


def test_an_accepted_order_is_new_until_the_feed_brings_its_state() -> None:
    recent, maker = RecentOrders(CATALOG), OutputMaker()
    recent.accepted(BOB, 1, _valid("c1", side=common_pb2.SIDE_SELL), placed_ns=TS_BASE_NS)

    found = recent.find(user_id=BOB, client_order_id="c1")
    assert found is not None
    assert found == recent.find(user_id=ALICE, order_id=1)
    owner, order = found
    assert owner == BOB
    assert (order.order_id, order.symbol, order.side, order.status, order.price, order.quantity) == (
        1, "BTC_USDT", common_pb2.SIDE_SELL, common_pb2.ORDER_STATUS_NEW, "45000.000000", "0.00030000")
    assert (order.filled_quantity, order.remaining_quantity, order.post_only) == ("0.00000000", "0.00030000", True)
    assert order.created_ns == order.updated_ns == TS_BASE_NS

    _bob_sells_alice_takes_a_lot(recent, maker)
    later = recent.find(user_id=BOB, order_id=1)
    assert later is not None
    assert (later[1].status, later[1].filled_quantity, later[1].updated_ns) == (
        common_pb2.ORDER_STATUS_PARTIALLY_FILLED, "0.00010000", TS_BASE_NS + 5)


def test_an_acceptance_after_the_feed_does_not_move_the_order_back() -> None:
    recent, maker = RecentOrders(CATALOG), OutputMaker()
    recent.observe(maker.place(order_id=1, user_id=BOB, side=common_pb2.SIDE_SELL, price_units=PRICE,
                               qty_units=3 * LOT))  # fmt: skip
    recent.observe(maker.cancel(order_id=1, user_id=BOB, ts_ns=TS_BASE_NS + 1))
    recent.accepted(BOB, 1, _valid("c1", side=common_pb2.SIDE_SELL), placed_ns=TS_BASE_NS)

    found = recent.find(user_id=BOB, order_id=1)
    assert found is not None
    assert found[1].status == common_pb2.ORDER_STATUS_CANCELED


def test_accepted_orders_count_against_the_bound() -> None:
    recent = RecentOrders(CATALOG, capacity_max=2)
    for order_id in (1, 2, 3):
        recent.accepted(ALICE, order_id, _valid(f"c{order_id}"), placed_ns=TS_BASE_NS + order_id)

    assert len(recent) == 2
    assert recent.find(user_id=ALICE, client_order_id="c1") is None
    assert recent.find(user_id=ALICE, client_order_id="c3") is not None


def test_a_refusal_ubscore_records_is_found_by_client_order_id_as_rejected() -> None:
    recent = RecentOrders(CATALOG)
    recent.refused(ALICE, _valid("poor"), common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, placed_ns=TS_BASE_NS)
    recent.refused(ALICE, _valid("busy"), common_pb2.REJECT_REASON_UBSCORE_BUSY, placed_ns=TS_BASE_NS)
    recent.refused(ALICE, _valid("dup"), common_pb2.REJECT_REASON_DUPLICATE_REQUEST, placed_ns=TS_BASE_NS)

    found = recent.find(user_id=ALICE, client_order_id="poor")
    assert found is not None
    owner, order = found
    assert owner == ALICE
    assert (order.order_id, order.status, order.reason, order.quantity, order.created_ns) == (
        0, common_pb2.ORDER_STATUS_REJECTED, common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, "0.00030000", TS_BASE_NS)
    assert recent.find(user_id=BOB, client_order_id="poor") is None
    assert recent.find(user_id=ALICE, order_id=0) is None
    # Busy and duplicate refusals leave no order behind in UBSCore (nor in the database): not recorded.
    assert recent.find(user_id=ALICE, client_order_id="busy") is None
    assert recent.find(user_id=ALICE, client_order_id="dup") is None


def test_a_makers_update_on_its_private_stream_shows_the_placement_facts() -> None:
    """The matcher's update of a resting order lacks post-only, STP mode and budget; the private stream takes them
    from the placement RecentOrders saw, so Bob's maker update says post-only as his placement did."""
    recent, maker = RecentOrders(CATALOG), OutputMaker()
    streams = UserStreams(CATALOG, queue_max=10, subscribers_max=2, placement=recent.placement)
    bob = streams.subscribe(BOB, [])
    for output in (maker.place(order_id=1, user_id=BOB, side=common_pb2.SIDE_SELL, price_units=PRICE,
                               qty_units=3 * LOT, post_only=True),
                   maker.place(order_id=2, user_id=ALICE, side=common_pb2.SIDE_BUY, price_units=PRICE,
                               qty_units=LOT, ts_ns=TS_BASE_NS + 5)):  # fmt: skip
        recent.observe(output)  # the gateway's order: RecentOrders before UserStreams
        streams.observe(output)
    updates = [m.order_update for m in bob.messages.queue if m.HasField("order_update")]
    assert [(u.status, u.post_only) for u in updates] == [
        (common_pb2.ORDER_STATUS_NEW, True), (common_pb2.ORDER_STATUS_PARTIALLY_FILLED, True)]
    assert recent.placement(1) == (True, common_pb2.SELF_TRADE_MODE_EXPIRE_TAKER, 0)
    assert recent.placement(9) is None
