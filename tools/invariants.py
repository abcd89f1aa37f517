"""`python -m tools.invariants`: check that the whole exchange agrees with itself; exit 1 on any difference.

What it checks (each a row of the printed table):

- **money**: per asset, the sum of every account's available + frozen in UBSCore's dump, the sum of every delta in
  the ledger (`balance_ledger`), the sum of `user_balances`, and deposits minus withdrawals (the `transfers` table,
  completed ones) are one and the same number: trades and fees only move money between accounts.
- **reconcile**: settlement/reconcile.py: per account, ledger sums = `user_balances` = UBSCore's dump, versions
  dense 1..N, the ledger holds exactly events 1..last_event_id.
- **trades**: every trade of every stored engine output is in `settled_trades` exactly once (and nothing else is),
  with the same parties and quantities, and in both users' histories (`trades_by_user`: taker row and maker row).
- **chain shard N**: `engine_outputs` of shard N verify from the genesis hash, seq dense from 1, and end at the
  `(last_seq, last_hash)` recorded in `chain_state`.
- **replay shard N**: the commands of Kafka `orders` (its partitions, in the interleaving the stored outputs record)
  fed to a fresh matching engine give the stored chain hash for hash; every command the chain skipped, and every
  command after its last input, must be one the matcher skips too (undecodable or a redelivery): nothing lost.
- **orders coverage**: partitions of `orders` that no stored output comes from hold nothing a matcher would apply.

It reads a quiescent system: with traffic in flight, Settlement or the matcher lag and the sums differ, so
`--settle-timeout-ms` re-runs the whole check until it passes or the time is up (the last result is printed).
Defaults come from the running stack (`STACK_HOME/run/stack.json`: keyspace, topics, UBSCore's state dir).

    python -m tools.invariants                                  # the stack `make up` started
    python -m tools.invariants --keyspace k --orders-topic orders.x --ubscore-dump dump.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cassandra.cluster import Session
from cassandra.query import SimpleStatement
from confluent_kafka import Consumer, TopicPartition

from common.engine_chain import GENESIS_HASH, Chain, link_problem
from common.enums import BalanceEventType
from common.kafka import make_consumer
from common.markets import MarketCatalog, load_catalog
from exchange.v1 import account_service_pb2, engine_pb2
from matcher.codec import decode_command, parse_order_command
from matcher.engine import Engine
from matcher.errors import InputRejected
from matcher.execution import execute
from matcher.state import InputPositions
from settlement.cql import connect
from settlement.reconcile import load_dump, reconcile
from tools.stack_config import running_stack

SCAN_PAGE_ROWS = 5_000
PROBLEMS_SHOWN_MAX = 20
KAFKA_POLL_TIMEOUT_S = 1.0
KAFKA_READ_DEADLINE_S = 60.0
SETTLE_POLL_MS = 500
TRANSFER_COMPLETED = account_service_pb2.TRANSFER_STATUS_COMPLETED
TRANSFER_IN = account_service_pb2.TRANSFER_DIRECTION_IN
TRANSFER_OUT = account_service_pb2.TRANSFER_DIRECTION_OUT
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(slots=True)
class Check:
    """One row of the report: what was checked, how much of it, and every difference found."""

    name: str
    checked: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.problems


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the system's state is: CQL, Kafka `orders`, UBSCore's dump (a file, or its state dir to dump)."""

    session: Session
    kafka_bootstrap: str
    orders_topic: str
    catalog: MarketCatalog
    ubscore_dump: Path | None = None
    ubscore_state_dir: Path | None = None


def _scan(session: Session, cql: str) -> Iterator[object]:
    return iter(session.execute(SimpleStatement(cql, fetch_size=SCAN_PAGE_ROWS)))


