"""Trace context through UBSCore's codec and core: a request's traceparent reaches the OrderCommand it causes, the
events carry it once the shell stamps them, a matcher output's command gives it back, and a repeat of an order
with another traceparent is still the same order."""

from __future__ import annotations

from common import tracing
from common.enums import BalanceOperation, OrderType, SelfTradeMode, Side, TimeInForce
from common.markets import load_catalog
from exchange.v1 import balance_pb2, engine_pb2, order_pb2, ubscore_pb2
from ubscore import codec
from ubscore.commands import PlaceRequest, TransferRequest
from ubscore.core import UbsCore
from ubscore.events import OrderAccepted, with_traceparent
from ubscore.state import REQUEST_RECORD, Positions, apply_record

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ALICE, USDT = 1001, 2
ORDER = PlaceRequest(ALICE, "c1", "BTC_USDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, False, 45_000_000_000,
                     10_000_000, 0, SelfTradeMode.UNSPECIFIED, 7)  # fmt: skip


def funded_core() -> UbsCore:
    catalog = load_catalog()
    core = UbsCore(catalog.markets.values(), [a.asset_id for a in catalog.assets.values()], fee_account_user_id=1)
    core.transfer(TransferRequest("d1", ALICE, USDT, 10_000_000_000, BalanceOperation.TRANSFER_IN, 1))
    return core


def test_place_request_traceparent_decodes_and_reaches_the_order_command() -> None:
    request = ubscore_pb2.UbscoreRequest(place_order=codec.place_to_proto(ORDER._replace(traceparent=TRACEPARENT)))
    _, body = codec.decode_request(request.SerializeToString())
    assert body.traceparent == TRACEPARENT

    effects = funded_core().place(body)

    message = order_pb2.OrderCommand.FromString(codec.encode_command(effects.commands[0]))
    assert message.place.traceparent == TRACEPARENT


def test_cancel_request_traceparent_reaches_the_cancel_command() -> None:
    core = funded_core()
    accepted = core.place(ORDER).reply
    assert type(accepted) is OrderAccepted
    request = ubscore_pb2.CancelRequest(user_id=ALICE, order_id=accepted.order_id, symbol="BTC_USDT", ts_event_ns=8,
                                        traceparent=TRACEPARENT)  # fmt: skip
    cancel = ubscore_pb2.UbscoreRequest(cancel_order=request)
    _, body = codec.decode_request(cancel.SerializeToString())

    effects = core.cancel(body)

    message = order_pb2.OrderCommand.FromString(codec.encode_command(effects.commands[0]))
    assert message.cancel.traceparent == TRACEPARENT


def test_stamped_event_encodes_traceparent_and_unstamped_leaves_it_empty() -> None:
    event = funded_core().place(ORDER).events[0]
    assert balance_pb2.BalanceEvent.FromString(codec.encode_event(event)).traceparent == ""
    stamped = balance_pb2.BalanceEvent.FromString(codec.encode_event(event._replace(traceparent=TRACEPARENT)))
    assert stamped.traceparent == TRACEPARENT


def test_transfer_traceparent_decodes() -> None:
    payload = balance_pb2.BalanceRequest(request_id="r", user_id=ALICE, asset_id=USDT, amount_units=5,
                                         operation=balance_pb2.BALANCE_OPERATION_TRANSFER_IN,
                                         traceparent=TRACEPARENT).SerializeToString()  # fmt: skip
    assert codec.decode_transfer(payload).traceparent == TRACEPARENT


def test_output_traceparent_is_the_input_commands() -> None:
    output = engine_pb2.EngineOutput()
    assert tracing.output_traceparent(output) == ""
    output.input.command.cancel.traceparent = TRACEPARENT
    assert tracing.output_traceparent(output) == TRACEPARENT


def test_repeat_with_another_traceparent_is_the_same_order() -> None:
    core = funded_core()
    first = core.place(ORDER._replace(traceparent=TRACEPARENT)).reply
    again = core.place(ORDER._replace(traceparent="", ts_event_ns=9)).reply
    assert type(again) is OrderAccepted
    assert again.duplicate
    assert again.order_id == first.order_id


def test_recovery_reapplies_a_request_to_the_same_stamped_events() -> None:
    """The live shell and WAL recovery stamp alike, so an event re-sent after a crash is the same event."""
    payload = ubscore_pb2.UbscoreRequest(
        place_order=codec.place_to_proto(ORDER._replace(traceparent=TRACEPARENT))
    ).SerializeToString()
    _, body = codec.decode_request(payload)
    live = with_traceparent(funded_core().place(body), body.traceparent)

    recovered = apply_record(funded_core(), Positions(), REQUEST_RECORD + payload)

    assert recovered.events == live.events
    assert [event.traceparent for event in recovered.events] == [TRACEPARENT]


def test_stamping_changes_only_the_traceparent_of_every_event() -> None:
    effects = funded_core().place(ORDER)
    refused = funded_core().place(ORDER._replace(symbol="DOGE_USDT"))  # ORDER_REJECTED: carries the request
    for before in (effects, refused):
        after = with_traceparent(before, TRACEPARENT)
        assert type(after) is type(before)
        assert (after.reply, after.commands) == (before.reply, before.commands)
        assert [(type(event), event._asdict()) for event in after.events] == [
            (type(event), event._replace(traceparent=TRACEPARENT)._asdict()) for event in before.events
        ]
