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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc

from common.markets import MarketCatalog
from common.money import format_units
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
                field="symbols", reason=R.REJECT_REASON_UNKNOWN_MARKET, description=f"no market {unknown[0]!r}",
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
            transfer = self._view(known)
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
        created_ns = self.publisher.publish(valid, operation)
        accepted = AcceptedTransfer(
            request_id=valid.request_id, user_id=valid.user_id, asset_id=valid.asset_id,
            amount_units=valid.amount_units, operation=operation, created_ns=created_ns,
        )
        self.accepted.record(accepted)
        if valid.result_wait_ms and self.results is not None:
            self.results.wait(valid.user_id, valid.request_id, timeout_ms=valid.result_wait_ms)
        return self._view(accepted)

    def _view(self, accepted: AcceptedTransfer) -> account_service_pb2.Transfer:
        """The transfer as the client sees it: PENDING, or its outcome if balance.events has brought it."""
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
        outcome = self.results.get(accepted.user_id, accepted.request_id) if self.results is not None else None
        if outcome is not None:
            rejected = outcome.type in REJECTED_TYPES
            transfer.status = (
                account_service_pb2.TRANSFER_STATUS_REJECTED if rejected
                else account_service_pb2.TRANSFER_STATUS_COMPLETED
            )  # fmt: skip
            transfer.reason = outcome.reject_reason
            transfer.completed_ns = outcome.ts_event_ns
        return transfer