def dump_ubscore(state_dir: Path, target: Path) -> Path:
    """Run `python -m ubscore dump --json` on `state_dir` into `target` (read-only, safe beside a running UBSCore)."""
    result = subprocess.run([sys.executable, "-m", "ubscore", "dump", "--json", "--state-dir", str(state_dir)],
                            capture_output=True, text=True, check=False, cwd=REPO_ROOT, env=os.environ.copy())
    if result.returncode != 0:  # 1: a money rule broken inside UBSCore; still a document, but say so loudly
        print(result.stderr, file=sys.stderr)
    if not result.stdout.strip():
        raise RuntimeError(f"ubscore dump of {state_dir} printed nothing: {result.stderr[-2000:]}")
    target.write_text(result.stdout)
    return target


# -- money ----------------------------------------------------------------------------------------------------


def check_money(session: Session, dump: Path, catalog: MarketCatalog) -> Check:
    """Per asset: UBSCore's total = ledger total = user_balances total = deposits - withdrawals."""
    dump_totals: Counter[int] = Counter()
    for (_, asset_id), (available, frozen, _) in load_dump(dump)[0].items():
        dump_totals[asset_id] += available + frozen
    ledger_totals: Counter[int] = Counter()
    ledger_transfers: Counter[int] = Counter()
    for row in _scan(session, "SELECT asset_id, type, delta_available_units, delta_frozen_units FROM balance_ledger"):
        ledger_totals[row.asset_id] += row.delta_available_units + row.delta_frozen_units
        if row.type in (BalanceEventType.DEPOSITED, BalanceEventType.WITHDRAWN):
            ledger_transfers[row.asset_id] += row.delta_available_units + row.delta_frozen_units
    balance_totals: Counter[int] = Counter()
    for row in _scan(session, "SELECT asset_id, available_units, frozen_units FROM user_balances"):
        balance_totals[row.asset_id] += row.available_units + row.frozen_units
    transfers: Counter[int] = Counter()
    transfer_count = 0
    for row in _scan(session, "SELECT asset_id, amount_units, direction, status FROM transfers"):
        transfer_count += 1
        if row.status == TRANSFER_COMPLETED:
            transfers[row.asset_id] += row.amount_units if row.direction == TRANSFER_IN else -row.amount_units
    names = {asset.asset_id: name for name, asset in catalog.assets.items()}
    check = Check("money", f"{len(names)} assets: UBSCore = ledger = user_balances = {transfer_count} transfers")
    for asset_id in sorted(set(names) | set(dump_totals) | set(ledger_totals) | set(balance_totals) | set(transfers)):
        values = {"ubscore": dump_totals[asset_id], "ledger": ledger_totals[asset_id],
                  "user_balances": balance_totals[asset_id], "transfers in-out": transfers[asset_id],
                  "ledger deposits-withdrawals": ledger_transfers[asset_id]}
        if len(set(values.values())) > 1:
            shown = ", ".join(f"{key} {value}" for key, value in values.items())
            check.problems.append(f"asset {names.get(asset_id, asset_id)}: {shown}")
    return check


def check_reconcile(session: Session, dump: Path) -> Check:
    """settlement/reconcile.py: per account, ledger sums = user_balances = UBSCore's dump; versions dense."""
    result = reconcile(session, ubscore_dump=dump)
    return Check("reconcile", f"{result.ledger_events} ledger events, {result.balances} balances vs UBSCore",
                 list(result.mismatches))


# -- engine outputs: chains, trades, replay -------------------------------------------------------------------


def stored_outputs(session: Session) -> dict[int, list[engine_pb2.EngineOutput]]:
    """Every stored engine output per shard, in seq order (decoded from `engine_outputs.output`)."""
    shards: dict[int, list[engine_pb2.EngineOutput]] = defaultdict(list)
    for row in _scan(session, "SELECT shard_id, seq, output FROM engine_outputs"):
        output = engine_pb2.EngineOutput.FromString(row.output)
        shards[row.shard_id].append(output)
    for outputs in shards.values():
        outputs.sort(key=lambda output: output.seq)
    return dict(shards)


