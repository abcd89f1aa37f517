"""The gateway's client of UBSCore over Aeron: one owner thread, a deadline per request, a circuit breaker.

The Aeron client and its RequestClient are single-threaded, while gRPC calls arrive on many worker threads. So
one owner thread holds them; a worker submits (payload, deadline) through a bounded queue and waits on the
request's `Reply`. The owner sends, polls responses, and completes the replies:

    worker: submit() -> breaker closed? -> queue (bounded: full = UNAVAILABLE at once) -> result(): Reply.wait
    owner:  queue -> RequestClient.send -> poll -> take_arrived() -> Reply.set / Reply.fail

The hand-off is built for the per-order cost (the gateway's hot path): the queue is a deque (no lock, no
exception when empty), the owner sleeps on an Event only when nothing is queued or in flight, a `Reply` is one
raw lock released by the owner (a concurrent.futures.Future costs a Condition and an RLock per request), and
while answers are awaited the owner parks at once rather than spinning: every wake-up costs the process a GIL
hand-off and a context switch (measured: ~115 us of owner CPU per order with 1 us to 0.2 ms parks, ~55 us with
0.1 ms doubling to 1 ms). How long it parks (`AnswerWait`): until just before the oldest request is due (its send
time + UBSCore's round trip as lately seen: an fsync, 0.3-2 ms here), then 0.1 ms at a time, and only once the
answer is 1 ms late, 0.1 ms doubling to 1 ms. The plain doubling parked 0.1+0.2+0.4+0.8 ms for an answer due at
~1 ms, so it was seen up to ~0.5 ms late; now one long park and one or two short ones, for as few wake-ups.
Measured hand-offs at one request in flight (load 10): worker -> owner send ~50-60 us p50, answer -> worker
~55-60 us p50 (0.3-3 ms p99); letting the waiting worker poll Aeron itself would save those two, but the Aeron
client belongs to one owner thread (common/aeron/README.md "Threading model"), so it is not done.
A batch submits all its orders, then waits for each reply in order; replies that are already there cost no wait.

Each request carries `UbscoreRequest.deadline_ns` (wall clock): UBSCore refuses (UBSCORE_DEADLINE_EXCEEDED) a
request it reads after that, so a request the gateway gave up on is never applied later. Outcomes:

- a response: returned as is (accepted or Rejected with its reason; the servicer maps reasons via gateway.status);
- never offered (no UBSCore subscribed, back-pressure until the deadline): `Undeliverable` -> UNAVAILABLE;
- offered, no answer by the deadline: `RequestTimeout` -> DEADLINE_EXCEEDED (outcome unknown: look it up);
- Aeron client failures (driver gone, ...): their own class -> gateway.status maps each one explicitly.

The circuit breaker opens after `failures_to_open` transport failures in a row (UBSCORE_BUSY answers count:
they say UBSCore is shedding load) and then refuses at once with UNAVAILABLE for `open_ms`; after that one trial
request goes through (half open) and its outcome closes or reopens the breaker. So a dead UBSCore costs clients
one fast refusal each, not a pile of timeouts.
"""

from __future__ import annotations

import _thread
import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from common.aeron.client import AeronClient, ClientConfig
from common.aeron.errors import AeronError, RequestTimeout, Undeliverable
from common.aeron.request_response import RequestClient
from exchange.v1 import common_pb2, ubscore_pb2
from gateway.errors import Refused

REQUEST_TIMEOUT_MS_DEFAULT = 2_000
QUEUE_REQUESTS_MAX = 4_096
CONNECT_TIMEOUT_MS = 2_000
RECONNECT_INTERVAL_MS = 1_000
IDLE_WAIT_S = 0.005  # owner thread idle: wait this long for a request (it still drives Aeron keepalives)
ANSWER_WAIT_PARK_NS_SHORT = 100_000  # around an answer's due time the owner looks every 0.1 ms
ANSWER_WAIT_PARK_NS_MAX = 1_000_000  # waiting for answers, the owner parks at most 1 ms (GIL left to the workers)
ANSWER_LATE_NS = 1_000_000  # an answer this late past its due time: back off, 0.1 ms doubling to 1 ms
ROUND_TRIP_NS_INITIAL = 300_000  # UBSCore's round trip (an fsync) before any was seen
ROUND_TRIP_NS_MIN = 200_000  # an early refusal (no fsync) answers faster: it must not set the estimate below this
TIMEOUT_SCAN_MS = 10
FAILURES_TO_OPEN_DEFAULT = 5
OPEN_MS_DEFAULT = 1_000
RESULT_GRACE_MS = 500  # a worker waits this much past the deadline for the owner's verdict

