"""`python -m ubscore` on a disk whose fsync is slow (fault injection for the back-pressure test).

While the file named by SLOW_DISK_FLAG exists, every fsync of this process (the WAL's group commits among them)
returns SLOW_DISK_FSYNC_MS late, after the real fsync; nothing else of the service changes. Run as a module with
this directory on PYTHONPATH (tests/integration/ubscore/test_ubscore_backpressure.py does).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

FLAG = Path(os.environ["SLOW_DISK_FLAG"])
DELAY_S = int(os.environ["SLOW_DISK_FSYNC_MS"]) / 1_000
real_fsync = os.fsync


def slow_fsync(fd: int) -> None:
    """The real fsync, then the injected delay while the flag file exists."""
    real_fsync(fd)
    if FLAG.exists():
        time.sleep(DELAY_S)  # the injected fault itself: this disk is slow


os.fsync = slow_fsync

from ubscore.__main__ import main  # noqa: E402  (imported after the patch, as the service would be on that disk)

raise SystemExit(main(sys.argv[1:]))
