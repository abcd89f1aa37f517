"""AccountService: transfers to Kafka now; balances, transfer status, ledger and the private stream come from
Settlement's tables and UBSCore's events later (UNIMPLEMENTED until then).

Transfers need the `transfer` (operator) role and name the account they move money for; the request is
validated into units (gateway.validation), published to `balance.operations` and answered PENDING once Kafka
acknowledged it. UBSCore applies or refuses it; a repeat of a request id has the first one's outcome.
"""

from __future__ import annotations

import grpc

from common.markets import MarketCatalog
from common.money import format_units
from exchange.v1 import account_service_pb2, account_service_pb2_grpc, balance_pb2, common_pb2
from gateway.errors import FieldViolation, Refused
from gateway.transfers import TransferPublisher
from gateway.validation import ValidTransfer, validate_transfer

R = common_pb2.RejectReason


class AccountServicer(account_service_pb2_grpc.AccountServiceServicer):
    """Deposits and withdrawals (operator role); the rest of the service is still to come."""

    def __init__(self, catalog: MarketCatalog, publisher: TransferPublisher) -> None:
        self.catalog = catalog
        self.publisher = publisher

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
        if valid.result_wait_ms:
            raise Refused.from_violations([FieldViolation(
                field="result_wait_ms", reason=R.REJECT_REASON_INVALID_REQUEST,
                description="waiting for UBSCore's outcome is not available yet; send 0",
            )])  # fmt: skip
        created_ns = self.publisher.publish(valid, operation)
        return self._pending(valid, operation, created_ns)

    def _pending(self, valid: ValidTransfer, operation: int, created_ns: int) -> account_service_pb2.Transfer:
        asset = self.catalog.assets[valid.asset]
        direction = (
            account_service_pb2.TRANSFER_DIRECTION_IN
            if operation == balance_pb2.BALANCE_OPERATION_TRANSFER_IN
            else account_service_pb2.TRANSFER_DIRECTION_OUT
        )
        return account_service_pb2.Transfer(
            request_id=valid.request_id, user_id=valid.user_id, asset=asset.name,
            amount=format_units(valid.amount_units, asset.scale), direction=direction,
            status=account_service_pb2.TRANSFER_STATUS_PENDING, created_ns=created_ns,
        )
