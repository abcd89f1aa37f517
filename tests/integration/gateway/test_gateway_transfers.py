"""Transfers through a real gateway into a private Kafka topic: what is written, and what the client is told.

The record is read back from the real broker (the test's own topic), so PENDING provably means "in Kafka".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import grpc
import pytest

from common.kafka import assign_from, create_topic, delete_topic, flush_or_raise, make_consumer, make_producer
from exchange.v1 import account_service_pb2, account_service_pb2_grpc, balance_pb2, common_pb2
from gateway.app import Gateway

from .calls import bearer, reason_of
from .conftest import eventually, free_port

pytestmark = pytest.mark.integration

EMITTED_MS = 1_795_000_000_123  # the Kafka timestamp the test's outcome records carry
EMITTED_NS = EMITTED_MS * 1_000_000


@pytest.fixture
def transfers_topic(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh 4-partition topic standing in for balance.operations, deleted afterwards."""
    topic = f"balance.operations.test.{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap, topic, partitions=4)
    yield topic
    delete_topic(kafka_bootstrap, topic)


def read_all(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, balance_pb2.BalanceRequest]]:
    """The first `count` records of the topic (any partition), as (key, request)."""
    consumer = make_consumer(bootstrap, client_id=f"transfer-test-{uuid.uuid4().hex[:6]}")
    found: list[tuple[bytes, balance_pb2.BalanceRequest]] = []
    try:
        assign_from(consumer, topic, {partition: -1 for partition in range(4)})

        def enough() -> bool:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                request = balance_pb2.BalanceRequest()
                request.ParseFromString(message.value())
                found.append((message.key(), request))
            return len(found) >= count

        eventually(enough, timeout_ms=30_000, poll_ms=1)
    finally:
        consumer.close()
    return found


def test_transfers_are_in_kafka_keyed_by_user_before_the_client_hears_pending(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], transfers_topic: str, kafka_bootstrap: str,
) -> None:
    """An operator deposits 100000 USDT for Alice and withdraws 0.5 BTC for Bob: both PENDING, both read back
    from the topic in units, keyed by user, with one producer id and producer_seq 1, 2."""
    key, key_id = make_key(5000, "transfer")
    gateway = gateway_factory(transfer_topic=transfers_topic)
    eventually(lambda: key_id in gateway.key_cache.keys, timeout_ms=10_000)
    stub = account_service_pb2_grpc.AccountServiceStub(channel_factory(gateway.port))
    deposit_request = account_service_pb2.TransferInRequest(
        request_id="dep-alice-1", user_id=1001, asset="USDT", amount="100000"
    )
    deposit = stub.TransferIn(deposit_request, metadata=bearer(key)).transfer
    withdrawal_request = account_service_pb2.TransferOutRequest(
        request_id="wd-bob-1", user_id=1002, asset="BTC", amount="0.5"
    )
    withdrawal = stub.TransferOut(withdrawal_request, metadata=bearer(key)).transfer
    assert (deposit.status, deposit.amount, deposit.direction) == (
        account_service_pb2.TRANSFER_STATUS_PENDING, "100000.000000", account_service_pb2.TRANSFER_DIRECTION_IN
    )
    assert withdrawal.direction == account_service_pb2.TRANSFER_DIRECTION_OUT
    records = sorted(read_all(kafka_bootstrap, transfers_topic, 2), key=lambda record: record[1].producer_seq)
    [(alice_key, alice), (bob_key, bob)] = records
    assert (alice_key, alice.user_id, alice.asset_id, alice.amount_units) == (b"1001", 1001, 2, 100_000_000_000)
    assert alice.operation == balance_pb2.BALANCE_OPERATION_TRANSFER_IN
    assert (bob_key, bob.amount_units) == (b"1002", 50_000_000)
    assert bob.operation == balance_pb2.BALANCE_OPERATION_TRANSFER_OUT
    assert (alice.producer_seq, bob.producer_seq) == (1, 2)
    assert alice.producer_id == bob.producer_id != ""
    assert alice.ts_event_ns == deposit.created_ns


