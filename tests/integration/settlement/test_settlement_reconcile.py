"""`reconcile` against a private keyspace: clean when ledger, balances and UBSCore's dump agree; each kind of
disagreement (a missing ledger event: its sums and its version; a dump whose balance differs or that says more
events exist) is named, and the command exits 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cassandra.cluster import Session

from settlement.projection import project_balance_event
from settlement.reconcile import reconcile
from settlement.writer import CqlWriter
from tests.integration.settlement.balanceflow import BalanceFlow
from tests.integration.settlement.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def flow(session: Session) -> BalanceFlow:
    """500 consistent events written through the projection and the writer."""
    flow = BalanceFlow(seed=51)
    events = [event for _, event in flow.batch(500)]
    CqlWriter(session).write([row for event in events for row in project_balance_event(event)])
    return flow


def test_reconcile_clean_then_each_disagreement_is_named(flow: BalanceFlow, session: Session, tmp_path: Path) -> None:
    """Agreement first; then a dump that differs and says more events exist; then a ledger event deleted."""
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(flow.dump()))
    clean = reconcile(session, ubscore_dump=dump)
    assert clean.ok, clean.mismatches
    assert clean.ledger_events == 500

    document = flow.dump()
    document["summary"] = {"last_event_id": 501}  # type: ignore[index]
    document["accounts"][0]["available_units"] += 1  # type: ignore[index]
    dump.write_text(json.dumps(document))
    result = reconcile(session, ubscore_dump=dump)
    assert any("UBSCore dump" in line for line in result.mismatches)
    assert any("UBSCore emitted 1..501" in line for line in result.mismatches)

    changed = session.execute("SELECT event_block, event_id, user_id, asset_id FROM balance_ledger "
                              "WHERE event_block = 0 AND event_id = 200").one()
    session.execute("DELETE FROM balance_ledger WHERE event_block = 0 AND event_id = 200")
    result = reconcile(session)
    assert any(f"user {changed.user_id} asset {changed.asset_id}" in line for line in result.mismatches), \
        result.mismatches

    completed = subprocess.run([sys.executable, "-m", "settlement", "reconcile", "--keyspace", session.keyspace],
                               cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120,
                               check=False)
    assert completed.returncode == 1
    assert "ledger events 499" in completed.stdout
    assert "ledger versions missing [" in completed.stdout  # the deleted event's version, named
