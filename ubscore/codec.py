"""Protobuf at UBSCore's edges: requests and matcher outputs to core values, core effects to exchange.v1 messages.

Decoding refuses only what the core cannot represent (`InputRejected`): bytes that do not parse, an oversized
message, an Aeron request with no body, a transfer with no known operation. Everything else (unknown markets,
off-tick prices, enum numbers the core does not know, missing keys) is the core's decision and comes back as a
refusal with its 2xxx reason. Encoding maps each core event, command and reply to its message.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from common.enums import BalanceOperation
from exchange.v1 import balance_pb2, engine_pb2, order_pb2, ubscore_pb2
from ubscore.commands import (
    CancelRequest,
    FeedOutput,
    FeedTrade,
    FeedUpdate,
    PlaceRequest,
    TransferRequest,
)
from ubscore.errors import InputRejected
from ubscore.events import BalanceEvent, CancelAccepted, CancelCommand, OrderAccepted, PlaceCommand, Refused, Reply

INPUT_BYTES_MAX = 64 * 1024  # a request is ~100 bytes; anything this big is garbage
KNOWN_OPERATIONS = frozenset((BalanceOperation.TRANSFER_IN, BalanceOperation.TRANSFER_OUT))
# Hot-path values are NamedTuples built with tuple.__new__(Class, (fields in declared order,)): calling the class
# runs its generated Python-level __new__ (~4x the cost for a dozen fields in CPython 3.11). As in matcher/codec.py;
# tests compare each such value with one built by keyword.
_new = tuple.__new__
_parse_request = ubscore_pb2.UbscoreRequest.FromString


def _parse(message: object, payload: bytes, kind: str) -> None:
    if len(payload) > INPUT_BYTES_MAX:
        raise InputRejected(f"{len(payload)} bytes, over the {INPUT_BYTES_MAX} limit", reason="TOO_LARGE")
    try:
        message.ParseFromString(payload)  # type: ignore[attr-defined]
    except DecodeError as error:
        raise InputRejected(f"not a {kind}: {error}", reason="UNDECODABLE") from error


def decode_transfer(payload: bytes) -> TransferRequest:
    """The transfer carried by a `balance.operations` record; InputRejected if it is not one."""
    message = balance_pb2.BalanceRequest()
    _parse(message, payload, "BalanceRequest")
    if message.operation not in KNOWN_OPERATIONS:
        raise InputRejected(f"operation {message.operation} is neither transfer in nor out", reason="BAD_OPERATION")
    return TransferRequest(
        message.request_id, message.user_id, message.asset_id, message.amount_units, message.operation,
        message.ts_event_ns, message.traceparent,
    )  # fmt: skip


def decode_request(payload: bytes) -> tuple[int, PlaceRequest | CancelRequest]:
    """(deadline_ns, request) of an Aeron `UbscoreRequest` body; InputRejected if it is not one."""
    if len(payload) > INPUT_BYTES_MAX:  # _parse inlined: this runs once per order
        raise InputRejected(f"{len(payload)} bytes, over the {INPUT_BYTES_MAX} limit", reason="TOO_LARGE")
    try:
        message = _parse_request(payload)
    except DecodeError as error:
        raise InputRejected(f"not a UbscoreRequest: {error}", reason="UNDECODABLE") from error
    kind = message.WhichOneof("body")
    if kind == "place_order":  # place_from_proto inlined
        o = message.place_order
        return message.deadline_ns, _new(PlaceRequest, (
            o.user_id, o.client_order_id, o.symbol, o.side, o.order_type, o.time_in_force, o.post_only, o.price_units,
            o.qty_units, o.quote_budget_units, o.self_trade_mode, o.ts_event_ns, o.traceparent,
        ))  # fmt: skip
    if kind == "cancel_order":
        cancel = message.cancel_order
        return message.deadline_ns, _new(CancelRequest, (
            cancel.user_id, cancel.order_id, cancel.client_order_id, cancel.symbol, cancel.ts_event_ns,
            cancel.traceparent,
        ))  # fmt: skip
    raise InputRejected("UbscoreRequest with neither place_order nor cancel_order", reason="NO_BODY")


def place_from_proto(order: ubscore_pb2.OrderRequest) -> PlaceRequest:
    """The core's view of an OrderRequest (enum fields stay plain ints: the core refuses unknown ones)."""
    return PlaceRequest(
        order.user_id, order.client_order_id, order.symbol, order.side, order.order_type, order.time_in_force,
        order.post_only, order.price_units, order.qty_units, order.quote_budget_units, order.self_trade_mode,
        order.ts_event_ns, order.traceparent,
    )  # fmt: skip


def place_to_proto(request: PlaceRequest) -> ubscore_pb2.OrderRequest:
    """The OrderRequest a PlaceRequest came from (for ORDER_REJECTED events and for load clients)."""
    return ubscore_pb2.OrderRequest(
        user_id=request.user_id, client_order_id=request.client_order_id, symbol=request.symbol, side=request.side,
        order_type=request.order_type, time_in_force=request.time_in_force, post_only=request.post_only,
        price_units=request.price_units, qty_units=request.qty_units, quote_budget_units=request.quote_budget_units,
        self_trade_mode=request.self_trade_mode, ts_event_ns=request.ts_event_ns, traceparent=request.traceparent,
    )  # fmt: skip


