"""Operator dump of every balance from UBSCore's state directory (snapshot + WAL), running or stopped.

Read-only: it never repairs, truncates or writes anything, so it is safe next to a running UBSCore (a batch being
written at the end of the WAL is left out). It rebuilds the state exactly as recovery does (same core, same
records), checks the money rules, and prints one line per account:

    python -m ubscore dump                    # UBSCORE_STATE_DIR or .local/ubscore
    python -m ubscore dump --state-dir DIR --json

Exit status 0, or 1 when a money rule is broken (the problems are printed to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.errors import WalCorrupt
from common.state_dir import snapshot_dir_of, wal_dir_of
from common.wal import read_directory
from ubscore.core import UbsCore
from ubscore.state import Positions, apply_record, load_snapshot_into


def rebuild(core: UbsCore, state_dir: Path) -> dict[str, int]:
    """Load the newest snapshot and the WAL after it into `core`; where the state stands."""
    positions = Positions()
    snapshot_lsn, _ = load_snapshot_into(core, positions, snapshot_dir_of(state_dir))
    last_lsn, records = snapshot_lsn, 0
    for record in read_directory(wal_dir_of(state_dir), snapshot_lsn + 1):
        if record.lsn != last_lsn + 1:  # a running UBSCore trimmed its WAL between our snapshot and this read
            raise WalCorrupt(f"WAL jumps from lsn {last_lsn} to {record.lsn}: the state moved on, run the dump again")
        apply_record(core, positions, record.payload)
        last_lsn, records = record.lsn, records + 1
    return {"snapshot_lsn": snapshot_lsn, "wal_records": records, "last_lsn": last_lsn}


def main(argv: list[str], core: UbsCore, default_state_dir: Path) -> int:
    """Parse the dump options, rebuild, print; 1 if a money rule is broken."""
    parser = argparse.ArgumentParser(prog="python -m ubscore dump", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--state-dir", type=Path, default=default_state_dir)
    parser.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    args = parser.parse_args(argv)
    where = rebuild(core, args.state_dir)
    summary = {
        **where,
        "last_event_id": core.ledger.last_event_id,
        "last_order_id": core.counters.last_order_id,
        "last_command_seq": core.counters.last_command_seq,
        "open_orders": len(core.orders),
        "feed_positions": {str(shard): seq for shard, (seq, _) in sorted(core.feed_positions.items())},
    }
    rows = list(core.ledger.rows())
    if args.json:
        accounts = [dict(zip(("user_id", "asset_id", "available_units", "frozen_units", "version"), row, strict=True))
                    for row in rows]  # fmt: skip
        print(json.dumps({"summary": summary, "accounts": accounts}, sort_keys=True))
    else:
        print("# " + " ".join(f"{key}={value}" for key, value in summary.items()))
        print("user_id\tasset_id\tavailable_units\tfrozen_units\tversion")
        for row in rows:
            print("\t".join(str(value) for value in row))
    problems = core.invariant_problems()
    for problem in problems:
        print(f"MONEY RULE BROKEN: {problem}", file=sys.stderr)
    return 1 if problems else 0
