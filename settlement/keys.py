"""How Settlement's partition keys, time buckets and write timestamps are derived (pure; shared with queries.py).

These numbers are part of the schema: rows already written sit in the partitions they give, so changing one
needs a migration that moves the data. Every table's key is documented in settlement/README.md.

- **Id blocks.** Tables keyed by a dense id (`event_id`, `order_id`, `trade_id`, `seq`) put 1,024 consecutive ids
  in one partition (`id >> 10`): partitions stay small and bounded, a lookup by id is one partition, and rows
  written together (consecutive ids) share a partition, so they go out in one batch.
- **Time buckets.** Lists by time are partitioned by (owner, bucket of `ts_event_ns`): a day per user (orders,
  fills, ledger) and an hour per market (public trades, far busier). `time_buckets` lists the buckets that hold
  rows, so a query never walks empty ones.
- **Write timestamps** (`USING TIMESTAMP`). A mutable row is written with a timestamp that grows with the
  history of the thing it describes, so replaying old inputs can never move it backwards and replaying anything
  twice writes the same cells with the same timestamps (identical dumps): a balance uses its `version`; a row
  from a matcher output uses `seq << 16 | index in the output`; a ledger or transfer row uses `event_id`; a refused
  order's rows use 1 (below anything the matcher's outputs write under the same key).
"""

from __future__ import annotations

ID_BLOCK_BITS = 10
NS_PER_HOUR = 3_600 * 10**9
NS_PER_DAY = 24 * NS_PER_HOUR
USER_BUCKET_NS = NS_PER_DAY
MARKET_BUCKET_NS = NS_PER_HOUR
OUTPUT_INDEX_BITS = 16
OUTPUT_ITEMS_MAX = 1 << OUTPUT_INDEX_BITS  # order updates or trades in one output, far above any real one
CQL_BIGINT_MAX = 2**63 - 1
REFUSED_ORDER_TIMESTAMP = 1

# Scopes of `time_buckets` (the first part of its partition key).
SCOPE_ORDERS = "orders"
SCOPE_FILLS = "fills"
SCOPE_LEDGER = "ledger"
SCOPE_MARKET_TRADES = "market_trades"


def id_block(entity_id: int) -> int:
    """The partition block of a dense id: 1,024 consecutive ids per partition."""
    assert 0 <= entity_id <= CQL_BIGINT_MAX, entity_id
    return entity_id >> ID_BLOCK_BITS


def user_bucket(ts_ns: int) -> int:
    """The day bucket of a user's orders, fills and ledger entries."""
    return ts_ns // USER_BUCKET_NS


def market_bucket(ts_ns: int) -> int:
    """The hour bucket of a market's public trades."""
    return ts_ns // MARKET_BUCKET_NS


def output_timestamp(seq: int, index: int = 0) -> int:
    """Write timestamp of a row from item `index` of matcher output `seq` (grows with seq, then index)."""
    assert 0 <= index < OUTPUT_ITEMS_MAX, index
    assert 1 <= seq <= CQL_BIGINT_MAX >> OUTPUT_INDEX_BITS, seq
    return seq << OUTPUT_INDEX_BITS | index