def decode_output(output: engine_pb2.EngineOutput) -> FeedOutput:
    """The settlement-relevant part of a verified EngineOutput (rejections move no funds and are left out)."""
    trades = [
        FeedTrade(
            t.trade_id,
            t.symbol,
            t.price_units,
            t.qty_units,
            t.quote_qty_units,
            t.maker_order_id,
            t.maker_user_id,
            t.taker_order_id,
            t.taker_user_id,
            t.taker_side,
            t.maker_fee_units,
            t.taker_fee_units,
            t.ts_event_ns,
        )
        for t in output.trades
    ]
    updates = [
        FeedUpdate(u.order_id, u.user_id, u.status, u.filled_qty_units, u.filled_quote_units, u.ts_event_ns)
        for u in output.order_updates
    ]
    return FeedOutput(output.shard_id, output.seq, output.hash, trades, updates)


def encode_event(event: BalanceEvent) -> bytes:
    """The `balance.events` payload of one event."""
    (event_id, user_id, asset_id, kind, delta_available_units, delta_frozen_units, available_units, frozen_units,
     version, request_id, order_id, trade_id, reject_reason, ts_event_ns, client_order_id, symbol, unlock_cause, order,
     operation, requested_amount_units, traceparent) = event  # fmt: skip
    # Fields set one by one (upb: ~25% cheaper than keyword arguments), and only those this event kind uses: proto3
    # writes an unset scalar exactly as one set to its default, so the bytes are the same.
    message = balance_pb2.BalanceEvent()
    message.event_id = event_id
    message.user_id = user_id
    message.asset_id = asset_id
    message.type = kind
    message.delta_available_units = delta_available_units
    message.delta_frozen_units = delta_frozen_units
    message.available_units = available_units
    message.frozen_units = frozen_units
    message.version = version
    message.ts_event_ns = ts_event_ns
    if request_id:
        message.request_id = request_id
    if order_id:
        message.order_id = order_id
    if trade_id:
        message.trade_id = trade_id
    if reject_reason:
        message.reject_reason = reject_reason
    if client_order_id:
        message.client_order_id = client_order_id
    if symbol:
        message.symbol = symbol
    if unlock_cause:
        message.unlock_cause = unlock_cause
    if operation:
        message.operation = operation
    if requested_amount_units:
        message.requested_amount_units = requested_amount_units
    if traceparent:
        message.traceparent = traceparent
    if order is not None:
        message.order.CopyFrom(place_to_proto(order))
    return message.SerializeToString()


def encode_command(command: PlaceCommand | CancelCommand) -> bytes:
    """The `orders` payload of one command."""
    message = order_pb2.OrderCommand(command_seq=command.command_seq)
    if type(command) is PlaceCommand:
        (_, order_id, user_id, client_order_id, symbol, side, order_type, time_in_force, post_only, price_units,
         qty_units, quote_budget_units, self_trade_mode, locked_units, ts_event_ns, traceparent) = command  # fmt: skip
        place = message.place
        place.order_id = order_id
        place.user_id = user_id
        place.client_order_id = client_order_id
        place.symbol = symbol
        place.side = side
        place.order_type = order_type
        place.locked_units = locked_units
        place.ts_event_ns = ts_event_ns
        # Fields that are often 0 / False / "" (by order type) are set only when not: same bytes (as encode_event).
        if time_in_force:
            place.time_in_force = time_in_force
        if post_only:
            place.post_only = post_only
        if price_units:
            place.price_units = price_units
        if qty_units:
            place.qty_units = qty_units
        if quote_budget_units:
            place.quote_budget_units = quote_budget_units
        if self_trade_mode:
            place.self_trade_mode = self_trade_mode
        if traceparent:
            place.traceparent = traceparent
    else:
        cancel = message.cancel
        cancel.order_id = command.order_id
        cancel.user_id = command.user_id
        cancel.client_order_id = command.client_order_id
        cancel.symbol = command.symbol
        cancel.ts_event_ns = command.ts_event_ns
        if command.traceparent:
            cancel.traceparent = command.traceparent
    return message.SerializeToString()


def encode_reply(reply: Reply) -> bytes:
    """The UbscoreResponse body of one reply (the correlation id is in the Aeron framing)."""
    response = ubscore_pb2.UbscoreResponse()
    if type(reply) is OrderAccepted:
        accepted = response.order_accepted  # each attribute access of a submessage builds a wrapper: once
        accepted.order_id = reply.order_id
        accepted.client_order_id = reply.client_order_id
        accepted.locked_asset_id = reply.locked_asset_id
        accepted.locked_units = reply.locked_units
        accepted.symbol = reply.symbol
        if reply.duplicate:  # False is the default: the same bytes unset
            accepted.duplicate = True
        else:  # the account after the lock (a repeat changed nothing: none)
            accepted.available_units = reply.available_units
            accepted.frozen_units = reply.frozen_units
            accepted.version = reply.version
    elif type(reply) is CancelAccepted:
        cancel = response.cancel_accepted
        cancel.order_id = reply.order_id
        cancel.client_order_id = reply.client_order_id
        cancel.symbol = reply.symbol
    else:
        assert type(reply) is Refused, reply
        rejected = response.rejected
        rejected.reason = reply.reason
        rejected.message = reply.message
    return response.SerializeToString()


def refusal_reply(reason: int, message: str) -> bytes:
    """A Rejected UbscoreResponse body (busy, deadline exceeded, malformed request)."""
    return encode_reply(Refused(reason, message))
