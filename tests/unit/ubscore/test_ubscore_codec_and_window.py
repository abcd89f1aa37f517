"""The protobuf edge (decode refuses what the core cannot represent, encode keeps every field) and the bounded
idempotency window (evicts by input time and by count, deterministically)."""

from __future__ import annotations

import pytest

from common.enums import BalanceEventType, BalanceOperation
from common.markets import load_catalog
from exchange.v1 import balance_pb2, order_pb2, ubscore_pb2
from ubscore import codec
from ubscore.commands import CancelRequest, PlaceRequest, TransferRequest
from ubscore.core import UbsCore
from ubscore.errors import InputRejected
from ubscore.events import BalanceEvent, CancelAccepted, CancelCommand, Effects, OrderAccepted, PlaceCommand, Refused
from ubscore.sequencer import IdempotencyWindow, Remembered

PLACE = PlaceRequest(1001, "c1", "BTC_USDT", 1, 1, 1, False, 45_000_000_000, 10_000, 0, 0, 5)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xff\xff", "UNDECODABLE"),
        (b"x" * 70_000, "TOO_LARGE"),
        (ubscore_pb2.UbscoreRequest(deadline_ns=5).SerializeToString(), "NO_BODY"),
    ],
)
def test_malformed_aeron_request_is_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(InputRejected) as caught:
        codec.decode_request(payload)
    assert caught.value.reason == reason


def test_transfer_without_a_known_operation_is_rejected() -> None:
    payload = balance_pb2.BalanceRequest(request_id="r", user_id=1001, asset_id=1, amount_units=5).SerializeToString()
    with pytest.raises(InputRejected) as caught:
        codec.decode_transfer(payload)
    assert caught.value.reason == "BAD_OPERATION"


def test_place_and_cancel_requests_decode_field_for_field() -> None:
    message = ubscore_pb2.UbscoreRequest(place_order=codec.place_to_proto(PLACE), deadline_ns=99)
    assert codec.decode_request(message.SerializeToString()) == (99, PLACE)
    cancel = ubscore_pb2.UbscoreRequest(
        cancel_order=ubscore_pb2.CancelRequest(user_id=7, order_id=3, client_order_id="c", symbol="S", ts_event_ns=4)
    )
    assert codec.decode_request(cancel.SerializeToString()) == (0, CancelRequest(7, 3, "c", "S", 4))


def test_commands_encode_every_field_the_matcher_reads() -> None:
    place = PlaceCommand(9, 4, 1001, "c1", "BTC_USDT", 1, 1, 1, True, 45_000_000_000, 10_000, 0, 2, 4_500_000, 77)
    message = order_pb2.OrderCommand.FromString(codec.encode_command(place))
    assert (message.command_seq, message.place.order_id, message.place.locked_units, message.place.post_only) == (
        9, 4, 4_500_000, True,
    )  # fmt: skip
    assert message.place.self_trade_mode == 2
    cancel = order_pb2.OrderCommand.FromString(codec.encode_command(CancelCommand(10, 4, 1001, "c1", "BTC_USDT", 78)))
    assert (cancel.command_seq, cancel.cancel.order_id, cancel.cancel.symbol) == (10, 4, "BTC_USDT")


def test_order_rejected_event_carries_the_request() -> None:
    event = BalanceEvent(12, 1001, 0, BalanceEventType.ORDER_REJECTED, 0, 0, 0, 0, 0, reject_reason=2001,
                         client_order_id="c1", symbol="BTC_USDT", order=PLACE)  # fmt: skip
    message = balance_pb2.BalanceEvent.FromString(codec.encode_event(event))
    assert (message.event_id, message.type, message.reject_reason, message.version) == (12, 10, 2001, 0)
    assert codec.place_from_proto(message.order) == PLACE


@pytest.mark.parametrize(
    ("reply", "field"),
    [
        (OrderAccepted(5, "c", 2, 100, "BTC_USDT", True), "order_accepted"),
        (CancelAccepted(5, "c", "BTC_USDT"), "cancel_accepted"),
        (Refused(2013, "busy"), "rejected"),
    ],
)
def test_replies_encode_into_their_oneof(reply: object, field: str) -> None:
    response = ubscore_pb2.UbscoreResponse.FromString(codec.encode_reply(reply))
    assert response.WhichOneof("outcome") == field


def test_an_accepted_order_carries_the_locked_account_and_a_repeat_does_not() -> None:
    """The gateway shows the lock at once from the reply; a repeat changed nothing, so it says nothing of it."""
    fresh = OrderAccepted(5, "c", 2, 100, "BTC_USDT", False, available_units=900, frozen_units=100, version=7)
    accepted = ubscore_pb2.UbscoreResponse.FromString(codec.encode_reply(fresh)).order_accepted
    assert (accepted.available_units, accepted.frozen_units, accepted.version) == (900, 100, 7)
    repeat = fresh._replace(duplicate=True)
    accepted = ubscore_pb2.UbscoreResponse.FromString(codec.encode_reply(repeat)).order_accepted
    assert (accepted.duplicate, accepted.available_units, accepted.frozen_units, accepted.version) == (True, 0, 0, 0)


