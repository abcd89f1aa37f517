"""The whole chain for tests that read what Settlement stored: the real matcher and UBSCore of the `stack` fixture,
a real Settlement process writing into the gateway's keyspace, and a real gateway wired to all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.app import Gateway

from ..settlement.conftest import SettlementProcess
from ..ubscore.conftest import Stack
from .conftest import eventually


def start_full_stack(
    stack: Stack, keyspace: str, settlement_factory: Callable[..., SettlementProcess],
    gateway_factory: Callable[..., Gateway], key_ids: Iterable[str],
) -> Gateway:
    """Start matcher, UBSCore, Settlement and a gateway; return the gateway once it knows `key_ids` and is connected
    to UBSCore, the matcher feed and balance.events."""
    stack.matcher.start()
    stack.ubscore.start()
    settlement = settlement_factory(keyspace=keyspace, shards=stack.ubscore.env["UBSCORE_FEEDS"],
                                    balance_topic=stack.topics.events)
    settlement.start()
    gateway = gateway_factory(
        matcher_pub_endpoint=stack.matcher.env["MATCHER_PUB_ENDPOINT"],
        matcher_replay_endpoint=stack.matcher.env["MATCHER_REPLAY_ENDPOINT"], matcher_shard_id=0,
        aeron_dir=stack.aeron_dir, ubscore_stream_id=stack.request_stream_id,
        ubscore_response_stream_id=stack.request_stream_id + 1_000, transfer_topic=stack.topics.operations,
        balance_events_topic=stack.topics.events,
    )
    wanted = set(key_ids)
    eventually(lambda: wanted <= set(gateway.key_cache.keys)
               and gateway.ubscore.connected.is_set() and gateway.market_feed.is_ready()  # type: ignore[union-attr]
               and gateway.balance_events.ready.is_set(), timeout_ms=60_000)  # type: ignore[union-attr]
    return gateway
