"""Atomic operations on mapped memory, and the weakly-ordered (libatomic) code path run on this machine."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from common.aeron.atomics import AtomicBuffer

REPO_ROOT = Path(__file__).resolve().parents[3]
#: CAS calls per thread in the contention tests: enough that a shared expected cell was caught every run.
CONTENTION_CALLS = 100_000


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


def _run_threads(count: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_compare_and_set_never_matching_never_succeeds_under_contention_on_one_buffer() -> None:
    """Threads share ONE AtomicBuffer: half increment a word by CAS (many CAS fail and write the current value
    back into their expected cell), half CAS with an expected value the word never holds (-1). The impossible
    CAS must never succeed, on 64 and 32 bits; with an expected cell shared per buffer it did."""
    buffer = AtomicBuffer(mmap.mmap(-1, 64))
    threads_count, calls = 4, CONTENTION_CALLS
    impossible_successes = [0] * threads_count

    def work(index: int) -> None:
        for _ in range(calls):
            if index % 2 == 0:
                value = buffer.get_i64(8)
                buffer.compare_and_set_i64(8, value, value + 1)
                value_32 = buffer.get_i32(16)
                buffer.compare_and_set_i32(16, value_32, value_32 + 1)
            else:
                impossible_successes[index] += buffer.compare_and_set_i64(8, -1, -2)
                impossible_successes[index] += buffer.compare_and_set_i32(16, -1, -2)

    _run_threads(threads_count, work)
    assert impossible_successes == [0] * threads_count
    assert buffer.get_i64(8) > 0
    assert buffer.get_i32(16) > 0


def test_counter_incremented_by_compare_and_set_from_threads_ends_exact() -> None:
    """N threads on ONE shared AtomicBuffer each add 1 to a 64-bit and a 32-bit word `calls` times with a
    read-CAS retry loop; no increment may be lost or doubled, so both words end at N * calls."""
    buffer = AtomicBuffer(mmap.mmap(-1, 64))
    threads_count, calls = 4, CONTENTION_CALLS // 2

    def work(index: int) -> None:
        for _ in range(calls):
            while True:
                value = buffer.get_i64(24)
                if buffer.compare_and_set_i64(24, value, value + 1):
                    break
            while True:
                value_32 = buffer.get_i32(32)
                if buffer.compare_and_set_i32(32, value_32, value_32 + 1):
                    break

    _run_threads(threads_count, work)
    assert buffer.get_i64(24) == threads_count * calls
    assert buffer.get_i32(32) == threads_count * calls


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
