"""One decoded command through the core and into the bytes of its unsealed EngineOutput, with a last-resort guard.

The core checks every command before it changes anything (matcher/checks.py), so no input should make it raise.
If it still does (a bug), the command must not stop the matcher: a service that crashes on a record reads the
same record again after its restart, a crash loop. So `execute` turns the exception into a refusal of that
command (MATCHER_INTERNAL_ERROR: a REJECTED update if it is an order with an id, so UBSCore releases the funds,
otherwise a CommandRejected), logs the traceback, and reports it for a metric. Recovery re-executes WAL records
through this same function, and the core is deterministic, so the same input in the same state fails the same
way and the rebuilt output is byte-identical: no crash loop, no diverging replay.

What the guard cannot promise: if the bug struck after the book had started to change, that change stays (it is
deterministic, so replay agrees), and an operator must look at the ERROR log line.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from common.enums import RejectReason
from exchange.v1 import order_pb2
from matcher.book import rejected_update
from matcher.codec import output_body
from matcher.commands import Command, PlaceOrder
from matcher.engine import Engine
from matcher.events import CancelRejected, EngineResult, PlaceRejected

log = logging.getLogger(__name__)


class Executed(NamedTuple):
    """The unsealed output of one command (bytes), its trade count, and whether the guard had to
    refuse it."""

    body: bytes
    trades: int
    failed: bool


def execute(
    engine: Engine, command: Command, message: order_pb2.OrderCommand, *, partition: int, offset: int
) -> Executed:
    """Apply `command` (decoded from `message`) and encode its output; an exception becomes a refusal (see above).

    The bytes are those of `codec.build_output(message, ...)` serialized deterministically (`codec.output_body`).
    """
    command_bytes = message.SerializeToString(deterministic=True)
    try:
        result = engine.apply(command)
        body = output_body(
            command_bytes, partition=partition, offset=offset, ts_event_ns=command.ts_event_ns, result=result
        )
        return Executed(body, len(result.trades), False)
    except Exception:  # the last resort the module docstring explains (assertions included); never silent
        log.exception("MATCHER INTERNAL ERROR on input [%d]@%d, refused: %s", partition, offset, command)
    refused = internal_error_result(command)
    body = output_body(
        command_bytes, partition=partition, offset=offset, ts_event_ns=command.ts_event_ns, result=refused
    )
    return Executed(body, 0, True)


def internal_error_result(command: Command) -> EngineResult:
    """The refusal of a command the core failed on: REJECTED for an order with an id, else a rejection."""
    reason = RejectReason.MATCHER_INTERNAL_ERROR
    if isinstance(command, PlaceOrder) and command.order_id > 0:
        return EngineResult(command.symbol, [rejected_update(command, reason)], [], [], [])
    kind = PlaceRejected if isinstance(command, PlaceOrder) else CancelRejected
    rejected = kind(
        symbol=command.symbol, order_id=command.order_id, user_id=command.user_id,
        client_order_id=command.client_order_id, reason=reason, ts_event_ns=command.ts_event_ns,
    )  # fmt: skip
    return EngineResult(command.symbol, [], [], [], [rejected])
