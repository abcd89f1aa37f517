"""AccountService: transfers to Kafka, the private user stream, and balances, transfer status and the ledger from
Settlement's tables (gateway.reads).

With `result_wait_ms` > 0 a transfer waits, bounded, for UBSCore's outcome on `balance.events`
(gateway.transfer_results) and answers COMPLETED or REJECTED with its reason; PENDING if it did not come in time.
GetTransfer reads the database; a transfer not stored there yet that this gateway knows was accepted (its own, or
any gateway's seen on `balance.operations`: gateway.accepted_transfers) answers with its outcome from
`balance.events` if that has come, else PENDING.

Transfers need the `transfer` (operator) role and name the account they move money for; the request is
validated into units (gateway.validation), published to `balance.operations` and answered PENDING once Kafka
acknowledged it. UBSCore applies or refuses it; a repeat of a request id has the first one's outcome.

A request id is one transfer: reused for a different one (asset, amount or direction) it is refused with
DUPLICATE_REQUEST, as UBSCore refuses it (silently: no event). The gateway refuses it before publishing when it
knows the first transfer (accepted here, seen on either topic, or stored by Settlement: a request id this gateway
never saw is looked up there first, so a restart forgets nothing; a repeat of a stored transfer answers the stored
row and is not published again), and after publishing when the outcome that comes is the first transfer's. A wait
that ends without an outcome reads Settlement's row of the request id: a repeat of a transfer stored long ago
answers its stored outcome, not PENDING.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import grpc

from common.errors import Unavailable
from common.markets import MarketCatalog
from common.money import format_units
from common.quoting import quoted
from exchange.v1 import account_service_pb2, account_service_pb2_grpc, balance_pb2, common_pb2
from gateway.accepted_transfers import AcceptedTransfer, AcceptedTransfers
from gateway.auth import current_principal
from gateway.errors import FieldViolation, Refused
from gateway.reads import Reads
from gateway.streams import follow
from gateway.transfer_results import REJECTED_TYPES, TransferResults
from gateway.transfers import TransferPublisher
from gateway.user_streams import UserStreams, heartbeat
from gateway.validation import validate_transfer

R = common_pb2.RejectReason


class AccountServicer(account_service_pb2_grpc.AccountServiceServicer):
    """Deposits and withdrawals (operator role), the caller's balances, transfers, ledger and private stream."""

    def __init__(
        self, catalog: MarketCatalog, publisher: TransferPublisher, user_streams: UserStreams | None = None,
        results: TransferResults | None = None, *, heartbeat_ms: int = 15_000, reads: Reads | None = None,
        accepted: AcceptedTransfers | None = None, wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.catalog = catalog
        self.accepted = accepted or AcceptedTransfers()
        self.reads = reads
        self.publisher = publisher
        self.user_streams = user_streams
        self.results = results
        self.heartbeat_ms = heartbeat_ms
        self.wall_clock_ns = wall_clock_ns

    def StreamUserData(
        self, request: account_service_pb2.StreamUserDataRequest, context: grpc.ServicerContext
    ) -> Iterator[account_service_pb2.StreamUserDataResponse]:
        """A heartbeat at once, the caller's balances (from the database, with changes seen here but not stored
        yet), then the caller's order updates, fills and balance changes as they happen."""
        unknown = [symbol for symbol in request.symbols if symbol not in self.catalog.markets]
        if unknown:
            raise Refused.from_violations([FieldViolation(
                field="symbols", reason=R.REJECT_REASON_UNKNOWN_MARKET, description=f"no market {quoted(unknown[0])}",
            )])  # fmt: skip
        streams = self.user_streams
        if streams is None:
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, "this gateway runs without user streams")
        try:
            subscription = streams.subscribe(current_principal().user_id, request.symbols)
        except OverflowError as error:
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, f"too many user streams: {error}") from error
        try:
            yield heartbeat(self.wall_clock_ns())  # the stream is open: later events reach it
            # Read after subscribing, so no change falls between the snapshot and the live events; a live change
            # already in the snapshot comes again with its version, which the client compares (proto comment).
            # Changes handed out before the subscription but not stored yet come from what this gateway saw.
            balances = self._freshest_balances(subscription.user_id)
            yield account_service_pb2.StreamUserDataResponse(
                balance_snapshot=account_service_pb2.BalanceSnapshot(balances=balances)
            )
            yield from follow(
                subscription, context, heartbeat_ms=self.heartbeat_ms,
                heartbeat=lambda: heartbeat(self.wall_clock_ns()), halted=lambda: None,
            )
        finally:
            streams.unsubscribe(subscription)

    def GetBalances(
        self, request: account_service_pb2.GetBalancesRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.GetBalancesResponse:
        """Every asset balance of the caller as Settlement stored it, or newer where this gateway already saw a
        change (so a completed transfer shows at once)."""
        user_id = current_principal().user_id
        return account_service_pb2.GetBalancesResponse(balances=self._freshest_balances(user_id))

    def GetTransfer(
        self, request: account_service_pb2.GetTransferRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.GetTransferResponse:
        """One transfer by request id (the caller's own; operators may name any user); one accepted to Kafka but
        not stored yet reads PENDING (or its outcome, if balance.events has it)."""
        principal = current_principal()
        try:
            transfer = self._reads().get_transfer(principal, request)
        except Refused as refused:  # raised after the ownership check: the fallback answers only the same user
            known = self.accepted.get(request.user_id or principal.user_id, request.request_id)
            if refused.reason != R.REJECT_REASON_NOT_FOUND or known is None:
                raise
            outcome = self._outcome(known.user_id, known.request_id)
            transfer = self._view(_applied(known, outcome), outcome)
        return account_service_pb2.GetTransferResponse(transfer=transfer)

    def ListLedger(
        self, request: account_service_pb2.ListLedgerRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.ListLedgerResponse:
        """The caller's balance events, one page, newest first."""
        return self._reads().list_ledger(current_principal().user_id, request)

    def _freshest_balances(self, user_id: int) -> list[account_service_pb2.Balance]:
        """The stored balances, each replaced by a newer change this gateway saw (if it follows balance.events)."""
        stored = self._reads().balances(user_id)
        return stored if self.user_streams is None else self.user_streams.recent.freshest(user_id, stored)

    def _reads(self) -> Reads:
        if self.reads is None:
            raise Refused(R.REJECT_REASON_SERVICE_UNAVAILABLE, "this gateway runs without the database queries")
        return self.reads

    def TransferIn(
        self, request: account_service_pb2.TransferInRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.TransferInResponse:
        """Queue a deposit; PENDING once Kafka has it."""
        transfer = self._publish(request, balance_pb2.BALANCE_OPERATION_TRANSFER_IN)
        return account_service_pb2.TransferInResponse(transfer=transfer)

    def TransferOut(
        self, request: account_service_pb2.TransferOutRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.TransferOutResponse:
        """Queue a withdrawal; PENDING once Kafka has it (UBSCore refuses it later if funds are short)."""
        transfer = self._publish(request, balance_pb2.BALANCE_OPERATION_TRANSFER_OUT)
        return account_service_pb2.TransferOutResponse(transfer=transfer)

    def _publish(
        self, request: account_service_pb2.TransferInRequest | account_service_pb2.TransferOutRequest, operation: int
    ) -> account_service_pb2.Transfer:
        valid = validate_transfer(request, self.catalog)
        terms = (valid.asset_id, valid.amount_units, operation)
        # The first transfer under this request id, as far as this gateway knows: UBSCore's outcome if it came
        # (the one applied), else the first accepted record.
        outcome = self._outcome(valid.user_id, valid.request_id)
        first = self.accepted.get(valid.user_id, valid.request_id)
        if not _outcome_of(outcome, terms) or (outcome is None and first is not None and _terms(first) != terms):
            raise _reused(valid.request_id)
        accepted = AcceptedTransfer(
            request_id=valid.request_id, user_id=valid.user_id, asset_id=valid.asset_id,
            amount_units=valid.amount_units, operation=operation, created_ns=0,
        )
        # Known nowhere here (this gateway restarted, or another took the first): Settlement's row, if any, is it.
        if outcome is None and first is None and (stored := self._stored(accepted)) is not None:
            return stored  # applied long ago: UBSCore would ignore the repeat, so nothing is published
        accepted = replace(accepted, created_ns=self.publisher.publish(valid, operation))
        self.accepted.record(accepted)
        if valid.result_wait_ms and self.results is not None:
            outcome = self.results.wait(valid.user_id, valid.request_id, timeout_ms=valid.result_wait_ms)
            # No outcome came: a repeat of a transfer stored long ago (UBSCore emits nothing again) has its row.
            if outcome is None and (stored := self._stored(accepted)) is not None:
                return stored
        else:
            outcome = self._outcome(valid.user_id, valid.request_id)
        if not _outcome_of(outcome, terms):  # another transfer under this id came first: UBSCore refused this one
            raise _reused(valid.request_id)
        return self._view(accepted, outcome)

    def _outcome(self, user_id: int, request_id: str) -> balance_pb2.BalanceEvent | None:
        """UBSCore's outcome of the user's transfer `request_id` if it has come."""
        return self.results.get(user_id, request_id) if self.results is not None else None

    def _stored(self, accepted: AcceptedTransfer) -> account_service_pb2.Transfer | None:
        """Settlement's row of the request id if it is this transfer's (DUPLICATE_REQUEST if another's); None if
        there is none or the database cannot say now (the answer stays PENDING)."""
        if self.reads is None:
            return None
        request = account_service_pb2.GetTransferRequest(request_id=accepted.request_id, user_id=accepted.user_id)
        try:
            stored = self.reads.get_transfer(current_principal(), request)
        except (Refused, Unavailable):  # not stored (yet), or the database is unreachable: the answer cannot wait
            return None
        mine = self._view(accepted, None)
        if (stored.asset, stored.amount, stored.direction) != (mine.asset, mine.amount, mine.direction):
            raise _reused(accepted.request_id)
        return stored

    def _view(
        self, accepted: AcceptedTransfer, outcome: balance_pb2.BalanceEvent | None
    ) -> account_service_pb2.Transfer:
        """The transfer as the client sees it: PENDING, or its `outcome` from balance.events."""
        asset = self.catalog.asset_by_id(accepted.asset_id)
        direction = (
            account_service_pb2.TRANSFER_DIRECTION_IN
            if accepted.operation == balance_pb2.BALANCE_OPERATION_TRANSFER_IN
            else account_service_pb2.TRANSFER_DIRECTION_OUT
        )
        transfer = account_service_pb2.Transfer(
            request_id=accepted.request_id, user_id=accepted.user_id, asset=asset.name,
            amount=format_units(accepted.amount_units, asset.scale), direction=direction,
            status=account_service_pb2.TRANSFER_STATUS_PENDING, created_ns=accepted.created_ns,
        )
        if outcome is not None:
            rejected = outcome.type in REJECTED_TYPES
            transfer.status = (
                account_service_pb2.TRANSFER_STATUS_REJECTED if rejected
                else account_service_pb2.TRANSFER_STATUS_COMPLETED
            )  # fmt: skip
            transfer.reason = outcome.reject_reason
            transfer.completed_ns = (
                self.results.completed_ns(accepted.user_id, accepted.request_id) if self.results is not None else 0
            ) or outcome.ts_event_ns
        return transfer


def _terms(transfer: AcceptedTransfer) -> tuple[int, int, int]:
    """What a request id stands for: (asset id, amount in units, operation)."""
    return transfer.asset_id, transfer.amount_units, transfer.operation


def _outcome_of(event: balance_pb2.BalanceEvent | None, terms: tuple[int, int, int]) -> bool:
    """Whether UBSCore's outcome event (None: none yet) can be of a transfer with these terms (a field the event
    leaves unset is not compared: events written before `operation` and `requested_amount_units` existed lack
    them)."""
    if event is None:
        return True
    asset_id, amount_units, operation = terms
    amount = _amount_of(event)
    return (event.asset_id == asset_id and (not amount or amount == amount_units)
            and (not event.operation or event.operation == operation))  # fmt: skip


def _applied(known: AcceptedTransfer, outcome: balance_pb2.BalanceEvent | None) -> AcceptedTransfer:
    """The transfer UBSCore applied under `known`'s request id: `known`, or, when its outcome is of another
    transfer (another gateway's came first under the same id), that one's terms from the outcome."""
    if outcome is None or _outcome_of(outcome, _terms(known)):
        return known
    return replace(known, asset_id=outcome.asset_id, amount_units=_amount_of(outcome) or known.amount_units,
                   operation=outcome.operation or known.operation)  # fmt: skip


def _amount_of(event: balance_pb2.BalanceEvent) -> int:
    """The amount of a transfer's outcome event (0: the event does not say): what was requested, or, in events
    written before `requested_amount_units` existed, the change of the available balance (a refusal's is 0)."""
    return event.requested_amount_units or abs(event.delta_available_units)


def _reused(request_id: str) -> Refused:
    return Refused(R.REJECT_REASON_DUPLICATE_REQUEST, f"request id {request_id!r} was used for a different transfer")
