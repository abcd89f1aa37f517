"""Commands the matching core accepts: validated orders and cancels from UBSCore (via the `orders` topic).

Commands are plain immutable values; the codec (matcher/codec.py) builds them from protobuf. Field names match
DESIGN.md and the proto (`..._units` are int counts of smallest units, `ts_event_ns` is copied from the input and
never read from a clock).

They are `typing.NamedTuple`s, not frozen slotted dataclasses, for the reason matcher/events.py gives: one is built
per command on the hot path, and a frozen dataclass of 13 fields cost ~3 us to build here (it sets every field
through object.__setattr__) against ~0.4 us for a NamedTuple: a tenth of the service's whole time per command.
Build them with keywords only (every call site does; the field order is not part of the contract): required
fields come first only because a NamedTuple needs its defaults last.
"""

from __future__ import annotations

from typing import NamedTuple

from common.enums import OrderType, SelfTradeMode, Side, TimeInForce


class PlaceOrder(NamedTuple):
    """Place an order whose funds UBSCore has already frozen.

    LIMIT: `price_units` and `qty_units` (on tick and lot), `time_in_force` GTC/IOC/FOK, optional `post_only`
    (GTC only). MARKET SELL: `qty_units`. MARKET BUY: `quote_budget_units` (what UBSCore froze); `qty_units` 0.
    `order_id` is assigned by UBSCore: positive and increasing per market. An enum field may hold a plain int the
    core does not know (a newer proto value): the core refuses such an order with MATCHER_INVALID_FIELD.
    """

    symbol: str
    order_id: int
    user_id: int
    side: Side | int
    order_type: OrderType | int
    ts_event_ns: int
    client_order_id: str = ""
    time_in_force: TimeInForce | int = TimeInForce.GTC
    post_only: bool = False
    price_units: int = 0
    qty_units: int = 0
    quote_budget_units: int = 0
    self_trade_mode: SelfTradeMode | int = SelfTradeMode.EXPIRE_TAKER


class CancelOrder(NamedTuple):
    """Cancel a resting order of `user_id`, by `order_id` if it is non-zero, else by `client_order_id`."""

    symbol: str
    user_id: int
    ts_event_ns: int
    order_id: int = 0
    client_order_id: str = ""


Command = PlaceOrder | CancelOrder