def check_chain(session: Session, shard_id: int, outputs: list[engine_pb2.EngineOutput]) -> Check:
    """Every link of the shard's stored chain from the genesis hash, ending at chain_state's head."""
    check = Check(f"chain shard {shard_id}", f"{len(outputs)} engine_outputs from genesis to chain_state")
    last_seq, last_hash = 0, GENESIS_HASH
    for output in outputs:
        problem = link_problem(output, shard_id=shard_id, last_seq=last_seq, last_hash=last_hash)
        if problem:
            check.problems.append(f"engine_outputs: {problem}")
            break
        last_seq, last_hash = output.seq, output.hash
    rows = list(session.execute("SELECT last_seq, last_hash FROM chain_state WHERE source = %s",
                                [f"engine.{shard_id}"]))
    if not rows:
        check.problems.append(f"chain_state has no row engine.{shard_id}")
    elif (rows[0].last_seq, rows[0].last_hash) != (last_seq, last_hash):
        check.problems.append(f"chain_state head seq {rows[0].last_seq} hash {(rows[0].last_hash or b'').hex()[:16]}"
                              f" != verified end seq {last_seq} hash {last_hash.hex()[:16]}")
    return check


def check_trades(session: Session, shards: dict[int, list[engine_pb2.EngineOutput]]) -> Check:
    """Each trade of the stored outputs in settled_trades once (same parties, quantities) and in both histories."""
    expected = {}
    doubled: list[int] = []
    for outputs in shards.values():
        for output in outputs:
            for trade in output.trades:
                if trade.trade_id in expected:
                    doubled.append(trade.trade_id)
                expected[trade.trade_id] = (trade.maker_user_id, trade.taker_user_id, trade.qty_units,
                                            trade.price_units)
    settled: dict[int, tuple[int, int, int, int]] = {}
    for row in _scan(session, "SELECT trade_id, maker_user_id, taker_user_id, qty_units, price_units "
                              "FROM settled_trades"):
        settled[row.trade_id] = (row.maker_user_id, row.taker_user_id, row.qty_units, row.price_units)
    history: Counter[tuple[int, int, bool]] = Counter()
    for row in _scan(session, "SELECT user_id, trade_id, is_maker FROM trades_by_user"):
        history[(row.user_id, row.trade_id, row.is_maker)] += 1
    check = Check("trades", f"{len(expected)} trades: settled_trades once, trades_by_user both sides")
    check.problems += [f"trade {trade_id} twice in the engine outputs" for trade_id in doubled]
    for trade_id in sorted(set(expected) | set(settled)):
        want, got = expected.get(trade_id), settled.get(trade_id)
        if want != got:
            check.problems.append(f"trade {trade_id}: engine output (maker, taker, qty, price) {want} "
                                  f"!= settled_trades {got}")
        if want is None:
            continue
        for user_id, is_maker in ((want[0], True), (want[1], False)):
            count = history[(user_id, trade_id, is_maker)]
            if count != 1:
                side = "maker" if is_maker else "taker"
                check.problems.append(f"trade {trade_id}: {count} rows in trades_by_user of {side} {user_id}")
    extra = {key for key in history if key[1] not in expected}
    check.problems += [f"trades_by_user row {key} of no engine trade" for key in sorted(extra)]
    return check


def read_topic(bootstrap: str, topic: str) -> dict[int, list[tuple[int, bytes]]]:
    """Every retained (offset, value) of each partition of `topic`, read up to its high watermark now."""
    consumer: Consumer = make_consumer(bootstrap, client_id="invariants", extra={"auto.offset.reset": "earliest"})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions}
        records: dict[int, list[tuple[int, bytes]]] = {p: [] for p in partitions}
        wanted = {p: high for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in wanted])
        deadline_s = time.monotonic() + KAFKA_READ_DEADLINE_S
        while any(records[p][-1][0] + 1 < wanted[p] if records[p] else True for p in wanted):
            if time.monotonic() > deadline_s:
                raise TimeoutError(f"{topic}: not read up to {wanted} within {KAFKA_READ_DEADLINE_S} s")
            for message in consumer.consume(num_messages=1_000, timeout=KAFKA_POLL_TIMEOUT_S):
                if message.error() is None and message.offset() < wanted[message.partition()]:
                    records[message.partition()].append((message.offset(), message.value() or b""))
        return records
    finally:
        consumer.close()


