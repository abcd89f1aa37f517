"""The steady-load driver: orders, cancels and transfers through the gateway, paced, retried, recorded.

Library use (the crash drills):

    driver = LoadDriver(LoadSettings(address=..., rate_per_s=300), users, mix)
    driver.start()            # runs on its own thread (one asyncio loop, grpc.aio)
    ...                       # kill and restart services meanwhile
    driver.stop()             # no new commands; every command sent is retried until it has an answer
    record = driver.join()    # what was accepted, refused, and when

Order entry is `StreamOrders` (one bidirectional stream per user, up to `window` commands in flight on each) or
`PlaceOrders` batches (cancels then go as `CancelOrder` calls). Pacing: each user sends at rate_per_s / users
on a fixed schedule (0 = as fast as the window allows). A stream or call that fails (gateway or UBSCore down,
deadline) is opened again after a short back-off and every command still unanswered is sent again with the
same client order id or transfer request id, which the exchange answers with the first outcome (idempotent): so
each command sent ends with exactly one answer, and nothing is placed twice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc

from common.enums import RejectReason
from exchange.v1 import account_service_pb2, account_service_pb2_grpc, trading_service_pb2, trading_service_pb2_grpc
from tools.loadgen.accounts import TRANSFER_WAIT_MS, User
from tools.loadgen.mix import Cancel, Command, OrderMix, Place

RETRY_BACKOFF_S = 0.2
CALL_TIMEOUT_S = 30.0
BATCH_ORDERS_MAX = 1_000
RETRIABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
                       grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
TRANSFER_AMOUNT_USDT = "1"
# Per-command answers that do not say what became of the command (the gateway could not reach UBSCore, or UBSCore
# did not answer in time): the command is sent again with the same id until a real outcome comes.
UNKNOWN_OUTCOME = frozenset({RejectReason.SERVICE_UNAVAILABLE, RejectReason.TIMEOUT})
Resend = tuple[Command, int, int]  # (command, first send ns, not before ns)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadSettings:
    """How the driver sends: where, how fast, how long, through which entry."""

    address: str
    rate_per_s: float = 0.0  # orders + cancels per second over all users; 0 = as fast as possible
    duration_s: float = 10.0  # 0 = until stop()
    entry: str = "stream"  # "stream" (StreamOrders) or "batch" (PlaceOrders)
    window: int = 64  # commands in flight per stream
    batch_orders: int = 100  # orders per PlaceOrders call
    transfers_per_s: float = 0.0  # deposits and withdrawals (alternating) over all users


@dataclass(slots=True)
class LoadRecord:
    """Everything the driver saw, in monotonic nanoseconds."""

    started_ns: int = 0
    ended_ns: int = 0
    cpu_s: float = 0.0  # CPU time of this whole process (driver and watchers) while sending: is the client the limit?
    accepted: dict[int, int] = field(default_factory=dict)  # order id -> first send
    accepted_by_client_id: dict[str, int] = field(default_factory=dict)  # client order id -> order id
    ack_ns: list[int] = field(default_factory=list)  # when each accept arrived
    ack_latency_us: list[float] = field(default_factory=list)  # parallel to ack_ns
    refused: Counter[str] = field(default_factory=Counter)  # reason name -> count
    cancels_queued: int = 0
    cancels_refused: int = 0
    duplicates: int = 0  # answers to a re-sent command (the first outcome, repeated)
    retries: int = 0  # streams/calls opened again after a failure
    resent: int = 0  # commands sent again after an answer that leaves the outcome unknown (UNKNOWN_OUTCOME)
    conflicts: list[str] = field(default_factory=list)  # a client order id answered with two order ids: a double
    transfers: dict[str, tuple[int, bool, int]] = field(default_factory=dict)  # request id -> (user, in?, status)

    @property
    def sent_places(self) -> int:
        """Orders answered (accepted or refused)."""
        return len(self.accepted) + sum(self.refused.values())


class LoadDriver:
    """Sends `mix`'s commands for `users` per `settings` on a thread of its own; see the module docstring."""

    def __init__(self, settings: LoadSettings, users: Sequence[User], mix: OrderMix,
                 on_tick: Callable[[LoadRecord], None] | None = None) -> None:
        assert settings.entry in ("stream", "batch"), settings.entry
        assert 0 < settings.batch_orders <= BATCH_ORDERS_MAX, settings.batch_orders
        assert len(users) == mix.users, (len(users), mix.users)
        self.settings = settings
        self.users = users
        self.mix = mix
        self.on_tick = on_tick
        self.record = LoadRecord()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadgen-driver", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> None:
        """Start sending (returns at once)."""
        self._thread.start()

    def stop(self) -> None:
        """Send no new command; those sent are still retried until answered."""
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> LoadRecord:
        """Wait for the end (duration or stop(), then every answer); re-raise what broke the driver."""
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"the load driver did not finish within {timeout_s} s")
        if self._error is not None:
            raise self._error
        return self.record

    def run(self) -> LoadRecord:
        """start() and join(): the whole run in the caller's thread's time."""
        self.start()
        return self.join()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # handed to join()
            self._error = error

    async def _main(self) -> None:
        self.record.started_ns = time.monotonic_ns()
        cpu_started_s = time.process_time()
        async with grpc.aio.insecure_channel(self.settings.address) as channel:
            trading = trading_service_pb2_grpc.TradingServiceStub(channel)
            worker = self._user_stream if self.settings.entry == "stream" else self._user_batches
            tasks = [asyncio.create_task(worker(trading, index)) for index in range(len(self.users))]
            if self.settings.transfers_per_s > 0:
                tasks.append(asyncio.create_task(
                    self._transfers(account_service_pb2_grpc.AccountServiceStub(channel))))
            ticker = asyncio.create_task(self._tick())
            try:
                await asyncio.gather(*tasks)
            finally:
                ticker.cancel()
        self.record.ended_ns = time.monotonic_ns()
        self.record.cpu_s = time.process_time() - cpu_started_s
        if self.on_tick is not None:
            self.on_tick(self.record)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self.on_tick is not None:
                self.on_tick(self.record)

    def _sending(self) -> bool:
        duration_s = self.settings.duration_s
        elapsed_s = (time.monotonic_ns() - self.record.started_ns) / 1e9
        return not self._stop.is_set() and (duration_s <= 0 or elapsed_s < duration_s)

    async def _pace(self, due_ns: int, interval_ns: int) -> int:
        """Sleep until `due_ns`; return the next due time (no catching up after a stall beyond one interval)."""
        now_ns = time.monotonic_ns()
        if due_ns > now_ns:
            await asyncio.sleep((due_ns - now_ns) / 1e9)
            return due_ns + interval_ns
        return max(due_ns + interval_ns, now_ns - interval_ns)

    def _interval_ns(self, per_user_commands: int = 1) -> int:
        if self.settings.rate_per_s <= 0:
            return 0
        return int(1e9 * len(self.users) * per_user_commands / self.settings.rate_per_s)

    async def _user_stream(self, trading: trading_service_pb2_grpc.TradingServiceStub, index: int) -> None:
        """One StreamOrders stream for user `index`; reopened (unanswered commands re-sent) after a failure.

        `backlog` holds commands to send again before new ones: (command, first send, not before), filled when a
        stream breaks (its unanswered commands) and when an answer leaves the outcome unknown (after a back-off).
        """
        user = self.users[index]
        backlog: deque[Resend] = deque()
        interval_ns = self._interval_ns()
        due_ns = time.monotonic_ns()
        while True:
            call = trading.StreamOrders(metadata=user.metadata)
            pending: deque[tuple[Command, int]] = deque()
            window = asyncio.Semaphore(self.settings.window)
            reader = asyncio.create_task(self._read_stream(call, pending, window, backlog))
            try:
                while backlog or pending or self._sending():
                    if not backlog and not self._sending():  # only answers are due: one may send a command back
                        await asyncio.wait({reader}, timeout=RETRY_BACKOFF_S)
                        if reader.done():
                            break
                        continue
                    if backlog:
                        command, first_ns, not_before_ns = backlog.popleft()
                        await asyncio.sleep(max(0, not_before_ns - time.monotonic_ns()) / 1e9)
                    else:
                        due_ns = await self._pace(due_ns, interval_ns)
                        command, first_ns = self.mix.next(index), time.monotonic_ns()
                    await window.acquire()
                    if reader.done():  # the stream broke while we waited: this command goes to the backlog
                        backlog.appendleft((command, first_ns, 0))
                        break
                    pending.append((command, time.monotonic_ns()))
                    await call.write(_stream_request(command))
                if not reader.done():
                    await call.done_writing()
                await reader
                if not backlog:
                    return
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRIABLE:
                    raise
            except asyncio.InvalidStateError:  # write after the call ended (the gateway went away)
                pass
            call.cancel()
            reader.cancel()
            backlog.extendleft((command, sent_ns, 0) for command, sent_ns in reversed(pending))  # same ids again
            self.record.retries += 1
            await asyncio.sleep(RETRY_BACKOFF_S)

    async def _read_stream(self, call: grpc.aio.StreamStreamCall, pending: deque[tuple[Command, int]],
                           window: asyncio.Semaphore, backlog: deque[Resend]) -> None:
        async for response in call:
            command, sent_ns = pending.popleft()
            window.release()
            kind = response.WhichOneof("outcome")
            error = (response.place.error if kind == "place" and response.place.WhichOneof("outcome") == "error"
                     else response.cancel_error if kind == "cancel_error" else None)
            if error is not None and error.reason in UNKNOWN_OUTCOME:  # ask again later, same id
                backlog.append((command, sent_ns, time.monotonic_ns() + int(RETRY_BACKOFF_S * 1e9)))
                self.record.resent += 1
            elif kind == "place":
                self._place_result(response.place, sent_ns)
            elif kind == "cancel":
                self.record.cancels_queued += 1
            else:
                self.record.cancels_refused += 1

    def _place_result(self, result: trading_service_pb2.PlaceOrderResult, sent_ns: int) -> None:
        now_ns = time.monotonic_ns()
        record = self.record
        if result.WhichOneof("outcome") == "accepted":
            order_id = result.accepted.order_id
            known = record.accepted_by_client_id.get(result.client_order_id)
            if known is not None and known != order_id:
                record.conflicts.append(f"{result.client_order_id}: order ids {known} and {order_id}")
            if result.accepted.duplicate:
                record.duplicates += 1  # a re-sent command: the first outcome, which may never have reached us
            if order_id in record.accepted:
                return
            record.accepted[order_id] = sent_ns
            record.accepted_by_client_id[result.client_order_id] = order_id
            record.ack_ns.append(now_ns)
            record.ack_latency_us.append((now_ns - sent_ns) / 1_000)
        else:
            record.refused[_reason_name(result.error.reason)] += 1

    async def _user_batches(self, trading: trading_service_pb2_grpc.TradingServiceStub, index: int) -> None:
        """PlaceOrders batches for user `index` (its cancels as CancelOrder calls), each retried until answered."""
        user = self.users[index]
        interval_ns = self._interval_ns(self.settings.batch_orders)
        due_ns = time.monotonic_ns()
        while self._sending():
            due_ns = await self._pace(due_ns, interval_ns)
            commands = [self.mix.next(index) for _ in range(self.settings.batch_orders)]
            places = [command.request for command in commands if isinstance(command, Place)]
            cancels = [command.request for command in commands if isinstance(command, Cancel)]
            while places:
                request = trading_service_pb2.PlaceOrdersRequest(orders=places)
                sent_ns = time.monotonic_ns()
                response = await self._retried(lambda r=request: trading.PlaceOrders(r, metadata=user.metadata,
                                                                                      timeout=CALL_TIMEOUT_S))
                places = []
                for place, result in zip(request.orders, response.results, strict=True):
                    if result.WhichOneof("outcome") == "error" and result.error.reason in UNKNOWN_OUTCOME:
                        places.append(place)  # UBSCore unreachable or slow: ask again, same client order id
                        self.record.resent += 1
                    else:
                        self._place_result(result, sent_ns)
                if places:
                    await asyncio.sleep(RETRY_BACKOFF_S)
            outcomes = await asyncio.gather(*(self._retried(lambda c=cancel: trading.CancelOrder(
                c, metadata=user.metadata, timeout=CALL_TIMEOUT_S)) for cancel in cancels), return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, grpc.aio.AioRpcError):  # refused (unknown or already final order)
                    self.record.cancels_refused += 1
                elif isinstance(outcome, BaseException):
                    raise outcome
                else:
                    self.record.cancels_queued += 1

    async def _retried(self, call: Callable[[], object]) -> object:
        """Await `call()` again (same request: idempotent) while it fails with a retriable status."""
        while True:
            try:
                return await call()  # type: ignore[misc]
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRIABLE:
                    raise
                self.record.retries += 1
                await asyncio.sleep(RETRY_BACKOFF_S)

    async def _transfers(self, accounts: account_service_pb2_grpc.AccountServiceStub) -> None:
        """Deposits and withdrawals of TRANSFER_AMOUNT_USDT, alternating, round robin over the users."""
        interval_ns = int(1e9 / self.settings.transfers_per_s)
        due_ns = time.monotonic_ns()
        number = 0
        while self._sending():
            due_ns = await self._pace(due_ns, interval_ns)
            user, deposit = self.users[number % len(self.users)], number % 2 == 0
            request_id = f"{self.mix.run_tag}-t{number}"
            message = account_service_pb2.TransferInRequest if deposit else account_service_pb2.TransferOutRequest
            request = message(request_id=request_id, user_id=user.user_id, asset="USDT",
                              amount=TRANSFER_AMOUNT_USDT, result_wait_ms=TRANSFER_WAIT_MS)
            method = accounts.TransferIn if deposit else accounts.TransferOut
            response = await self._retried(lambda r=request, m=method, u=user: m(r, metadata=u.metadata,
                                                                                 timeout=CALL_TIMEOUT_S))
            self.record.transfers[request_id] = (user.user_id, deposit, response.transfer.status)
            number += 1


def _stream_request(command: Command) -> trading_service_pb2.StreamOrdersRequest:
    if isinstance(command, Place):
        return trading_service_pb2.StreamOrdersRequest(place=command.request)
    return trading_service_pb2.StreamOrdersRequest(cancel=command.request)


def _reason_name(reason: int) -> str:
    try:
        return RejectReason(reason).name
    except ValueError:
        return str(reason)
