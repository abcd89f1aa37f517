"""What the UBSCore core emits, named in the past tense; ubscore/codec.py maps each to its exchange.v1 message.

- `BalanceEvent`: one balance change (or one refusal) for Kafka `balance.events`. `event_id` is dense from 1 per
  UBSCore; `version` is dense from 1 per (user, asset) and 0 on a refusal (nothing changed).
- `PlaceCommand` / `CancelCommand`: the `OrderCommand`s for Kafka `orders`, `command_seq` dense from 1.
- `OrderAccepted` / `CancelAccepted` / `Refused`: the answer to an Aeron request.
- `Effects`: everything one input caused, in the order it must leave.

The balance enums (`BalanceEventType`, `FundsUnlockCause`, `BalanceOperation`) are the shared mirrors in
common/enums.py.

Events are `NamedTuple`s, as in matcher/events.py: built on the hot path, immutable, compared by value, and much
cheaper to build than frozen slotted dataclasses.
"""

from __future__ import annotations

from typing import NamedTuple

from common.enums import BalanceEventType, BalanceOperation, FundsUnlockCause
from ubscore.commands import PlaceRequest


class BalanceEvent(NamedTuple):
    """One balance change of (user_id, asset_id), with the balance after it, or one refusal (version 0)."""

    event_id: int
    user_id: int
    asset_id: int
    type: BalanceEventType
    delta_available_units: int
    delta_frozen_units: int
    available_units: int
    frozen_units: int
    version: int
    request_id: str = ""
    order_id: int = 0
    trade_id: int = 0
    reject_reason: int = 0
    ts_event_ns: int = 0
    client_order_id: str = ""
    symbol: str = ""
    unlock_cause: FundsUnlockCause = FundsUnlockCause.UNSPECIFIED
    order: PlaceRequest | None = None  # the refused request, on ORDER_REJECTED
    operation: BalanceOperation = BalanceOperation.UNSPECIFIED
    requested_amount_units: int = 0  # on transfer events, refusals included
    traceparent: str = ""  # W3C trace context of the input that caused it, stamped by the shell (service.py)


class PlaceCommand(NamedTuple):
    """An order UBSCore funded and numbered, for the matcher (exchange.v1.InternalOrder in an OrderCommand)."""

    command_seq: int
    order_id: int
    user_id: int
    client_order_id: str
    symbol: str
    side: int
    order_type: int
    time_in_force: int
    post_only: bool
    price_units: int
    qty_units: int
    quote_budget_units: int
    self_trade_mode: int
    locked_units: int
    ts_event_ns: int
    traceparent: str = ""  # W3C trace context of the input that caused it, stamped by the shell (service.py)


class CancelCommand(NamedTuple):
    """A cancel of an open order UBSCore checked the owner of (exchange.v1.InternalCancel in an OrderCommand)."""

    command_seq: int
    order_id: int
    user_id: int
    client_order_id: str
    symbol: str
    ts_event_ns: int
    traceparent: str = ""  # W3C trace context of the input that caused it, stamped by the shell (service.py)


class OrderAccepted(NamedTuple):
    """Funds locked and the order queued for matching (`duplicate`: this answers a repeat; nothing changed now).
    The locked account after the lock (available, frozen, version) rides along, so the gateway shows it at once;
    0 on a duplicate."""

    order_id: int
    client_order_id: str
    locked_asset_id: int
    locked_units: int
    symbol: str
    duplicate: bool = False
    available_units: int = 0
    frozen_units: int = 0
    version: int = 0


class CancelAccepted(NamedTuple):
    """The cancel was queued for the matcher; the outcome arrives as an order update."""

    order_id: int
    client_order_id: str
    symbol: str


class Refused(NamedTuple):
    """The request was refused and changed nothing (`reason`: a RejectReason number)."""

    reason: int
    message: str


Reply = OrderAccepted | CancelAccepted | Refused


class Effects(NamedTuple):
    """Everything one input caused: the reply (Aeron requests only), balance events and order commands."""

    reply: Reply | None
    events: list[BalanceEvent]
    commands: list[PlaceCommand | CancelCommand]


_new = tuple.__new__  # a NamedTuple without its Python-level __new__ (see ubscore/codec.py)
assert BalanceEvent._fields[-1] == "traceparent"  # with_traceparent replaces the last field


def with_traceparent(effects: Effects, traceparent: str) -> Effects:
    """`effects` with `traceparent` on each of its events. The core never sees trace context: the shell stamps the
    input's on what it caused, live (service.py) and on recovery (state.py), so a re-sent event is the same.

    The gateway sends a traceparent with every request (an unsampled one while tracing is off), so this runs for
    every order: built with tuple slicing, not `_replace` (a keyword Python call per event, ~10x the cost)."""
    if not traceparent or not effects.events:
        return effects
    reply, events, commands = effects
    stamped = [_new(BalanceEvent, (*event[:-1], traceparent)) for event in events]
    return _new(Effects, (reply, stamped, commands))
