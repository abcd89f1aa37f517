"""Atomic operations on mapped memory, and the weakly-ordered (libatomic) code path run on this machine."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import threading
from pathlib import Path

from common.aeron.atomics import AtomicBuffer

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_compare_and_set_succeeds_only_on_expected_value() -> None:
    """CAS writes when the word equals `expected` and reports failure otherwise (64 and 32 bit)."""
    buffer = AtomicBuffer(mmap.mmap(-1, 64))
    buffer.put_i64(8, 5)
    assert buffer.compare_and_set_i64(8, 5, -7)
    assert not buffer.compare_and_set_i64(8, 5, 9)
    assert buffer.get_i64(8) == -7
    buffer.put_i32(16, 3)
    assert buffer.compare_and_set_i32(16, 3, 4)
    assert not buffer.compare_and_set_i32(16, 3, 5)
    assert buffer.get_i32(16) == 4


def test_get_and_add_is_atomic_across_threads_and_mappings() -> None:
    """Threads adding through separate AtomicBuffers on one shared mapping never lose an increment."""
    region = mmap.mmap(-1, 64)
    threads_count, adds = 4, 5_000

    def add() -> None:
        buffer = AtomicBuffer(region)
        for _ in range(adds):
            buffer.get_and_add_i64(24, 1)
        buffer.release()

    threads = [threading.Thread(target=add) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert AtomicBuffer(region).get_i64(24) == threads_count * adds


def test_ordered_accessors_by_index_match_offsets() -> None:
    """The hot-path getter/setter callables address index * size, like the offset-based methods."""
    buffer = AtomicBuffer(mmap.mmap(-1, 64))
    buffer.i64_release_setter()(3, -123)
    buffer.i32_release_setter()(2, 77)
    assert buffer.get_i64_acquire(24) == -123
    assert buffer.get_i32_acquire(8) == 77
    assert buffer.i64_acquire_getter()(3) == -123
    assert buffer.i32_acquire_getter()(2) == 77


def test_weakly_ordered_code_path_passes_the_unit_suite() -> None:
    """With COMMON_AERON_FORCE_LIBATOMIC=1 every ordered access goes through libatomic (the aarch64 path);
    the ring buffer, broadcast and log buffer tests must pass unchanged."""
    env = {**os.environ, "COMMON_AERON_FORCE_LIBATOMIC": "1"}
    probe = subprocess.run([sys.executable, "-c", "import common.aeron.atomics as a; print(a.TOTAL_STORE_ORDER)"],
                           env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert probe.stdout.strip() == "False"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/unit/aeron/test_aeron_log_buffer.py",
                             "tests/unit/aeron/test_aeron_ring_and_broadcast.py"],
                            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
