"""Run every benchmark in tools/bench/ in turn (`make bench`), each with its own bounded defaults.

    python -m tools.bench                       # all of them
    python -m tools.bench --only matcher_core   # a subset, by module name

Each benchmark prints its own table and writes JSON (and a PNG where a picture helps) under bench-results/.
The service benchmarks need the infrastructure (`make up`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BENCHMARKS = (
    "matcher_core", "matcher_suite", "aeron_bench", "ubscore_bench", "gateway_bench", "settlement_service",
    "tracing_overhead", "pipeline",
)


def main() -> int:
    """Run the selected benchmarks; return non-zero if any failed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run just this one (repeatable)")
    args = parser.parse_args()
    failed = []
    for index, name in enumerate(args.only or BENCHMARKS, start=1):
        print(f"\n=== [{index}/{len(args.only or BENCHMARKS)}] tools.bench.{name}", flush=True)
        started_ns = time.monotonic_ns()
        result = subprocess.run([sys.executable, "-m", f"tools.bench.{name}"], check=False)
        elapsed_s = (time.monotonic_ns() - started_ns) / 1e9
        print(f"=== tools.bench.{name}: exit {result.returncode} after {elapsed_s:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