def test_window_forgets_keys_older_than_the_window_by_input_time() -> None:
    window = IdempotencyWindow(window_ns=100, keys_max=10)
    window.remember(("u", "a"), (), ("A",), 1_000)
    window.remember(("u", "b"), (), ("A",), 1_050)
    window.remember(("u", "c"), (), ("A",), 1_101)  # "a" is now more than 100 ns behind the newest input
    assert window.get(("u", "a")) is None
    assert window.get(("u", "b")) is not None
    assert window.evicted == 1


def test_window_evicts_by_time_after_emptying_and_after_a_restore() -> None:
    """The window keeps the time of its oldest entry rather than looking it up on every call: that time must follow
    the front through evictions, a window emptied by them, and a restore from a snapshot."""
    window = IdempotencyWindow(window_ns=100, keys_max=10)
    window.remember(("u", "a"), (), ("A",), 1_000)
    window.remember(("u", "b"), (), ("A",), 5_000)  # "a" goes; "b" is the front now
    window.remember(("u", "c"), (), ("A",), 5_050)
    window.remember(("u", "d"), (), ("A",), 5_101)  # "b" is more than 100 ns behind: it goes too
    assert [key[1] for key in window.entries] == ["c", "d"]
    copy = IdempotencyWindow(window_ns=100, keys_max=10)
    copy.restore(window.snapshot())
    copy.remember(("u", "e"), (), ("A",), 5_151)  # "c" (5,050) is behind the horizon 5,051
    assert [key[1] for key in copy.entries] == ["d", "e"]
    copy.remember(("u", "f"), (), ("A",), 99_000)  # everything before goes, "f" alone stays and is the front
    copy.remember(("u", "g"), (), ("A",), 99_101)
    assert [key[1] for key in copy.entries] == ["g"]
    assert (window.evicted, copy.evicted) == (2, 6)


def test_window_holds_at_most_keys_max_keys_oldest_first_out() -> None:
    window = IdempotencyWindow(window_ns=10**18, keys_max=3)
    for index in range(5):
        window.remember(("u", str(index)), (), ("A",), index)
    assert [key[1] for key in window.entries] == ["2", "3", "4"]


def test_window_snapshot_round_trip_keeps_arrival_order() -> None:
    window = IdempotencyWindow(window_ns=10**18, keys_max=3)
    for index in range(3):
        window.remember((1001, f"k{index}"), (1, "x"), ("A", index, 2, 5), index)
    copy = IdempotencyWindow(window_ns=10**18, keys_max=3)
    copy.restore(window.snapshot())
    assert copy.entries == window.entries
    assert list(copy.entries) == list(window.entries)


def test_hot_path_values_equal_keyword_built_ones_field_for_field() -> None:
    # The decoder and the accept path build NamedTuples with tuple.__new__ (no arity check): each must be of its
    # class, with every field, equal to the value built by keyword.
    request = ubscore_pb2.UbscoreRequest(place_order=codec.place_to_proto(PLACE._replace(traceparent="tp")))
    _, decoded = codec.decode_request(request.SerializeToString())
    assert type(decoded) is PlaceRequest
    assert decoded._asdict() == PLACE._replace(traceparent="tp")._asdict()
    catalog = load_catalog()
    core = UbsCore(catalog.markets.values(), [a.asset_id for a in catalog.assets.values()], fee_account_user_id=1)
    core.transfer(TransferRequest("d", 1001, 2, 10**12, BalanceOperation.TRANSFER_IN, 1))
    effects = core.place(decoded)
    assert type(effects) is Effects
    assert effects.reply._asdict() == OrderAccepted(
        1, "c1", 2, 4_500_000, "BTC_USDT", duplicate=False, available_units=10**12 - 4_500_000,
        frozen_units=4_500_000, version=2,
    )._asdict()  # fmt: skip
    assert effects.commands[0]._asdict() == PlaceCommand(
        command_seq=1, order_id=1, user_id=1001, client_order_id="c1", symbol="BTC_USDT", side=1, order_type=1,
        time_in_force=1, post_only=False, price_units=45_000_000_000, qty_units=10_000, quote_budget_units=0,
        self_trade_mode=0, locked_units=4_500_000, ts_event_ns=5, traceparent="tp",
    )._asdict()  # fmt: skip
    assert effects.events[0]._asdict() == BalanceEvent(
        event_id=2, user_id=1001, asset_id=2, type=BalanceEventType.FUNDS_LOCKED, delta_available_units=-4_500_000,
        delta_frozen_units=4_500_000, available_units=10**12 - 4_500_000, frozen_units=4_500_000, version=2,
        order_id=1, ts_event_ns=5, client_order_id="c1", symbol="BTC_USDT",
    )._asdict()  # fmt: skip
    remembered = core.order_keys.entries[(1001, "c1")]
    assert type(remembered) is Remembered
    assert remembered._asdict() == Remembered(PLACE[:-2], ("A", 1, 2, 4_500_000), 5)._asdict()
