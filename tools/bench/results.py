"""How a benchmark hands over its numbers: an aligned `key  value` table on stdout and a JSON file under
bench-results/ (the README's tables and plots are made from those files)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def print_rows(result: Mapping[str, Any]) -> None:
    """One `key  value` line per entry, keys padded to the longest."""
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


def save_json(result: Mapping[str, Any], path: Path) -> None:
    """Write `result` as indented JSON to `path` (creating bench-results/ if needed) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