def test_invalid_transfer_is_refused_and_unreachable_kafka_is_a_timeout(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]],
) -> None:
    """An account id beyond int64 is INVALID_ARGUMENT before Kafka is touched; with Kafka unreachable a valid
    transfer ends DEADLINE_EXCEEDED with REJECT_REASON_TIMEOUT (outcome unknown: retry with the same request id)."""
    key, key_id = make_key(5001, "transfer")
    gateway = gateway_factory(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    eventually(lambda: key_id in gateway.key_cache.keys, timeout_ms=10_000)
    stub = account_service_pb2_grpc.AccountServiceStub(channel_factory(gateway.port))
    with pytest.raises(grpc.RpcError) as system:
        stub.TransferIn(account_service_pb2.TransferInRequest(
            request_id="d-1", user_id=2**63, asset="USDT", amount="1"), metadata=bearer(key))  # fmt: skip
    assert system.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as unreachable:
        stub.TransferIn(account_service_pb2.TransferInRequest(
            request_id="d-2", user_id=1001, asset="USDT", amount="1"), metadata=bearer(key))  # fmt: skip
    assert unreachable.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    assert reason_of(unreachable.value) == "REJECT_REASON_TIMEOUT"  # type: ignore[arg-type]


@pytest.fixture
def balance_events_topic(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh topic standing in for balance.events, deleted afterwards."""
    topic = f"balance.events.test.{uuid.uuid4().hex[:12]}"
    create_topic(kafka_bootstrap, topic, partitions=4)
    yield topic
    delete_topic(kafka_bootstrap, topic)


def test_result_wait_returns_ubscores_outcome_from_balance_events(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], transfers_topic: str, balance_events_topic: str, kafka_bootstrap: str,
) -> None:
    """A withdrawal waiting for its outcome: when the request is in Kafka, the outcome event UBSCore would write
    (WITHDRAWAL_REJECTED, INSUFFICIENT_FUNDS) arrives and the call answers REJECTED with that reason; a wait with
    no outcome answers PENDING."""
    key, key_id = make_key(5002, "transfer")
    gateway = gateway_factory(transfer_topic=transfers_topic, balance_events_topic=balance_events_topic)
    eventually(lambda: key_id in gateway.key_cache.keys and gateway.balance_events.ready.is_set(), timeout_ms=20_000)
    stub = account_service_pb2_grpc.AccountServiceStub(channel_factory(gateway.port))
    # The outcome must arrive within the call's 5 s wait (the most it may ask for): the producer is connected and
    # knows the topic before the call, so the window holds only the read-back, one record and the follower's fetch.
    producer = make_producer(kafka_bootstrap, client_id="transfer-outcome-test")
    producer.list_topics(balance_events_topic, timeout=30)
    request = account_service_pb2.TransferOutRequest(
        request_id="wd-1", user_id=1080, asset="BTC", amount="2", result_wait_ms=5_000
    )
    waiting = stub.TransferOut.future(request, metadata=bearer(key))
    [(_, sent)] = read_all(kafka_bootstrap, transfers_topic, 1)
    outcome = balance_pb2.BalanceEvent(
        event_id=9, user_id=sent.user_id, asset_id=sent.asset_id, request_id=sent.request_id, ts_event_ns=77,
        type=balance_pb2.BALANCE_EVENT_TYPE_WITHDRAWAL_REJECTED,
        reject_reason=common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS,
    )
    producer.produce(balance_events_topic, key=b"1080", value=outcome.SerializeToString(), timestamp=EMITTED_MS)
    flush_or_raise(producer, timeout_s=30)
    transfer = waiting.result(timeout=30).transfer
    assert (transfer.status, transfer.reason, transfer.completed_ns) == (
        account_service_pb2.TRANSFER_STATUS_REJECTED, common_pb2.REJECT_REASON_INSUFFICIENT_FUNDS, EMITTED_NS
    )  # completed when UBSCore emitted the outcome: its record's Kafka timestamp
    quiet = account_service_pb2.TransferInRequest(
        request_id="dep-9", user_id=1080, asset="BTC", amount="1", result_wait_ms=200
    )
    unanswered = stub.TransferIn(quiet, metadata=bearer(key))
    assert unanswered.transfer.status == account_service_pb2.TRANSFER_STATUS_PENDING


def test_get_transfer_answers_pending_for_transfers_accepted_but_not_yet_applied(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], transfers_topic: str, balance_events_topic: str, kafka_bootstrap: str,
) -> None:
    """Nothing applies transfers here (no UBSCore, no Settlement: the database has no row). A deposit this gateway
    accepted reads PENDING by request id; so does one another gateway wrote to the topic (seen by the follower);
    once UBSCore's outcome event is on balance.events the same read answers COMPLETED, before any database row;
    an id nobody accepted stays NOT_FOUND, and another user's transfer stays PERMISSION_DENIED for a read key."""
    operator, operator_id = make_key(5003, "transfer", "read")
    reader, reader_id = make_key(1090, "read")
    gateway = gateway_factory(transfer_topic=transfers_topic, balance_events_topic=balance_events_topic)
    eventually(lambda: {operator_id, reader_id} <= set(gateway.key_cache.keys) and gateway.balance_events.ready.is_set()
               and gateway.transfer_requests.ready.is_set(), timeout_ms=20_000)  # fmt: skip
    stub = account_service_pb2_grpc.AccountServiceStub(channel_factory(gateway.port))

    def get(request_id: str, user_id: int, key: str) -> account_service_pb2.Transfer:
        request = account_service_pb2.GetTransferRequest(request_id=request_id, user_id=user_id)
        return stub.GetTransfer(request, metadata=bearer(key)).transfer

    stub.TransferIn(account_service_pb2.TransferInRequest(request_id="dep-own", user_id=1090, asset="USDT",
                                                          amount="250.5"), metadata=bearer(operator))  # fmt: skip
    own = get("dep-own", 0, reader)  # the caller's own transfer (user from the read key)
    assert (own.status, own.user_id, own.asset, own.amount) == (
        account_service_pb2.TRANSFER_STATUS_PENDING, 1090, "USDT", "250.500000"
    )
    assert own.direction == account_service_pb2.TRANSFER_DIRECTION_IN
    other_gateway = balance_pb2.BalanceRequest(
        request_id="wd-elsewhere", user_id=1091, asset_id=1, amount_units=30_000_000,
        operation=balance_pb2.BALANCE_OPERATION_TRANSFER_OUT, ts_event_ns=55, producer_id="gateway-other",
        producer_seq=1,
    )
    producer = make_producer(kafka_bootstrap, client_id="other-gateway-test")
    producer.produce(transfers_topic, key=b"1091", value=other_gateway.SerializeToString())
    flush_or_raise(producer, timeout_s=30)

    def pending_elsewhere() -> bool:
        try:
            return get("wd-elsewhere", 1091, operator).status == account_service_pb2.TRANSFER_STATUS_PENDING
        except grpc.RpcError as error:  # NOT_FOUND until the follower has read the record; nothing else
            if error.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                raise
            return False

    eventually(pending_elsewhere, timeout_ms=20_000)
    elsewhere = get("wd-elsewhere", 1091, operator)
    assert (elsewhere.amount, elsewhere.direction, elsewhere.created_ns) == (
        "0.30000000", account_service_pb2.TRANSFER_DIRECTION_OUT, 55
    )
    deposited = balance_pb2.BalanceEvent(
        event_id=1, user_id=1090, asset_id=2, request_id="dep-own", ts_event_ns=99,
        type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED,
    )
    producer.produce(balance_events_topic, key=b"1090", value=deposited.SerializeToString(), timestamp=EMITTED_MS)
    flush_or_raise(producer, timeout_s=30)
    eventually(lambda: get("dep-own", 1090, operator).status == account_service_pb2.TRANSFER_STATUS_COMPLETED,
               timeout_ms=20_000)  # fmt: skip
    assert get("dep-own", 1090, operator).completed_ns == EMITTED_NS
    with pytest.raises(grpc.RpcError) as unknown:
        get("never-sent", 1090, reader)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as foreign:
        get("wd-elsewhere", 1091, reader)
    assert foreign.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]


def test_a_request_id_reused_for_a_different_transfer_is_refused(
    gateway_factory: Callable[..., Gateway], channel_factory: Callable[[int], grpc.Channel],
    make_key: Callable[..., tuple[str, str]], transfers_topic: str, balance_events_topic: str, kafka_bootstrap: str,
    cql_session: object, keyspace: str,
) -> None:
    """A request id is one transfer. Reused for another amount or direction: ALREADY_EXISTS (DUPLICATE_REQUEST)
    and nothing published, while a plain repeat goes through. Refused too when the only trace of the first transfer
    is UBSCore's outcome event (another gateway took it), or Settlement's row (stored long ago, no event will come
    again); a repeat of that stored transfer waiting for its outcome answers the stored COMPLETED, not PENDING.
    GetTransfer shows the transfer UBSCore applied, not this gateway's refused one."""
    operator, operator_id = make_key(5004, "transfer", "read")
    gateway = gateway_factory(transfer_topic=transfers_topic, balance_events_topic=balance_events_topic)
    eventually(lambda: operator_id in gateway.key_cache.keys and gateway.balance_events.ready.is_set(),
               timeout_ms=20_000)  # fmt: skip
    stub = account_service_pb2_grpc.AccountServiceStub(channel_factory(gateway.port))

    def deposit(request_id: str, amount: str, wait_ms: int = 0) -> account_service_pb2.Transfer:
        request = account_service_pb2.TransferInRequest(request_id=request_id, user_id=1095, asset="BTC",
                                                        amount=amount, result_wait_ms=wait_ms)  # fmt: skip
        return stub.TransferIn(request, metadata=bearer(operator)).transfer

    def refused(call: Callable[[], object]) -> bool:
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS  # type: ignore[attr-defined]
        return reason_of(error.value) == "REJECT_REASON_DUPLICATE_REQUEST"  # type: ignore[arg-type]

    assert deposit("dep-r", "1").status == account_service_pb2.TRANSFER_STATUS_PENDING
    assert deposit("dep-r", "1").status == account_service_pb2.TRANSFER_STATUS_PENDING  # a repeat: UBSCore dedupes
    assert refused(lambda: deposit("dep-r", "2"))
    assert refused(lambda: stub.TransferOut(account_service_pb2.TransferOutRequest(
        request_id="dep-r", user_id=1095, asset="BTC", amount="1"), metadata=bearer(operator)))  # fmt: skip
    deposit("dep-s", "7")
    records = read_all(kafka_bootstrap, transfers_topic, 3)  # one user: one partition, in order
    assert [(sent.request_id, sent.amount_units) for _, sent in records] == [
        ("dep-r", 100_000_000), ("dep-r", 100_000_000), ("dep-s", 700_000_000)]

    elsewhere = balance_pb2.BalanceEvent(
        event_id=3, user_id=1095, asset_id=1, request_id="dep-t", ts_event_ns=88,
        type=balance_pb2.BALANCE_EVENT_TYPE_DEPOSITED, delta_available_units=500_000_000,
        operation=balance_pb2.BALANCE_OPERATION_TRANSFER_IN, requested_amount_units=500_000_000,
    )
    producer = make_producer(kafka_bootstrap, client_id="reused-request-id-test")
    producer.produce(balance_events_topic, key=b"1095", value=elsewhere.SerializeToString(), timestamp=EMITTED_MS)
    flush_or_raise(producer, timeout_s=30)

    def refused_once_the_outcome_is_seen() -> bool:  # until the follower has read it, the deposit is PENDING
        try:
            deposit("dep-t", "1")
        except grpc.RpcError as error:
            return reason_of(error) == "REJECT_REASON_DUPLICATE_REQUEST"  # type: ignore[arg-type]
        return False

    eventually(refused_once_the_outcome_is_seen, timeout_ms=20_000)
    repeat = deposit("dep-t", "5", wait_ms=100)
    assert (repeat.status, repeat.completed_ns) == (account_service_pb2.TRANSFER_STATUS_COMPLETED, EMITTED_NS)
    read_back = stub.GetTransfer(account_service_pb2.GetTransferRequest(request_id="dep-t", user_id=1095),
                                 metadata=bearer(operator)).transfer  # fmt: skip
    assert (read_back.status, read_back.amount) == (account_service_pb2.TRANSFER_STATUS_COMPLETED, "5.00000000")

    for request_id in ("dep-old", "dep-older"):  # as Settlement stored them: no outcome event will come again
        cql_session.execute(  # type: ignore[attr-defined]
            f"INSERT INTO {keyspace}.transfers (user_id, request_id, asset_id, amount_units, direction, status, "
            "reason, event_id, created_ns, completed_ns) VALUES (1095, %s, 1, 300000000, %s, %s, 0, 1, 11, 12)",
            (request_id, account_service_pb2.TRANSFER_DIRECTION_IN, account_service_pb2.TRANSFER_STATUS_COMPLETED),
        )
    stored = deposit("dep-old", "3", wait_ms=100)
    assert (stored.status, stored.amount, stored.completed_ns) == (
        account_service_pb2.TRANSFER_STATUS_COMPLETED, "3.00000000", 12)
    assert refused(lambda: deposit("dep-older", "4", wait_ms=100))

    # A gateway that never saw a request id (restarted, or another took it) looks in Settlement's row first.
    fresh = gateway_factory(transfer_topic=transfers_topic, balance_events_topic=balance_events_topic)
    eventually(lambda: operator_id in fresh.key_cache.keys, timeout_ms=20_000)
    stub = account_service_pb2_grpc.AccountServiceStub(channel_factory(fresh.port))
    assert refused(lambda: deposit("dep-old", "4"))  # no wait asked: refused before publishing, not PENDING
    again = deposit("dep-old", "3")
    assert (again.status, again.completed_ns) == (account_service_pb2.TRANSFER_STATUS_COMPLETED, 12)  # not PENDING