log = logging.getLogger(__name__)


class BreakerState(enum.Enum):
    """Closed: calls pass. Open: calls are refused at once. Half open: one trial call passes."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class CircuitBreaker:
    """Counts consecutive failures; thread-safe; the clock is injected (monotonic ns)."""

    failures_to_open: int = FAILURES_TO_OPEN_DEFAULT
    open_ms: int = OPEN_MS_DEFAULT
    clock_ns: Callable[[], int] = time.monotonic_ns
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_ns: int = 0
    trial_running: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def before_call(self) -> None:
        """Refused(SERVICE_UNAVAILABLE) while open (or while the half-open trial runs); else let the call pass."""
        with self.lock:
            if self.state == BreakerState.OPEN:
                if self.clock_ns() - self.opened_ns < self.open_ms * 1_000_000:
                    raise self._refusal()
                self.state = BreakerState.HALF_OPEN
                self.trial_running = False
            if self.state == BreakerState.HALF_OPEN:
                if self.trial_running:
                    raise self._refusal()
                self.trial_running = True

    def record_success(self) -> None:
        """A call got an answer: close."""
        with self.lock:
            self.state, self.failures, self.trial_running = BreakerState.CLOSED, 0, False

    def record_failure(self) -> None:
        """A call failed in transport (or UBSCore was busy): open after enough in a row, or at once if half open."""
        with self.lock:
            self.failures += 1
            if self.state == BreakerState.HALF_OPEN or self.failures >= self.failures_to_open:
                if self.state != BreakerState.OPEN:
                    log.warning("UBSCore circuit breaker opens after %d failures", self.failures)
                self.state, self.opened_ns, self.trial_running = BreakerState.OPEN, self.clock_ns(), False

    def _refusal(self) -> Refused:
        retry_ms = max(1, self.open_ms - (self.clock_ns() - self.opened_ns) // 1_000_000)
        return Refused(
            common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE, "UBSCore is unavailable (circuit open); retry later",
            retry_after_ms=int(retry_ms), metadata={"circuit": self.state.value},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UbscoreClientConfig:
    """Where UBSCore listens and where this gateway hears back (the response stream must be unique per gateway)."""

    aeron_dir: str
    request_channel: str = "aeron:ipc"
    request_stream_id: int = 1001
    response_channel: str = "aeron:ipc"
    response_stream_id: int = 2001
    request_timeout_ms: int = REQUEST_TIMEOUT_MS_DEFAULT


class Reply:
    """The answer slot of one request: the owner thread fills it once (`set` or `fail`); one worker `wait`s."""

    __slots__ = ("_done", "error", "payload")

    def __init__(self) -> None:
        self.payload = b""
        self.error: BaseException | None = None
        self._done = _thread.allocate_lock()
        self._done.acquire()  # released by the owner when the answer is in

    def set(self, payload: bytes) -> None:
        """The response arrived (owner thread)."""
        self.payload = payload
        self._done.release()

    def fail(self, error: BaseException) -> None:
        """The request failed: never sent, timed out, or the client went away (owner thread)."""
        self.error = error
        self._done.release()

    def wait(self, timeout_s: float) -> bool:
        """True once the answer is in (at once if it already is), False after `timeout_s`."""
        if self._done.acquire(timeout=timeout_s):
            self._done.release()  # a second wait (or a late look) returns at once too
            return True
        return False


@dataclass(slots=True)
class _Call:
    payload: bytes
    deadline_mono_ns: int
    reply: Reply
    sent_ns: int = 0  # monotonic, when the owner sent it


class AnswerWait:
    """How long the owner parks while answers are awaited: until just before the oldest one is due (sent + the
    round trip as lately seen), then ANSWER_WAIT_PARK_NS_SHORT at a time, then, once it is late, backing off to
    ANSWER_WAIT_PARK_NS_MAX. Owner thread only.

    The round-trip estimate follows a faster answer at once (down to ROUND_TRIP_NS_MIN) and a slower one by at most
    1/16 per answer, so one stalled answer (a slow fsync, a descheduled UBSCore) does not make the next orders wait
    for it.
    """

    __slots__ = ("_late_park_ns", "round_trip_ns")

    def __init__(self) -> None:
        self.round_trip_ns = ROUND_TRIP_NS_INITIAL
        self._late_park_ns = ANSWER_WAIT_PARK_NS_SHORT

    def answered(self, round_trip_ns: int) -> None:
        """An answer came `round_trip_ns` after its request was sent."""
        estimate = self.round_trip_ns
        if round_trip_ns <= estimate:
            self.round_trip_ns = max(round_trip_ns, ROUND_TRIP_NS_MIN)
        else:
            self.round_trip_ns = estimate + (min(round_trip_ns - estimate, estimate) >> 4)
        self._late_park_ns = ANSWER_WAIT_PARK_NS_SHORT

    def park_ns(self, oldest_sent_ns: int, now_ns: int) -> int:
        """How long to park now, the oldest unanswered request sent at `oldest_sent_ns`."""
        due_in_ns = oldest_sent_ns + self.round_trip_ns - now_ns
        if due_in_ns > ANSWER_WAIT_PARK_NS_SHORT:
            return min(due_in_ns - ANSWER_WAIT_PARK_NS_SHORT // 2, ANSWER_WAIT_PARK_NS_MAX)
        if due_in_ns > -ANSWER_LATE_NS:
            return ANSWER_WAIT_PARK_NS_SHORT
        park_ns = self._late_park_ns
        self._late_park_ns = min(park_ns * 2, ANSWER_WAIT_PARK_NS_MAX)
        return park_ns


class UbscoreClient:
    """Thread-safe facade: `ask(request)` from any thread; one owner thread does all Aeron work."""

    def __init__(
        self, config: UbscoreClientConfig, *, breaker: CircuitBreaker | None = None,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.breaker = breaker or CircuitBreaker()
        self.wall_clock_ns = wall_clock_ns
        self.calls: deque[_Call] = deque()  # bounded by submit (QUEUE_REQUESTS_MAX); append/popleft are atomic
        self._wake = threading.Event()  # set by submit: the owner may be waiting for a request
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._own, name="ubscore-client", daemon=True)

    def start(self) -> None:
        """Start the owner thread (it connects, and reconnects while UBSCore is away)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the owner thread; pending calls fail with UNAVAILABLE."""
        self._stop.set()
        self._thread.join(timeout=10)

    def check(self) -> None:
        """Health check: raise unless a UBSCore responder is connected."""
        if not self.connected.is_set():
            raise RuntimeError("UBSCore is not connected over Aeron")

    def ask(
        self, request: ubscore_pb2.UbscoreRequest, *, timeout_ms: int | None = None
    ) -> ubscore_pb2.UbscoreResponse:
        """Send `request` (its deadline_ns is set here) and return UBSCore's response, or raise (see module doc)."""
        timeout_ms = timeout_ms or self.config.request_timeout_ms
        return self.result(self.submit(request, timeout_ms=timeout_ms), timeout_ms=timeout_ms)

    def submit(self, request: ubscore_pb2.UbscoreRequest, *, timeout_ms: int) -> Reply:
        """Queue `request` for the owner thread without waiting (pipelining a batch); Refused when the breaker is
        open, UBSCore is not connected, or the queue is full."""
        self.breaker.before_call()
        if not self.connected.is_set():
            self.breaker.record_failure()
            raise Refused(common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE, "UBSCore is not connected")
        if len(self.calls) >= QUEUE_REQUESTS_MAX:  # checked without a lock: the bound may be passed by a few
            self.breaker.record_failure()
            raise Refused(common_pb2.REJECT_REASON_SERVICE_UNAVAILABLE, "too many UBSCore requests queued")
        timeout_ns = timeout_ms * 1_000_000
        request.deadline_ns = self.wall_clock_ns() + timeout_ns
        call = _Call(request.SerializeToString(), time.monotonic_ns() + timeout_ns, Reply())
        self.calls.append(call)
        if not self._wake.is_set():  # set() takes a lock and notifies: once per wake-up, not per order of a batch
            self._wake.set()  # (safe: the owner clears before it drains, so a request queued after is seen)
        return call.reply

    def result(self, reply: Reply, *, timeout_ms: int) -> ubscore_pb2.UbscoreResponse:
        """Wait for a submitted request's response (counted by the breaker); raise as `ask` does."""
        if not reply.wait((timeout_ms + RESULT_GRACE_MS) / 1000):  # the owner thread is stuck: as if unanswered
            self.breaker.record_failure()
            raise RequestTimeout("UBSCore client owner thread did not answer in time")
        if reply.error is not None:
            self.breaker.record_failure()
            raise reply.error
        response = ubscore_pb2.UbscoreResponse()
        response.ParseFromString(reply.payload)
        busy = response.WhichOneof("outcome") == "rejected" and (
            response.rejected.reason == common_pb2.REJECT_REASON_UBSCORE_BUSY
        )
        (self.breaker.record_failure if busy else self.breaker.record_success)()
        return response

    def _own(self) -> None:
        while not self._stop.is_set():
            try:
                with AeronClient(ClientConfig(aeron_dir=self.config.aeron_dir)) as client:
                    requests = RequestClient(
                        client, request_channel=self.config.request_channel,
                        request_stream_id=self.config.request_stream_id,
                        response_channel=self.config.response_channel,
                        response_stream_id=self.config.response_stream_id, connect_timeout_ms=CONNECT_TIMEOUT_MS,
                    )
                    try:
                        self._serve(requests)
                    finally:
                        requests.close()
            except (AeronError, TimeoutError) as error:  # no driver, UBSCore not subscribed, driver lost: retry
                self._disconnected(error)
                log.warning("UBSCore client: %s; reconnecting in %d ms", error, RECONNECT_INTERVAL_MS)
            except Exception as error:  # a bug in this loop must not leave every order hanging: say so, start over
                self._disconnected(error)
                log.exception("UBSCore client owner loop failed; restarting it in %d ms", RECONNECT_INTERVAL_MS)
            self._stop.wait(RECONNECT_INTERVAL_MS / 1000)
        self.connected.clear()
        self._fail_queued(RuntimeError("UBSCore client stopped"))

    def _disconnected(self, error: BaseException) -> None:
        self.connected.clear()
        self._fail_queued(error)

    def _serve(self, requests: RequestClient) -> None:
        """Send queued calls, complete answered ones, until stopped or UBSCore disconnects (raises)."""
        pending: dict[int, _Call] = {}
        self.connected.set()
        try:
            self._serve_loop(requests, pending)
        finally:  # sent but unanswered: the outcome is unknown (not "never delivered")
            for call in pending.values():
                call.reply.fail(RequestTimeout("UBSCore went away (or the client stopped) before answering"))

    def _serve_loop(self, requests: RequestClient, pending: dict[int, _Call]) -> None:
        wait = AnswerWait()  # no spins, no yields: park at once (module doc)
        scanned_ns = 0
        while not self._stop.is_set():
            if not requests.is_connected:
                raise Undeliverable("UBSCore responder disconnected")
            if not pending and not self.calls:
                self._wake.wait(IDLE_WAIT_S)
            self._wake.clear()  # before taking the queue: a request queued after this sets it again
            sent = self._send_queued(requests, pending)
            fragments = requests.poll()
            now_ns = time.monotonic_ns()
            if fragments:
                for correlation_id, payload in requests.take_arrived().items():
                    call = pending.pop(correlation_id, None)
                    if call is not None:
                        call.reply.set(payload)
                        wait.answered(now_ns - call.sent_ns)
            if now_ns - scanned_ns >= TIMEOUT_SCAN_MS * 1_000_000:  # O(pending): not on every turn
                scanned_ns = now_ns
                for correlation_id in requests.take_expired():
                    pending.pop(correlation_id).reply.fail(
                        RequestTimeout(f"no response to request {correlation_id} before its deadline")
                    )
            if pending and not (sent or fragments):  # pending: dict order is send order, the first is the oldest
                time.sleep(wait.park_ns(next(iter(pending.values())).sent_ns, now_ns) / 1e9)

    def _send_queued(self, requests: RequestClient, pending: dict[int, _Call]) -> int:
        """Send every queued call; the number taken from the queue."""
        taken = 0
        calls = self.calls
        while calls:
            call = calls.popleft()
            taken += 1
            # Rounded up: the gateway gives up no earlier than the deadline it wrote into the request.
            timeout_ms = -((time.monotonic_ns() - call.deadline_mono_ns) // 1_000_000)
            if timeout_ms <= 0:
                call.reply.fail(Undeliverable("deadline passed while queued in the gateway; never sent"))
                continue
            try:
                pending[requests.send(call.payload, timeout_ms=int(timeout_ms))] = call
                call.sent_ns = time.monotonic_ns()
            except AeronError as error:  # Undeliverable: never offered, safe to retry
                call.reply.fail(error)
        return taken

    def _fail_queued(self, error: BaseException) -> None:
        failure = error if isinstance(error, AeronError) else Undeliverable(str(error))
        while self.calls:
            self.calls.popleft().reply.fail(failure)
