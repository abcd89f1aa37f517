"""TradingService: order entry through UBSCore over Aeron; order queries from Settlement's tables (gateway.reads).

Every order is validated into units first (gateway.validation: invalid input never reaches UBSCore), then sent
as an `OrderRequest` for the key's own user with a deadline. The answer is UBSCore's real outcome: accepted with
its order id and the amount locked, or refused with its reason (mapped to a status by gateway.status), never a
blind "accepted". PlaceOrders and StreamOrders pipeline their orders through the UBSCore client (all submitted,
then all awaited), so a batch costs about one round trip, not one per order.

With `result_wait_ms` > 0, an accepted order's response also carries the matcher's first result (the order's
state and its fills), waited for at most that long on the gateway's market feed (gateway.order_results); absent
if it did not come in time. GetOrder, ListOrders and ListFills read the database only (gateway.reads).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import grpc

from common.markets import MarketCatalog
from common.money import format_units
from common.tracing import trace_id_of
from exchange.v1 import common_pb2, trading_service_pb2, trading_service_pb2_grpc, ubscore_pb2
from gateway.auth import current_principal
from gateway.errors import FieldViolation, Refused
from gateway.order_results import OrderResults
from gateway.order_views import fill_view, order_view
from gateway.rate_limit import RateLimiter
from gateway.reads import Reads
from gateway.recent_balances import RecentBalances, SeenBalance
from gateway.recent_orders import RecentOrders, progress
from gateway.status import error_row
from gateway.tracing import current_traceparent
from gateway.ubscore_client import Reply, UbscoreClient
from gateway.validation import ValidOrder, validate_cancel, validate_place_order

BATCH_ORDERS_MAX = 1_000
STREAM_WINDOW_MAX = 256  # StreamOrders: commands read ahead and in flight before answers are sent
STREAM_PUT_WAIT_S = 0.5
R = common_pb2.RejectReason

log = logging.getLogger("gateway.trading")


class _Sent(NamedTuple):
    """An order sent to UBSCore: its validated form (for the response) and the slot of UBSCore's answer (a tuple:
    made once per order, and a frozen dataclass's __init__ costs several times a tuple's)."""

    order: ValidOrder
    reply: Reply
    user_id: int
    placed_ns: int  # the order's ts_event_ns (the gateway's clock)


_StreamEntry = tuple[trading_service_pb2.StreamOrdersRequest, _Sent | Reply | Exception]


class TradingServicer(trading_service_pb2_grpc.TradingServiceServicer):
    """Places and cancels orders of the caller's own account (the user comes from the API key)."""

    def __init__(
        self, catalog: MarketCatalog, ubscore: UbscoreClient | None, results: OrderResults | None = None, *,
        limiter: RateLimiter | None = None, reads: Reads | None = None, wall_clock_ns: Callable[[], int] = time.time_ns,
        recent_orders: RecentOrders | None = None, recent_balances: RecentBalances | None = None,
    ) -> None:
        self.catalog = catalog
        self.ubscore = ubscore
        self.reads = reads
        self.recent_orders = recent_orders
        self.recent_balances = recent_balances
        self.results = results
        self.limiter = limiter
        self.wall_clock_ns = wall_clock_ns

    def PlaceOrder(
        self, request: trading_service_pb2.PlaceOrderRequest, context: grpc.ServicerContext
    ) -> trading_service_pb2.PlaceOrderResponse:
        """Validate, send to UBSCore, return its outcome."""
        client = self._client()
        return self._placed(client, self._submit_place(client, request, current_principal().user_id))

    def PlaceOrders(
        self, request: trading_service_pb2.PlaceOrdersRequest, context: grpc.ServicerContext
    ) -> trading_service_pb2.PlaceOrdersResponse:
        """Each order on its own, in order; one refusal does not stop the others. 1 to BATCH_ORDERS_MAX orders."""
        if not request.orders:
            raise Refused.from_violations([FieldViolation(
                field="orders", reason=R.REJECT_REASON_MISSING_FIELD, description="at least one order",
            )])  # fmt: skip
        if len(request.orders) > BATCH_ORDERS_MAX:
            raise Refused.from_violations([FieldViolation(
                field="orders", reason=R.REJECT_REASON_INVALID_REQUEST, description=f"at most {BATCH_ORDERS_MAX}",
            )])  # fmt: skip
        self._charge_batch(current_principal().key_id, len(request.orders))
        return trading_service_pb2.PlaceOrdersResponse(results=list(self._place_many(request.orders)))

    def StreamOrders(
        self, request_iterator: Iterator[trading_service_pb2.StreamOrdersRequest], context: grpc.ServicerContext
    ) -> Iterator[trading_service_pb2.StreamOrdersResponse]:
        """One answer per command, in order, each as soon as it is known.

        A reader thread takes commands and submits them (up to STREAM_WINDOW_MAX in flight) while this generator
        waits for the oldest answer and sends it, so a client may pipeline or wait for each answer: neither
        deadlocks, and a busy stream costs about one round trip per window rather than per order.
        """
        client, principal = self._client(), current_principal()
        in_flight: queue.Queue[_StreamEntry | BaseException | None] = queue.Queue(maxsize=STREAM_WINDOW_MAX)
        closed = threading.Event()

        def put(entry: _StreamEntry | BaseException | None) -> bool:
            while not closed.is_set():  # bounded waits: a stream closed under a full queue frees its reader
                try:
                    in_flight.put(entry, timeout=STREAM_PUT_WAIT_S)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            end: BaseException | None = None
            try:
                for command in request_iterator:
                    try:
                        self._charge(principal.key_id, 1)
                        outcome = self._submit_command(client, command, principal.user_id)
                    except Refused as refused:  # over the key's rate: this command's answer, the stream goes on
                        outcome = refused
                    if not put((command, outcome)):
                        return
            except grpc.RpcError:  # the client went away: the stream ends
                pass
            except Exception as error:  # a bug: the stream ends INTERNAL through the error boundary
                end = error
            put(end)

        # The reader runs in a copy of this call's context, so its orders carry the call's traceparent.
        reader_context = contextvars.copy_context()
        threading.Thread(target=reader_context.run, args=(read,), name="stream-orders-reader", daemon=True).start()
        try:
            while (entry := in_flight.get()) is not None:
                if isinstance(entry, BaseException):
                    raise entry
                yield self._stream_answer(client, *entry)
        finally:
            closed.set()

    def CancelOrder(
        self, request: trading_service_pb2.CancelOrderRequest, context: grpc.ServicerContext
    ) -> trading_service_pb2.CancelOrderResponse:
        """Validate, send the cancel to UBSCore, return that it was queued (the outcome is an order update)."""
        client = self._client()
        return self._canceled(client, self._submit_cancel(client, request, current_principal().user_id))

    # -- building and sending -------------------------------------------------------------------------------------

    def GetOrder(
        self, request: trading_service_pb2.GetOrderRequest, context: grpc.ServicerContext
    ) -> trading_service_pb2.GetOrderResponse:
        """One of the caller's orders, by order id or client order id (refused orders too): Settlement's row, or
        the newer state this gateway saw on the matcher feed (so an order just placed is found at once)."""
        user_id = current_principal().user_id
        seen = None
        if self.recent_orders is not None and (request.order_id or request.client_order_id):
            seen = self.recent_orders.find(user_id=user_id, order_id=request.order_id,
                                           client_order_id=request.client_order_id)  # fmt: skip
        if seen is not None and seen[0] != user_id:
            raise Refused(R.REJECT_REASON_PERMISSION_DENIED, f"order {request.order_id} is not yours")
        try:
            stored = self._reads().get_order(user_id, request)
        except Refused as refused:
            if seen is None or refused.reason != R.REJECT_REASON_NOT_FOUND:
                raise
            return trading_service_pb2.GetOrderResponse(order=seen[1])
        if seen is None or progress(seen[1]) <= progress(stored):
            return trading_service_pb2.GetOrderResponse(order=stored)
        order = seen[1]  # further along; the placement's facts from the row (this gateway may not have seen it)
        order.created_ns, order.post_only = stored.created_ns, stored.post_only
        order.self_trade_mode, order.quote_quantity = stored.self_trade_mode, stored.quote_quantity
        return trading_service_pb2.GetOrderResponse(order=order)

    def ListOrders(
        self, request: trading_service_pb2.ListOrdersRequest, context: grpc.ServicerContext
    ) -> trading_service_pb2.ListOrdersResponse:
        """The caller's open orders or order history, one page."""
        return self._reads().list_orders(current_principal().user_id, request)

    def ListFills(
        self, request: trading_service_pb2.ListFillsRequest, context: grpc.ServicerContext
    ) -> trading_service_pb2.ListFillsResponse:
        """The caller's fills, one page, newest first."""
        return self._reads().list_fills(current_principal().user_id, request)

    def _reads(self) -> Reads:
        if self.reads is None:
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, "this gateway runs without the database queries")
        return self.reads

    def _charge(self, key_id: str, orders: int) -> None:
        if self.limiter is not None:
            self.limiter.check(key_id, "trade", orders)

    def _charge_batch(self, key_id: str, orders: int) -> None:
        """A batch costs one token per order; the call itself paid for the first."""
        if self.limiter is None or orders <= 1:
            return
        burst = self.limiter.limits["trade"].burst
        if orders > burst:  # could never pass, whatever the wait: say so instead of a retry hint
            raise Refused.from_violations([FieldViolation(
                field="orders", reason=R.REJECT_REASON_INVALID_REQUEST,
                description=f"{orders} orders exceed this key's burst of {burst}; send smaller batches",
            )])  # fmt: skip
        self._charge(key_id, orders - 1)

    def _client(self) -> UbscoreClient:
        if self.ubscore is None:
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, "this gateway runs without a UBSCore client")
        return self.ubscore

    def _submit_place(
        self, client: UbscoreClient, request: trading_service_pb2.PlaceOrderRequest, user_id: int
    ) -> _Sent:
        order = validate_place_order(request, self.catalog)
        # The order's fields as a dict: the request is built in one step (an OrderRequest message passed in would
        # be built, then copied into the envelope).
        placed_ns = self.wall_clock_ns()
        message = ubscore_pb2.UbscoreRequest(place_order=self._order_fields(order, user_id, placed_ns))
        if log.isEnabledFor(logging.DEBUG):  # per order: DEBUG only
            log.debug("order sent", extra={"client_order_id": order.client_order_id, "user_id": user_id,
                                           "symbol": order.market.symbol,
                                           "trace_id": trace_id_of(message.place_order.traceparent)})  # fmt: skip
        return _Sent(order, client.submit(message, timeout_ms=client.config.request_timeout_ms), user_id, placed_ns)

    def _order_fields(self, order: ValidOrder, user_id: int, placed_ns: int) -> dict[str, object]:
        """The fields of the OrderRequest of `order` for `user_id`."""
        return {
            "user_id": user_id, "client_order_id": order.client_order_id, "symbol": order.market.symbol,
            "side": order.side, "order_type": order.order_type, "time_in_force": order.time_in_force,
            "post_only": order.post_only, "price_units": order.price_units, "qty_units": order.qty_units,
            "quote_budget_units": order.quote_budget_units, "self_trade_mode": order.self_trade_mode,
            "ts_event_ns": placed_ns, "traceparent": current_traceparent(),
        }

    def _submit_cancel(
        self, client: UbscoreClient, request: trading_service_pb2.CancelOrderRequest, user_id: int
    ) -> Reply:
        cancel = validate_cancel(request, self.catalog)
        message = ubscore_pb2.UbscoreRequest(cancel_order=ubscore_pb2.CancelRequest(
            user_id=user_id, order_id=cancel.order_id, client_order_id=cancel.client_order_id,
            symbol=cancel.symbol, ts_event_ns=self.wall_clock_ns(), traceparent=current_traceparent(),
        ))  # fmt: skip
        return client.submit(message, timeout_ms=client.config.request_timeout_ms)

    def _submit_command(
        self, client: UbscoreClient, command: trading_service_pb2.StreamOrdersRequest, user_id: int
    ) -> _Sent | Reply | Exception:
        try:
            if command.WhichOneof("command") == "cancel":
                return self._submit_cancel(client, command.cancel, user_id)
            return self._submit_place(client, command.place, user_id)
        except Exception as error:  # a refusal of this command is its answer; the stream goes on
            return error

    # -- answers ----------------------------------------------------------------------------------------------

    def _answer(self, client: UbscoreClient, reply: Reply, expected: str) -> object:
        """The `expected` outcome of UBSCore's response; Refused with UBSCore's reason if it refused."""
        response = client.result(reply, timeout_ms=client.config.request_timeout_ms)
        outcome = response.WhichOneof("outcome")
        if outcome == "rejected":
            raise Refused(response.rejected.reason, response.rejected.message or "refused by UBSCore")
        if outcome != expected:  # a contract breach between the services: INTERNAL, logged
            raise Refused(R.REJECT_REASON_UNSPECIFIED, f"UBSCore answered {outcome!r}, expected {expected!r}")
        return getattr(response, expected)

    def _placed(self, client: UbscoreClient, sent: _Sent) -> trading_service_pb2.PlaceOrderResponse:
        try:
            accepted: ubscore_pb2.OrderAccepted = self._answer(client, sent.reply, "order_accepted")  # type: ignore[assignment]
        except Refused as refused:  # a refusal UBSCore records is an order too: GetOrder finds it by client id
            if self.recent_orders is not None:
                self.recent_orders.refused(sent.user_id, sent.order, refused.reason, placed_ns=sent.placed_ns)
            raise
        if self.recent_orders is not None and not accepted.duplicate:  # a repeat's order may be far along by now
            self.recent_orders.accepted(sent.user_id, accepted.order_id, sent.order, placed_ns=sent.placed_ns)
        if self.recent_balances is not None and accepted.version:  # the lock, for GetBalances (read your writes)
            self.recent_balances.observe_account(sent.user_id, accepted.locked_asset_id, SeenBalance(
                accepted.available_units, accepted.frozen_units, accepted.version))  # fmt: skip
        asset = self.catalog.asset_by_id(accepted.locked_asset_id)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("order accepted", extra={
                "order_id": accepted.order_id, "client_order_id": accepted.client_order_id,
                "duplicate": accepted.duplicate, "trace_id": trace_id_of(current_traceparent())})  # fmt: skip
        response = trading_service_pb2.PlaceOrderResponse(
            order_id=accepted.order_id, client_order_id=accepted.client_order_id, symbol=accepted.symbol,
            status=common_pb2.ORDER_STATUS_NEW, locked=format_units(accepted.locked_units, asset.scale),
            locked_asset=asset.name, duplicate=accepted.duplicate,
        )
        if sent.order.result_wait_ms and self.results is not None:
            self._add_first_result(response, sent.order)
        return response

    def _add_first_result(self, response: trading_service_pb2.PlaceOrderResponse, order: ValidOrder) -> None:
        assert self.results is not None
        result = self.results.wait(response.order_id, timeout_ms=order.result_wait_ms)
        if result is None:
            return
        response.order.CopyFrom(order_view(
            result.update, order.market, post_only=order.post_only, quote_budget_units=order.quote_budget_units,
            self_trade_mode=order.self_trade_mode,
        ))  # fmt: skip
        response.status = result.update.status
        response.fills.extend(
            fill_view(trade, order.market, order_id=response.order_id, client_order_id=response.client_order_id)
            for trade in result.trades
        )

    def _canceled(self, client: UbscoreClient, reply: Reply) -> trading_service_pb2.CancelOrderResponse:
        accepted: ubscore_pb2.CancelAccepted = self._answer(client, reply, "cancel_accepted")  # type: ignore[assignment]
        return trading_service_pb2.CancelOrderResponse(
            order_id=accepted.order_id, client_order_id=accepted.client_order_id, symbol=accepted.symbol
        )

    def _place_many(
        self, orders: Iterable[trading_service_pb2.PlaceOrderRequest]
    ) -> Iterator[trading_service_pb2.PlaceOrderResult]:
        client, user_id = self._client(), current_principal().user_id
        submitted: list[tuple[str, _Sent | Exception]] = []
        for order in orders:
            try:
                submitted.append((order.client_order_id, self._submit_place(client, order, user_id)))
            except Exception as error:  # this order's refusal is its result
                submitted.append((order.client_order_id, error))
        for client_order_id, outcome in submitted:
            result = trading_service_pb2.PlaceOrderResult(client_order_id=client_order_id)
            try:
                if isinstance(outcome, Exception):
                    raise outcome
                result.accepted.CopyFrom(self._placed(client, outcome))
            except Exception as error:
                result.error.CopyFrom(order_error(error))
            yield result

    def _stream_answer(
        self, client: UbscoreClient, command: trading_service_pb2.StreamOrdersRequest,
        outcome: _Sent | Reply | Exception,
    ) -> trading_service_pb2.StreamOrdersResponse:
        answer = trading_service_pb2.StreamOrdersResponse()
        is_cancel = command.WhichOneof("command") == "cancel"
        try:
            if isinstance(outcome, Exception):
                raise outcome
            if isinstance(outcome, _Sent):
                answer.place.accepted.CopyFrom(self._placed(client, outcome))
            else:
                answer.cancel.CopyFrom(self._canceled(client, outcome))
        except Exception as error:
            if is_cancel:
                answer.cancel_error.CopyFrom(order_error(error))
            else:
                answer.place.error.CopyFrom(order_error(error))
        if not is_cancel:
            answer.place.client_order_id = command.place.client_order_id
        return answer


def order_error(error: Exception) -> trading_service_pb2.OrderError:
    """One order's refusal as an OrderError (reason, message, field) inside a batch or stream answer."""
    if isinstance(error, Refused):
        field = error.violations[0].field if error.violations else ""
        return trading_service_pb2.OrderError(reason=error.reason, message=error.message, field=field)
    row = error_row(error)
    if row is None:
        raise error  # a bug: let the error boundary turn the whole call into INTERNAL
    return trading_service_pb2.OrderError(reason=row[1], message=str(error))
