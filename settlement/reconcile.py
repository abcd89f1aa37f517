"""`python -m settlement reconcile`: the ledger, the balances table and (optionally) UBSCore's dump must agree.

For every (user, asset):
- the sums of `delta_available_units` and `delta_frozen_units` over its balance-changing ledger events equal
  `available_units` and `frozen_units` in `user_balances`;
- its versions in the ledger are exactly 1..N (none missing, none doubled) and `user_balances.version` is N;
- with `--ubscore-dump FILE`, UBSCore's own balances equal `user_balances` (available, frozen, version).

The dump is the JSON of `python -m ubscore dump --json`: `{"summary": {"last_event_id": 9, ...}, "accounts":
[{"user_id": 1001, "asset_id": 2, "available_units": 5, "frozen_units": 0, "version": 3}, ...]}`; with
`summary.last_event_id` the ledger must also hold exactly the events 1..last_event_id (none missing at the tail).
Both tables are read by paging through the whole table (a scan: an operator's check, not a serving query).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cassandra.cluster import Session
from cassandra.query import SimpleStatement

SCAN_PAGE_ROWS = 5_000
MISMATCHES_SHOWN_MAX = 50

BalanceKey = tuple[int, int]


@dataclass(slots=True)
class Reconciliation:
    """Outcome: what was compared and every disagreement found."""

    ledger_events: int = 0
    max_event_id: int = 0
    balances: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing disagrees."""
        return not self.mismatches


def reconcile(session: Session, *, ubscore_dump: Path | None = None) -> Reconciliation:
    """Compare the ledger with user_balances (and with UBSCore's dump when given)."""
    result = Reconciliation()
    sums: dict[BalanceKey, list[int]] = {}
    versions: dict[BalanceKey, Counter[int]] = {}
    scan = SimpleStatement("SELECT event_id, user_id, asset_id, version, delta_available_units, delta_frozen_units "
                           "FROM balance_ledger", fetch_size=SCAN_PAGE_ROWS)
    for row in session.execute(scan):
        result.ledger_events += 1
        result.max_event_id = max(result.max_event_id, row.event_id)
        if not row.version:
            continue  # a refusal changed nothing
        key = (row.user_id, row.asset_id)
        total = sums.setdefault(key, [0, 0])
        total[0] += row.delta_available_units
        total[1] += row.delta_frozen_units
        versions.setdefault(key, Counter())[row.version] += 1
    table: dict[BalanceKey, tuple[int, int, int]] = {}
    scan = SimpleStatement("SELECT user_id, asset_id, available_units, frozen_units, version FROM user_balances",
                           fetch_size=SCAN_PAGE_ROWS)
    for row in session.execute(scan):
        table[(row.user_id, row.asset_id)] = (row.available_units, row.frozen_units, row.version)
    result.balances = len(table)
    for key in sorted(set(sums) | set(table)):
        _compare(result, key, sums.get(key), versions.get(key, Counter()), table.get(key))
    if ubscore_dump is not None:
        balances, last_event_id = load_dump(ubscore_dump)
        _compare_dump(result, table, balances)
        if last_event_id is not None and (result.ledger_events, result.max_event_id) != (last_event_id,) * 2:
            result.mismatches.append(f"ledger holds {result.ledger_events} events up to id {result.max_event_id}; "
                                     f"UBSCore emitted 1..{last_event_id}")
    return result


def _compare(
    result: Reconciliation, key: BalanceKey, sums: list[int] | None, versions: Counter[int],
    row: tuple[int, int, int] | None,
) -> None:
    user_id, asset_id = key
    if row is None or sums is None:
        result.mismatches.append(f"user {user_id} asset {asset_id}: in {'ledger' if row is None else 'balances'} "
                                 f"only (ledger sums {sums}, balance {row})")
        return
    available, frozen, version = row
    if (sums[0], sums[1]) != (available, frozen):
        result.mismatches.append(f"user {user_id} asset {asset_id}: ledger sums available {sums[0]} frozen "
                                 f"{sums[1]} != balance available {available} frozen {frozen}")
    doubled = sorted(number for number, count in versions.items() if count > 1)
    missing = sorted(set(range(1, version + 1)) - set(versions))
    if doubled or missing or max(versions, default=0) != version:
        result.mismatches.append(f"user {user_id} asset {asset_id}: balance version {version}, ledger versions "
                                 f"missing {missing[:10]} doubled {doubled[:10]} max {max(versions, default=0)}")


def load_dump(path: Path) -> tuple[dict[BalanceKey, tuple[int, int, int]], int | None]:
    """UBSCore's balances and last event id from its dump file (see the module docstring)."""
    document = json.loads(path.read_text())
    balances = {(int(entry["user_id"]), int(entry["asset_id"])):
                (int(entry["available_units"]), int(entry["frozen_units"]), int(entry["version"]))
                for entry in document["accounts"]}
    last_event_id = document.get("summary", {}).get("last_event_id")
    return balances, None if last_event_id is None else int(last_event_id)


def _compare_dump(
    result: Reconciliation, table: dict[BalanceKey, tuple[int, int, int]],
    dump: dict[BalanceKey, tuple[int, int, int]],
) -> None:
    for key in sorted(set(table) | set(dump)):
        ours, theirs = table.get(key), dump.get(key)
        if theirs is not None and ours is None and theirs[2] == 0:
            continue  # an untouched zero balance UBSCore lists but never changed
        if ours != theirs:
            result.mismatches.append(f"user {key[0]} asset {key[1]}: user_balances {ours} != UBSCore dump {theirs}")


def report(result: Reconciliation) -> str:
    """A short human-readable summary."""
    lines = [f"ledger events {result.ledger_events}, balances {result.balances}, "
             f"mismatches {len(result.mismatches)}"]
    lines += [f"  {line}" for line in result.mismatches[:MISMATCHES_SHOWN_MAX]]
    return "\n".join(lines)
