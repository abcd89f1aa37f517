"""Pure projection: a matcher `EngineOutput` or a UBSCore `BalanceEvent` to the rows Settlement writes.

No I/O, no clock: the same input always gives the same rows with the same write timestamps
(settlement/keys.py), which is what makes a replay converge. Tables and keys: settlement/README.md.

One thing the projection cannot know from an output alone is when a *maker* order was created (an `OrderUpdate`
carries the time of the command that touched it); `orders_by_user_time` is keyed by creation time, so the caller
passes `created_ns` for makers (settlement/service.py remembers it for open orders and reads the `orders` table
on a miss). Orders created by the output itself are taken from its input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from common.markets import Market
from exchange.v1 import account_service_pb2, balance_pb2, common_pb2, engine_pb2
from settlement import keys
from settlement.rows import Row

OPEN_STATUSES = frozenset({common_pb2.ORDER_STATUS_NEW, common_pb2.ORDER_STATUS_PARTIALLY_FILLED})
TRANSFER_TYPES = {
    balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED: (
        account_service_pb2.TRANSFER_DIRECTION_IN, account_service_pb2.TRANSFER_STATUS_COMPLETED),
    balance_pb2.BALANCE_EVENT_TYPE_DEPOSIT_REJECTED: (
        account_service_pb2.TRANSFER_DIRECTION_IN, account_service_pb2.TRANSFER_STATUS_REJECTED),
    balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWN: (
        account_service_pb2.TRANSFER_DIRECTION_OUT, account_service_pb2.TRANSFER_STATUS_COMPLETED),
    balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED: (
        account_service_pb2.TRANSFER_DIRECTION_OUT, account_service_pb2.TRANSFER_STATUS_REJECTED),
}
DIRECTION_OF_OPERATION = {
    balance_pb2.BALANCE_OPERATION_TRANSFER_IN: account_service_pb2.TRANSFER_DIRECTION_IN,
    balance_pb2.BALANCE_OPERATION_TRANSFER_OUT: account_service_pb2.TRANSFER_DIRECTION_OUT,
}
UBSCORE_SOURCE = "ubscore"
OPEN_ORDER_COLUMNS = ("side", "order_type", "time_in_force", "price_units", "qty_units", "status", "filled_qty_units",
                      "filled_quote_units", "remaining_qty_units", "remaining_quote_units", "updated_ns",
                      "post_only", "self_trade_mode", "quote_budget_units")  # the last three: placing output only


def engine_source(shard_id: int) -> str:
    """The `order_history.source` and `chain_state.source` of a matcher shard."""
    return f"engine.{shard_id}"


@dataclass(slots=True)
class Projected:
    """Rows of one input, and the orders it created or finished (the caller's created_ns memory follows them)."""

    rows: list[Row] = field(default_factory=list)
    created: dict[int, int] = field(default_factory=dict)  # order_id -> created_ns, for orders still open
    finished: list[int] = field(default_factory=list)  # order ids that reached a final state
    created_unknown: list[int] = field(default_factory=list)  # makers whose created_ns was not given (ts used)


def makers_to_resolve(output: engine_pb2.EngineOutput) -> list[int]:
    """Order ids in `output` whose creation time must come from the caller (all but the one it placed)."""
    placed = _placed_order_id(output)
    return [update.order_id for update in output.order_updates if update.order_id != placed]


def project_output(
    output: engine_pb2.EngineOutput, *, markets: Mapping[str, Market], created_ns: Mapping[int, int]
) -> Projected:
    """Rows for one verified matcher output: the output itself, each order it touched, each trade."""
    projected = Projected()
    rows = projected.rows
    stamp = keys.output_timestamp(output.seq)
    rows.append(Row("engine_outputs", {
        "shard_id": output.shard_id, "seq_block": keys.id_block(output.seq), "seq": output.seq,
        "prev_hash": output.prev_hash, "hash": output.hash, "ts_event_ns": output.ts_event_ns,
        "order_updates": len(output.order_updates), "trades": len(output.trades),
        "output": output.SerializeToString(deterministic=True),
    }, stamp))
    placed = output.input.command.place if output.input.command.WhichOneof("command") == "place" else None
    client_ids: dict[int, str] = {}
    for index, update in enumerate(output.order_updates):
        client_ids[update.order_id] = update.client_order_id
        full = False
        if placed is not None and update.order_id == placed.order_id:
            created, full = placed.ts_event_ns, True
        elif update.order_id in created_ns:
            created = created_ns[update.order_id]
        else:
            created, full = update.ts_event_ns, True
            projected.created_unknown.append(update.order_id)
        if update.status in OPEN_STATUSES:
            projected.created[update.order_id] = created
        else:
            projected.finished.append(update.order_id)
        creation = placed if placed is not None and update.order_id == placed.order_id else None
        _order_rows(rows, output, update, keys.output_timestamp(output.seq, index), created, creation, full=full)
    for index, trade in enumerate(output.trades):
        _trade_rows(rows, trade, keys.output_timestamp(output.seq, index), markets.get(trade.symbol),
                    client_ids, output)
    return projected


def _placed_order_id(output: engine_pb2.EngineOutput) -> int:
    command = output.input.command
    return command.place.order_id if command.WhichOneof("command") == "place" else -1


def _order_rows(
    rows: list[Row], output: engine_pb2.EngineOutput, update: engine_pb2.OrderUpdate, stamp: int, created: int,
    creation: object | None, *, full: bool,
) -> None:
    """orders, order_history, orders_by_user_time, open_orders (+ its time bucket) for one order update.

    With `full` (the output that placed the order, or one whose creation Settlement never saw) every column is
    written; otherwise only what changes after creation (status, fills, remainders, reason, update time): CQL
    upserts per column, the identity columns stay as the placing output wrote them, and a maker's update costs
    half the cells.
    """
    state: dict[str, object] = {
        "status": update.status, "filled_qty_units": update.filled_qty_units,
        "filled_quote_units": update.filled_quote_units, "remaining_qty_units": update.remaining_qty_units,
        "remaining_quote_units": update.remaining_quote_units, "reason": update.reason,
        "updated_ns": update.ts_event_ns,
    }
    if full:
        state.update({
            "symbol": update.symbol, "side": update.side, "order_type": update.order_type,
            "time_in_force": update.time_in_force, "price_units": update.price_units, "qty_units": update.qty_units,
        })
    if creation is not None:  # only the placing output knows these
        state["post_only"] = creation.post_only  # type: ignore[attr-defined]
        state["self_trade_mode"] = creation.self_trade_mode  # type: ignore[attr-defined]
        state["quote_budget_units"] = creation.quote_budget_units  # type: ignore[attr-defined]
    identity = {"user_id": update.user_id, "client_order_id": update.client_order_id} if full else {}
    rows.append(Row("orders", {
        "order_block": keys.id_block(update.order_id), "order_id": update.order_id, **identity, **state,
        **({"created_ns": created} if full else {}), "shard_id": output.shard_id, "seq": output.seq,
    }, stamp))
    bucket = keys.user_bucket(created)
    rows.append(Row("orders_by_user_time", {
        "user_id": update.user_id, "bucket": bucket, "created_ns": created, "order_id": update.order_id,
        "client_order_id": update.client_order_id, **state,
    }, stamp))
    if full:
        rows.append(_bucket_row(keys.SCOPE_ORDERS, str(update.user_id), bucket))
    if update.client_order_id:
        rows.append(_history_row(
            {**state, **({"created_ns": created} if full else {})}, user_id=update.user_id,
            client_order_id=update.client_order_id, order_id=update.order_id if full else None,
            source=engine_source(output.shard_id), position=output.seq, stamp=stamp,
        ))
    open_key = {"user_id": update.user_id, "symbol": update.symbol, "order_id": update.order_id}
    if update.status in OPEN_STATUSES:
        open_values = {name: state[name] for name in OPEN_ORDER_COLUMNS if name in state}
        if full:
            open_values.update(client_order_id=update.client_order_id, created_ns=created)
        rows.append(Row("open_orders", {**open_key, **open_values}, stamp))
    else:
        rows.append(Row("open_orders", open_key, stamp, delete=True))


def _history_row(
    state: Mapping[str, object], *, user_id: int, client_order_id: str, order_id: int | None, source: str,
    position: int, stamp: int,
) -> Row:
    """One lifecycle row of order_history, with the order's latest state in its static columns."""
    values: dict[str, object] = {
        "user_id": user_id, "client_order_id": client_order_id, "source": source,
        "position": position, "status": state["status"], "filled_qty_units": state["filled_qty_units"],
        "filled_quote_units": state["filled_quote_units"], "remaining_qty_units": state["remaining_qty_units"],
        "reason": state["reason"], "ts_event_ns": state["updated_ns"],
    }
    if order_id is not None:
        values["latest_order_id"] = order_id
    for name, value in state.items():
        values[f"latest_{name}"] = value
    return Row("order_history", values, stamp)


def _trade_rows(
    rows: list[Row], trade: engine_pb2.Trade, stamp: int, market: Market | None, client_ids: Mapping[int, str],
    output: engine_pb2.EngineOutput,
) -> None:
    """settled_trades, market_trades and one trades_by_user row per side (+ their time buckets)."""
    rows.append(Row("settled_trades", {
        "trade_block": keys.id_block(trade.trade_id), "trade_id": trade.trade_id, "symbol": trade.symbol,
        "price_units": trade.price_units, "qty_units": trade.qty_units, "quote_qty_units": trade.quote_qty_units,
        "maker_order_id": trade.maker_order_id, "maker_user_id": trade.maker_user_id,
        "taker_order_id": trade.taker_order_id, "taker_user_id": trade.taker_user_id, "taker_side": trade.taker_side,
        "maker_fee_units": trade.maker_fee_units, "taker_fee_units": trade.taker_fee_units,
        "ts_event_ns": trade.ts_event_ns, "shard_id": output.shard_id, "seq": output.seq,
    }, stamp))
    market_bucket = keys.market_bucket(trade.ts_event_ns)
    rows.append(Row("market_trades", {
        "symbol": trade.symbol, "bucket": market_bucket, "ts_event_ns": trade.ts_event_ns,
        "trade_id": trade.trade_id, "price_units": trade.price_units, "qty_units": trade.qty_units,
        "quote_qty_units": trade.quote_qty_units, "taker_side": trade.taker_side,
    }, stamp))
    rows.append(_bucket_row(keys.SCOPE_MARKET_TRADES, trade.symbol, market_bucket))
    maker_side = common_pb2.SIDE_SELL if trade.taker_side == common_pb2.SIDE_BUY else common_pb2.SIDE_BUY
    user_bucket = keys.user_bucket(trade.ts_event_ns)
    sides = (
        (trade.taker_user_id, trade.taker_order_id, trade.taker_side, trade.taker_fee_units, False),
        (trade.maker_user_id, trade.maker_order_id, maker_side, trade.maker_fee_units, True),
    )
    for user_id, order_id, side, fee_units, is_maker in sides:
        rows.append(Row("trades_by_user", {
            "user_id": user_id, "bucket": user_bucket, "ts_event_ns": trade.ts_event_ns, "trade_id": trade.trade_id,
            "is_maker": is_maker, "order_id": order_id, "client_order_id": client_ids.get(order_id, ""),
            "symbol": trade.symbol, "side": side, "price_units": trade.price_units, "qty_units": trade.qty_units,
            "quote_qty_units": trade.quote_qty_units, "fee_units": fee_units,
            "fee_asset_id": _received_asset_id(market, side),
        }, stamp))
        rows.append(_bucket_row(keys.SCOPE_FILLS, str(user_id), user_bucket))


def _received_asset_id(market: Market | None, side: int) -> int:
    """Fees are charged on the asset a side receives: base for a buy, quote for a sell (0: market unknown)."""
    if market is None:
        return 0
    return market.base_asset_id if side == common_pb2.SIDE_BUY else market.quote_asset_id


def _bucket_row(scope: str, owner: str, bucket: int) -> Row:
    return Row("time_buckets", {"scope": scope, "owner": owner, "bucket": bucket}, 1)


def project_balance_event(event: balance_pb2.BalanceEvent, *, emitted_ns: int = 0) -> list[Row]:
    """Rows for one (validated) balance event: ledger (twice), balance, transfer, refused order.

    `emitted_ns`: when UBSCore produced the event (its Kafka record's timestamp; 0 if unknown), the transfer's
    `completed_ns`. The event carries only the gateway's time of the request (UBSCore's core reads no clock).
    """
    ledger = {
        "user_id": event.user_id, "asset_id": event.asset_id, "type": event.type,
        "delta_available_units": event.delta_available_units, "delta_frozen_units": event.delta_frozen_units,
        "available_units": event.available_units, "frozen_units": event.frozen_units, "version": event.version,
        "request_id": event.request_id, "order_id": event.order_id, "trade_id": event.trade_id,
        "reject_reason": event.reject_reason, "client_order_id": event.client_order_id, "symbol": event.symbol,
        "unlock_cause": event.unlock_cause, "operation": event.operation,
    }
    stamp = event.event_id
    bucket = keys.user_bucket(event.ts_event_ns)
    rows = [
        Row("balance_ledger", {
            "event_block": keys.id_block(event.event_id), "event_id": event.event_id,
            "ts_event_ns": event.ts_event_ns, **ledger,
        }, stamp),
        Row("ledger_by_user", {
            **ledger, "bucket": bucket, "ts_event_ns": event.ts_event_ns, "event_id": event.event_id,
        }, stamp),
        _bucket_row(keys.SCOPE_LEDGER, str(event.user_id), bucket),
    ]
    if event.version > 0:  # a refusal changed no balance
        rows.append(Row("user_balances", {
            "user_id": event.user_id, "asset_id": event.asset_id, "available_units": event.available_units,
            "frozen_units": event.frozen_units, "version": event.version, "event_id": event.event_id,
            "ts_event_ns": event.ts_event_ns,
        }, event.version))
    if event.type in TRANSFER_TYPES and event.request_id:
        rows.append(_transfer_row(event, emitted_ns))
    if event.type == balance_pb2.BALANCE_EVENT_TYPE_ORDER_REJECTED:
        rows.extend(_refused_order_rows(event))
    return rows


def _transfer_row(event: balance_pb2.BalanceEvent, emitted_ns: int) -> Row:
    direction, status = TRANSFER_TYPES[event.type]
    direction = DIRECTION_OF_OPERATION.get(event.operation, direction)
    # A refusal changes no balance (its deltas are 0), so the amount comes from what was requested; events written
    # before `requested_amount_units` existed fall back to the delta.
    amount_units = event.requested_amount_units or abs(event.delta_available_units)
    return Row("transfers", {
        "user_id": event.user_id, "request_id": event.request_id, "asset_id": event.asset_id,
        "amount_units": amount_units, "direction": direction, "status": status, "reason": event.reject_reason,
        # A millisecond timestamp may fall just before the request's nanosecond one: completed never precedes it.
        "event_id": event.event_id, "created_ns": event.ts_event_ns, "completed_ns": max(emitted_ns, event.ts_event_ns),
    }, event.event_id)


def _refused_order_rows(event: balance_pb2.BalanceEvent) -> list[Row]:
    """A refused order (order_id 0): its history under (user, client order id) and its place in the user's list."""
    order = event.order
    client_order_id = event.client_order_id or order.client_order_id
    if not client_order_id:
        return []
    created = order.ts_event_ns or event.ts_event_ns
    state = {
        "user_id": event.user_id, "client_order_id": client_order_id, "symbol": order.symbol or event.symbol,
        "side": order.side, "order_type": order.order_type, "time_in_force": order.time_in_force,
        "post_only": order.post_only, "self_trade_mode": order.self_trade_mode, "price_units": order.price_units,
        "qty_units": order.qty_units, "quote_budget_units": order.quote_budget_units,
        "status": common_pb2.ORDER_STATUS_REJECTED, "filled_qty_units": 0, "filled_quote_units": 0,
        "remaining_qty_units": 0, "remaining_quote_units": 0, "reason": event.reject_reason,
        "created_ns": created, "updated_ns": event.ts_event_ns,
    }
    bucket = keys.user_bucket(created)
    by_time = {key: value for key, value in state.items() if key != "created_ns"}
    # The lowest timestamp: should the same (user, client order id) ever reach the matcher too (UBSCore answers a
    # repeat with the first outcome, so it should not), the matcher's rows win over the refusal's.
    return [
        _history_row({key: value for key, value in state.items() if key not in ("user_id", "client_order_id")},
                     user_id=event.user_id, client_order_id=client_order_id, order_id=0, source=UBSCORE_SOURCE,
                     position=event.event_id, stamp=keys.REFUSED_ORDER_TIMESTAMP),
        Row("orders_by_user_time", {**by_time, "bucket": bucket, "created_ns": created, "order_id": 0},
            keys.REFUSED_ORDER_TIMESTAMP),
        _bucket_row(keys.SCOPE_ORDERS, str(event.user_id), bucket),
    ]