def check_replay(
    shard_id: int, outputs: list[engine_pb2.EngineOutput], records: dict[int, list[tuple[int, bytes]]],
    catalog: MarketCatalog,
) -> Check:
    """Feed the shard's commands from Kafka to a fresh engine in the stored interleaving; compare every hash.

    The matcher skips a record it cannot decode and a redelivery (command_seq not above the last applied from that
    partition) without an output (matcher/service.py `_apply_one`); every other record must give the next output.
    """
    partitions = tuple(sorted({output.input.kafka_partition for output in outputs}))
    check = Check(f"replay shard {shard_id}",
                  f"{len(outputs)} outputs re-made from orders partitions {list(partitions)}")
    engine, chain = Engine(catalog.markets.values()), Chain(shard_id=shard_id)
    positions = InputPositions.fresh(partitions)
    by_offset = {p: dict(records.get(p, [])) for p in partitions}
    cursors = {p: min(by_offset[p], default=0) for p in partitions}
    for stored in outputs:
        partition, offset = stored.input.kafka_partition, stored.input.kafka_offset
        for skipped in range(cursors[partition], offset):  # what the matcher read before it without an output
            raw = by_offset[partition].get(skipped)
            if raw is not None and _would_apply(raw, partition, positions):
                check.problems.append(f"seq {stored.seq}: orders[{partition}]@{skipped} gives an output "
                                      f"but the chain skipped it")
                return check
        cursors[partition] = offset + 1
        raw = by_offset[partition].get(offset)
        if raw is None:
            check.problems.append(f"seq {stored.seq}: its input orders[{partition}]@{offset} is not in Kafka")
            return check
        message = parse_order_command(raw)
        if not positions.is_new(partition, message.command_seq):
            check.problems.append(f"seq {stored.seq}: orders[{partition}]@{offset} is a redelivery the matcher skips")
            return check
        executed = execute(engine, decode_command(message), message, partition=partition, offset=offset)
        _, replayed_hash, _ = chain.seal_body(executed.body)
        if replayed_hash != stored.hash:
            check.problems.append(f"seq {stored.seq}: replayed hash {replayed_hash.hex()[:16]} != stored "
                                  f"{stored.hash.hex()[:16]} (input orders[{partition}]@{offset})")
            return check
    for partition in partitions:  # after the chain's last input of each partition: nothing the matcher would apply
        unmatched = [offset for offset, raw in sorted(by_offset[partition].items())
                     if offset >= cursors[partition] and _would_apply(raw, partition, positions)]
        if unmatched:
            check.problems.append(f"orders[{partition}]: {len(unmatched)} commands from offset {unmatched[0]} on "
                                  f"are in no stored output (lost, or not matched and persisted yet)")
    return check


def check_orders_coverage(shards: dict[int, list[engine_pb2.EngineOutput]],
                          records: dict[int, list[tuple[int, bytes]]]) -> Check:
    """Partitions of `orders` no shard's stored outputs come from must hold nothing a matcher would apply."""
    covered = {output.input.kafka_partition for outputs in shards.values() for output in outputs}
    others = sorted(set(records) - covered)
    count = sum(len(records[partition]) for partition in others)
    check = Check("orders coverage", f"{count} records in partitions {others} no chain reads: none to match")
    for partition in others:
        positions = InputPositions.fresh((partition,))
        unmatched = [offset for offset, raw in records[partition] if _would_apply(raw, partition, positions)]
        if unmatched:
            check.problems.append(f"orders[{partition}]: {len(unmatched)} commands (from offset {unmatched[0]}) "
                                  f"in no stored output of any shard")
    return check


def _would_apply(raw: bytes, partition: int, positions: InputPositions) -> bool:
    try:
        message = parse_order_command(raw)
        decode_command(message)
    except InputRejected:
        return False
    return positions.is_new(partition, message.command_seq)


# -- all together ---------------------------------------------------------------------------------------------


