"""Settlement's matcher feed over real ZeroMQ sockets from a scripted feed server: a gap in the live feed is
filled from the replay endpoint; a tampered output halts the service with an error naming the shard and seq."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import zmq
from cassandra.cluster import Session

from common.engine_chain import output_hash
from exchange.v1 import common_pb2, engine_pb2
from tests.integration.matcher.conftest import eventually, free_port
from tests.integration.settlement.conftest import SettlementProcess, chain_seq, verify_stored_chain
from tests.integration.settlement.feed_server import FeedServer
from tests.unit.settlement.conftest import TS_BASE_NS, OutputMaker

pytestmark = pytest.mark.integration

SHARD_ID = 5
PRICE = 45_000_000_000
LOT = 10_000
EXIT_CHAIN_BROKEN = 2


def make_outputs(count: int) -> list[engine_pb2.EngineOutput]:
    """`count` sealed outputs of shard 5: alternating buys and sells around one price, so some trade."""
    maker = OutputMaker(shard_id=SHARD_ID)
    return [
        maker.place(order_id=index, user_id=1001 + index % 3,
                    side=common_pb2.SIDE_BUY if index % 2 else common_pb2.SIDE_SELL,
                    price_units=PRICE + (index % 5) * 10_000, qty_units=LOT, ts_ns=TS_BASE_NS + index)
        for index in range(1, count + 1)
    ]


@pytest.fixture
def feed_server(zmq_context: zmq.Context) -> Iterator[FeedServer]:
    server = FeedServer(zmq_context, SHARD_ID, f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}")
    yield server
    server.close()


def start_settlement(factory: Callable[..., SettlementProcess], keyspace: str, server: FeedServer) -> SettlementProcess:
    settlement = factory(keyspace=keyspace, shards=f"{SHARD_ID}={server.pub_endpoint}|{server.replay_endpoint}")
    settlement.start()
    return settlement


def test_gap_in_live_feed_is_filled_from_replay(
    feed_server: FeedServer, keyspace: str, session: Session, settlement_factory: Callable[..., SettlementProcess],
) -> None:
    """Outputs 20..29 never go out live; Settlement asks the replay endpoint for them and persists all 50."""
    outputs = make_outputs(50)
    settlement = start_settlement(settlement_factory, keyspace, feed_server)
    feed_server.store(outputs[:19])
    feed_server.publish(outputs[:19])
    eventually(lambda: chain_seq(session, SHARD_ID) == 19)
    feed_server.store(outputs[19:])
    feed_server.publish(outputs[29:])  # 20..29 are skipped on the live feed
    eventually(lambda: chain_seq(session, SHARD_ID) == 50)
    assert 20 in feed_server.replay_from_seqs
    verify_stored_chain(session, SHARD_ID, 50)
    assert settlement.process is not None
    assert settlement.process.poll() is None


def test_tampered_output_halts_naming_shard_and_seq(
    feed_server: FeedServer, keyspace: str, session: Session, settlement_factory: Callable[..., SettlementProcess],
) -> None:
    """Output 11 altered after sealing (its hash no longer matches): exit 2, 'shard 5' and 'seq 11' in the log,
    nothing of it or after it persisted."""
    outputs = make_outputs(15)
    tampered = outputs[10]
    tampered.order_updates[0].qty_units += LOT
    assert output_hash(tampered) != tampered.hash
    settlement = start_settlement(settlement_factory, keyspace, feed_server)
    feed_server.store(outputs[:10])
    feed_server.publish(outputs[:10])
    eventually(lambda: chain_seq(session, SHARD_ID) == 10)
    feed_server.store(outputs[10:])
    feed_server.publish(outputs[10:])
    assert settlement.wait_exit(timeout_s=60) == EXIT_CHAIN_BROKEN
    halted = [line for line in settlement.log_text().splitlines() if "FEED HALTED" in line and "settlement" in line]
    assert halted, settlement.log_text()[-2000:]
    assert "shard 5" in halted[-1]
    assert "seq 11" in halted[-1]
    assert chain_seq(session, SHARD_ID) == 10
    assert session.execute("SELECT seq FROM engine_outputs WHERE shard_id = 5 AND seq_block = 0 AND seq = 11").one() \
        is None
