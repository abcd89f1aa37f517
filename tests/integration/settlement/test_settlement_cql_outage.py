"""The CQL server unreachable for a while (a TCP proxy between Settlement and the shared Cassandra, killed and
started again on the same port): Settlement retries with backoff, drops nothing, and catches up afterwards."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable

import pytest
from cassandra.cluster import Session

from settlement.cql import connect
from settlement.reconcile import reconcile
from settlement.rows import Row
from settlement.writer import CqlWriter
from tests.integration.matcher.conftest import MatcherProcess, OrdersProducer, eventually
from tests.integration.matcher.orderflow import OrderFlow
from tests.integration.settlement.balanceflow import BalanceFlow
from tests.integration.settlement.conftest import (
    EventsProducer,
    ProxyProcess,
    SettlementProcess,
    chain_seq,
    count_rows,
    events_checkpointed,
    shards_setting,
    verify_stored_chain,
)
from tools.infra.layout import HOST

pytestmark = pytest.mark.integration

OUTAGE_ATTEMPTS_MIN = 6
# Every retry of the service logs one of these: batches of writes, a statement being prepared, or a read (the
# makers' creation times); which one an outage hits first depends on timing, so all count.
RETRY_LINE = re.compile(r"CQL(?:: \d+ of \d+ batches| [\w ]+) failed \(")


def retry_lines(settlement: SettlementProcess) -> int:
    """How many retry warnings the service has logged so far."""
    return len(RETRY_LINE.findall(settlement.log_text()))


def test_cql_down_for_a_while_then_back_nothing_dropped(
    matcher: MatcherProcess, orders_producer: OrdersProducer, events_producer: EventsProducer, balance_topic: str,
    keyspace: str, session: Session, settlement_factory: Callable[..., SettlementProcess], cql_proxy: ProxyProcess,
) -> None:
    """Inputs arriving while CQL is down are written once it is back; retries are counted; reconcile is clean."""
    matcher.start()
    shard_id = int(matcher.env["MATCHER_SHARD_ID"])
    settlement = settlement_factory(keyspace=keyspace, shards=shards_setting(matcher), balance_topic=balance_topic,
                                    cql_port=cql_proxy.listen_port)
    settlement.start()
    orders, balances = OrderFlow(seed=31), BalanceFlow(seed=32)
    orders_producer.send(orders.batch(200))
    events_producer.send(balances.batch(100))
    eventually(lambda: chain_seq(session, shard_id) == 200, timeout_ms=60_000)

    cql_proxy.kill()
    orders_producer.send(orders.batch(300))
    events_producer.send(balances.batch(200))
    # Down for a while: at least six failed attempts in a row (backoff 0.05 s doubling: about 3 s).
    eventually(lambda: retry_lines(settlement) >= OUTAGE_ATTEMPTS_MIN, timeout_ms=60_000)
    assert chain_seq(session, shard_id) < 500  # nothing more got through while the proxy was gone
    assert settlement.process is not None
    assert settlement.process.poll() is None  # still running, retrying
    cql_proxy.start()

    eventually(lambda: chain_seq(session, shard_id) == 500, timeout_ms=120_000)
    eventually(lambda: events_checkpointed(session, balance_topic) == 300, timeout_ms=60_000)
    assert count_rows(session, "balance_ledger") == 300
    verify_stored_chain(session, shard_id, 500)
    result = reconcile(session)
    assert result.ok, result.mismatches
    assert settlement.signal(signal.SIGTERM) == 0


def test_cql_silent_for_longer_than_the_request_timeout_then_back_nothing_dropped(
    events_producer: EventsProducer, balance_topic: str, keyspace: str, session: Session,
    settlement_factory: Callable[..., SettlementProcess], cql_proxy: ProxyProcess,
) -> None:
    """The proxy frozen (SIGSTOP): writes time out instead of failing fast; after SIGCONT all events are written."""
    settlement = settlement_factory(keyspace=keyspace, shards="", balance_topic=balance_topic,
                                    cql_port=cql_proxy.listen_port)
    settlement.start()
    balances = BalanceFlow(seed=33)
    events_producer.send(balances.batch(100))
    eventually(lambda: count_rows(session, "balance_ledger") == 100, timeout_ms=60_000)
    cql_proxy.pause()
    events_producer.send(balances.batch(200))
    eventually(lambda: retry_lines(settlement) >= 1, timeout_ms=60_000)  # after the request timeout
    assert count_rows(session, "balance_ledger") == 100
    cql_proxy.resume()
    eventually(lambda: events_checkpointed(session, balance_topic) == 300, timeout_ms=120_000)
    assert count_rows(session, "balance_ledger") == 300
    result = reconcile(session)
    assert result.ok, result.mismatches
    assert settlement.signal(signal.SIGTERM) == 0


def test_writer_retries_preparing_a_new_statement_while_the_server_is_silent(
    keyspace: str, session: Session, cql_proxy: ProxyProcess,
) -> None:
    """A column set first seen while CQL is frozen: the prepare times out, is retried after the backoff (here the
    proxy is resumed during that backoff), and the row is written."""
    backoffs: list[float] = []

    def resume_then_sleep(seconds: float) -> None:
        backoffs.append(seconds)
        cql_proxy.resume()
        time.sleep(seconds)

    proxied = connect([HOST], cql_proxy.listen_port, keyspace)
    try:
        writer = CqlWriter(proxied, sleep=resume_then_sleep)
        cql_proxy.pause()
        writer.write([Row("chain_state", {"source": "kafka:probe:0", "next_offset": 7}, 7)])
    finally:
        proxied.cluster.shutdown()
    assert backoffs, "no retry happened"
    assert session.execute("SELECT next_offset FROM chain_state WHERE source = 'kafka:probe:0'").one().next_offset == 7