def run_checks(sources: Sources) -> list[Check]:
    """Every check once, in the order of the module docstring."""
    with tempfile.TemporaryDirectory(prefix="invariants-") as scratch:
        dump = sources.ubscore_dump
        if dump is None:
            if sources.ubscore_state_dir is None:
                raise ValueError("give UBSCore's dump file or its state dir")
            dump = dump_ubscore(sources.ubscore_state_dir, Path(scratch) / "dump.json")
        checks = [check_money(sources.session, dump, sources.catalog), check_reconcile(sources.session, dump)]
    shards = stored_outputs(sources.session)
    checks.append(check_trades(sources.session, shards))
    records = read_topic(sources.kafka_bootstrap, sources.orders_topic)
    for shard_id, outputs in sorted(shards.items()):
        checks.append(check_chain(sources.session, shard_id, outputs))
        checks.append(check_replay(shard_id, outputs, records, sources.catalog))
    checks.append(check_orders_coverage(shards, records))
    return checks


def check_until_settled(sources: Sources, *, settle_timeout_ms: int) -> list[Check]:
    """run_checks, again every SETTLE_POLL_MS while something differs, until `settle_timeout_ms` has passed."""
    deadline_ns = time.monotonic_ns() + settle_timeout_ms * 1_000_000
    while True:
        checks = run_checks(sources)
        if all(check.ok for check in checks) or time.monotonic_ns() >= deadline_ns:
            return checks
        time.sleep(SETTLE_POLL_MS / 1_000)  # polling a condition with a deadline: in-flight work settles


def table(checks: Iterable[Check]) -> str:
    """The report: one row per check (name, result, what was checked), then each difference."""
    checks = list(checks)
    width = max(len(check.name) for check in checks)
    lines = [f"{'check':<{width}}  result  checked", f"{'-' * width}  ------  -------"]
    for check in checks:
        lines.append(f"{check.name:<{width}}  {'ok' if check.ok else 'FAIL':<6}  {check.checked}")
    for check in checks:
        for problem in check.problems[:PROBLEMS_SHOWN_MAX]:
            lines.append(f"{check.name}: {problem}")
        if len(check.problems) > PROBLEMS_SHOWN_MAX:
            lines.append(f"{check.name}: ... {len(check.problems) - PROBLEMS_SHOWN_MAX} more")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse options (defaults from the running stack), check, print the table; 0 all ok, 1 any difference."""
    stack = running_stack(os.environ)
    parser = argparse.ArgumentParser(prog="python -m tools.invariants", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cql-hosts", default=",".join(stack.cql_contact_points) if stack else "127.0.0.1")
    parser.add_argument("--cql-port", type=int, default=stack.cql_port if stack else 9042)
    parser.add_argument("--keyspace", default=stack.cql_keyspace if stack else "exchange")
    parser.add_argument("--kafka-bootstrap", default=stack.kafka_bootstrap if stack else "127.0.0.1:9092")
    parser.add_argument("--orders-topic", default=stack.topic("orders") if stack else "orders")
    parser.add_argument("--ubscore-dump", type=Path, help="UBSCore's balances (`python -m ubscore dump --json`)")
    parser.add_argument("--ubscore-state-dir", type=Path, default=stack.home / "ubscore" if stack else None,
                        help="dump UBSCore from here when no --ubscore-dump is given")
    parser.add_argument("--settle-timeout-ms", type=int, default=10_000,
                        help="re-check until everything agrees or this much time has passed (0: check once)")
    args = parser.parse_args(argv)
    session = connect([host for host in args.cql_hosts.split(",") if host], args.cql_port, args.keyspace)
    try:
        sources = Sources(session=session, kafka_bootstrap=args.kafka_bootstrap, orders_topic=args.orders_topic,
                          catalog=load_catalog(), ubscore_dump=args.ubscore_dump,
                          ubscore_state_dir=args.ubscore_state_dir)
        checks = check_until_settled(sources, settle_timeout_ms=args.settle_timeout_ms)
    finally:
        session.cluster.shutdown()
    print(f"keyspace {args.keyspace}, topic {args.orders_topic}")
    print(table(checks))
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
