"""Requests the UBSCore core accepts: transfers (Kafka `balance.operations`), places and cancels (Aeron).

Plain immutable values built by ubscore/codec.py from protobuf. Enum-typed fields hold plain ints on purpose:
a request may carry a number the core does not know (a newer gateway, a corrupt message), and refusing it with
a reason is the core's decision (risk.py), not the codec's. `..._units` are int counts of smallest units;
`ts_event_ns` is the gateway's time, copied into every event and never read from a clock.
"""

from __future__ import annotations

from typing import NamedTuple


class TransferRequest(NamedTuple):
    """A deposit (`operation` TRANSFER_IN) or withdrawal (TRANSFER_OUT) of `amount_units` of `asset_id`."""

    request_id: str
    user_id: int
    asset_id: int
    amount_units: int
    operation: int
    ts_event_ns: int


class PlaceRequest(NamedTuple):
    """A new order, as the gateway sent it (fields as in exchange.v1.OrderRequest)."""

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
    ts_event_ns: int

    def fingerprint(self) -> tuple[object, ...]:
        """What must be equal for a repeat of the same client order id to be the same order (not the time)."""
        return self[:-1]  # a slice of a tuple subclass is a plain tuple


class CancelRequest(NamedTuple):
    """Cancel the user's open order `order_id`, or (order_id 0) the one with `client_order_id`."""

    user_id: int
    order_id: int
    client_order_id: str
    symbol: str
    ts_event_ns: int


class FeedTrade(NamedTuple):
    """The part of a matcher `Trade` that settles balances (fees in the asset each side receives)."""

    trade_id: int
    symbol: str
    price_units: int
    qty_units: int
    quote_qty_units: int
    maker_order_id: int
    maker_user_id: int
    taker_order_id: int
    taker_user_id: int
    taker_side: int
    maker_fee_units: int
    taker_fee_units: int
    ts_event_ns: int


class FeedUpdate(NamedTuple):
    """The part of a matcher `OrderUpdate` that decides what an order still holds."""

    order_id: int
    user_id: int
    status: int
    filled_qty_units: int
    filled_quote_units: int
    ts_event_ns: int


class FeedOutput(NamedTuple):
    """One verified `EngineOutput` of matcher shard `shard_id` (CommandRejected entries move no funds: dropped)."""

    shard_id: int
    seq: int
    hash: bytes
    trades: list[FeedTrade]
    updates: list[FeedUpdate]
