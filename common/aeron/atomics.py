"""Ordered loads/stores and atomic read-modify-write on memory-mapped files, from pure Python.

The Aeron protocol is a set of single-writer and many-writer structures in shared memory. A client needs:

- plain loads and stores of aligned 32/64-bit fields (headers, payload copies);
- *acquire* loads (Java `getIntVolatile`/`getLongVolatile`): nothing read after them may be satisfied before them;
- *release* stores (Java `putIntRelease`/`putLongOrdered`): nothing written before them may become visible after;
- 64-bit compare-and-swap (the to-driver ManyToOneRingBuffer tail, a concurrent publication's term switch) and
  64-bit get-and-add (the ring buffer's correlation counter, a concurrent publication's term tail).

How each is achieved (see README.md "Memory ordering" for the argument in full):

- **Read-modify-write** always goes through libatomic (`__atomic_compare_exchange_8`, `__atomic_fetch_add_8`)
  called with ctypes on the mapped address, SEQ_CST. For naturally aligned 8-byte words libatomic uses the CPU's
  lock-free instruction (`lock cmpxchg` / `lock xadd` on x86-64, LSE `casal`/`ldaddal` or an `ldaxr`/`stlxr` loop
  on aarch64), i.e. the very instruction the Java driver uses, so the operations are atomic *with respect to the
  driver*, not merely among Python threads. libatomic ships with GCC's runtime (Debian/Ubuntu: `libatomic1`,
  present on any machine with a GCC-built userland); there is nothing to compile at install time.
- **Acquire loads / release stores on x86-64** are plain aligned 4/8-byte accesses through `memoryview.cast`.
  CPython performs them with a fixed-size `memcpy`, which GCC/Clang compile to one `mov`; an aligned `mov` is
  single-copy atomic, and x86-64's TSO model already gives every load acquire semantics and every store release
  semantics. The compiler cannot reorder two Python-level accesses because each is a separate trip through the
  interpreter's opaque C calls. The one reordering TSO allows (a later load passing an earlier store) is never
  relied upon by the client side of the protocol: every place Aeron needs a full fence is a CAS/get-and-add.
- **Acquire loads / release stores on aarch64** (and any other non-TSO machine) go through libatomic's
  `__atomic_load_N(ACQUIRE)` (`ldar`) and `__atomic_store_N(RELEASE)` (`stlr`), which order all of this thread's
  earlier/later plain accesses (payload copies included) as the protocol requires.
- **Acquire fence** (copy-then-validate in the broadcast receiver: earlier plain loads must complete before the
  validating load) is a no-op under TSO and libatomic's exported `atomic_thread_fence` elsewhere.

`AtomicBuffer` wraps one mmap. Offsets are absolute byte offsets into it and must be naturally aligned.
Measured call costs (x86-64, 2-vCPU shared dev box, `timeit`): acquire/release accessor methods ~120-170 ns
(the `*_getter`/`*_setter` bound callables used on hot paths ~50-70 ns), libatomic CAS / get-and-add through
ctypes ~0.5-2 us (argument conversion dominates; used on the command path and by concurrent publications only).
The per-call expected-value cell of a CAS costs ~60 ns over a shared one (0.82 vs 0.76 us, `timeit`); a
thread-local cell measured the same as a fresh one, so the simpler fresh cell is used. A CAS is not on the
`offer` hot path: a concurrent publication pays one get-and-add per message and CASes only when a term rotates.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import platform
from collections.abc import Callable

_MEMORY_ORDER_ACQUIRE = 2
_MEMORY_ORDER_RELEASE = 3
_MEMORY_ORDER_SEQ_CST = 5

#: True when plain aligned accesses already have acquire/release semantics (x86-64 TSO). Setting
#: COMMON_AERON_FORCE_LIBATOMIC=1 takes the weakly-ordered (aarch64) code path anywhere, so that path is
#: exercised by the test suite on x86-64 too.
TOTAL_STORE_ORDER = platform.machine().lower() in ("x86_64", "amd64", "i686", "i386") and not os.environ.get(
    "COMMON_AERON_FORCE_LIBATOMIC")


def _load_libatomic() -> ctypes.CDLL:
    for name in ("libatomic.so.1", "libatomic.so", ctypes.util.find_library("atomic")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise ImportError(
        "libatomic not found: common.aeron needs GCC's libatomic for lock-free CAS on shared memory "
        "(Debian/Ubuntu: apt-get install libatomic1)"
    )


_LIB = _load_libatomic()
# The expected value is passed by pointer and, on failure, overwritten with the current value. Declaring it as
# POINTER(c_intN) lets each call pass a fresh c_intN (ctypes passes it by reference): a cell per call, so threads
# sharing one AtomicBuffer never see each other's expected values (ctypes releases the GIL during the call).
_cas_8 = _LIB.__atomic_compare_exchange_8
_cas_8.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.c_int64, ctypes.c_int, ctypes.c_int)
_cas_8.restype = ctypes.c_bool
_cas_4 = _LIB.__atomic_compare_exchange_4
_cas_4.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.c_int, ctypes.c_int)
_cas_4.restype = ctypes.c_bool
_c_int64 = ctypes.c_int64
_c_int32 = ctypes.c_int32
_fetch_add_8 = _LIB.__atomic_fetch_add_8
_fetch_add_8.argtypes = (ctypes.c_void_p, ctypes.c_int64, ctypes.c_int)
_fetch_add_8.restype = ctypes.c_int64
_load_8 = _LIB.__atomic_load_8
_load_8.argtypes = (ctypes.c_void_p, ctypes.c_int)
_load_8.restype = ctypes.c_int64
_load_4 = _LIB.__atomic_load_4
_load_4.argtypes = (ctypes.c_void_p, ctypes.c_int)
_load_4.restype = ctypes.c_int32
_store_8 = _LIB.__atomic_store_8
_store_8.argtypes = (ctypes.c_void_p, ctypes.c_int64, ctypes.c_int)
_store_8.restype = None
_store_4 = _LIB.__atomic_store_4
_store_4.argtypes = (ctypes.c_void_p, ctypes.c_int32, ctypes.c_int)
_store_4.restype = None
_thread_fence = _LIB.atomic_thread_fence
_thread_fence.argtypes = (ctypes.c_int,)
_thread_fence.restype = None


def acquire_fence() -> None:
    """Order every earlier load before every later load/store (Java `VarHandle.acquireFence`).

    A no-op on TSO machines, where loads are never reordered with later loads or stores; elsewhere a
    libatomic `atomic_thread_fence(ACQUIRE)` (`dmb ishld` or stronger on aarch64).
    """
    if not TOTAL_STORE_ORDER:
        _thread_fence(_MEMORY_ORDER_ACQUIRE)


class AtomicBuffer:
    """Typed, ordered access to one memory-mapped region (absolute, naturally aligned byte offsets).

    Every access method may be called from several threads at once on one buffer: the object holds no
    per-call state (each CAS has its own expected-value cell), and the memory operations are atomic or ordered
    as their names say. `release()` must not race with other calls; call it before closing the mmap (the
    buffer holds exports: memoryviews, a ctypes anchor).
    """

    __slots__ = ("_anchor", "address", "bytes", "i32", "i64", "length")

    def __init__(self, region: mmap.mmap) -> None:
        self.length = len(region)
        assert self.length % 8 == 0, self.length
        self.bytes = memoryview(region)
        self.i32 = self.bytes.cast("i")
        self.i64 = self.bytes.cast("q")
        self._anchor = ctypes.c_char.from_buffer(region)  # pins the mapping and yields its address
        self.address = ctypes.addressof(self._anchor)

    def release(self) -> None:
        """Drop every export of the mmap so it can be closed."""
        self.i32.release()
        self.i64.release()
        self.bytes.release()
        self._anchor = None

    # -- plain -----------------------------------------------------------------------------------------------
    def get_i32(self, offset: int) -> int:
        """Plain aligned 32-bit load."""
        return self.i32[offset >> 2]

    def get_i64(self, offset: int) -> int:
        """Plain aligned 64-bit load."""
        return self.i64[offset >> 3]

    def put_i32(self, offset: int, value: int) -> None:
        """Plain aligned 32-bit store."""
        self.i32[offset >> 2] = value

    def put_i64(self, offset: int, value: int) -> None:
        """Plain aligned 64-bit store."""
        self.i64[offset >> 3] = value

    def put_bytes(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Plain copy of `data` to `offset`."""
        self.bytes[offset : offset + len(data)] = data

    def get_bytes(self, offset: int, length: int) -> bytes:
        """Plain copy of `length` bytes at `offset`."""
        return self.bytes[offset : offset + length].tobytes()

    # -- ordered (acquire / release); the TSO versions are the plain ones, see the module docstring -------------
    if TOTAL_STORE_ORDER:

        def get_i32_acquire(self, offset: int) -> int:
            """Acquire (volatile) 32-bit load."""
            return self.i32[offset >> 2]

        def get_i64_acquire(self, offset: int) -> int:
            """Acquire (volatile) 64-bit load."""
            return self.i64[offset >> 3]

        def put_i32_release(self, offset: int, value: int) -> None:
            """Release (ordered) 32-bit store."""
            self.i32[offset >> 2] = value

        def put_i64_release(self, offset: int, value: int) -> None:
            """Release (ordered) 64-bit store."""
            self.i64[offset >> 3] = value

    else:

        def get_i32_acquire(self, offset: int) -> int:
            """Acquire (volatile) 32-bit load."""
            return _load_4(self.address + offset, _MEMORY_ORDER_ACQUIRE)

        def get_i64_acquire(self, offset: int) -> int:
            """Acquire (volatile) 64-bit load."""
            return _load_8(self.address + offset, _MEMORY_ORDER_ACQUIRE)

        def put_i32_release(self, offset: int, value: int) -> None:
            """Release (ordered) 32-bit store."""
            _store_4(self.address + offset, value, _MEMORY_ORDER_RELEASE)

        def put_i64_release(self, offset: int, value: int) -> None:
            """Release (ordered) 64-bit store."""
            _store_8(self.address + offset, value, _MEMORY_ORDER_RELEASE)

    # -- hot-path accessors by element index (offset >> 2 or >> 3): bound callables, no per-call dispatch ---------
    def i32_acquire_getter(self) -> Callable[[int], int]:
        """`get(index)` acquire-loading the int at byte offset index * 4."""
        if TOTAL_STORE_ORDER:
            return self.i32.__getitem__
        address = self.address
        return lambda index: _load_4(address + (index << 2), _MEMORY_ORDER_ACQUIRE)

    def i64_acquire_getter(self) -> Callable[[int], int]:
        """`get(index)` acquire-loading the long at byte offset index * 8."""
        if TOTAL_STORE_ORDER:
            return self.i64.__getitem__
        address = self.address
        return lambda index: _load_8(address + (index << 3), _MEMORY_ORDER_ACQUIRE)

    def i32_release_setter(self) -> Callable[[int, int], None]:
        """`set(index, value)` release-storing the int at byte offset index * 4."""
        if TOTAL_STORE_ORDER:
            return self.i32.__setitem__
        address = self.address
        return lambda index, value: _store_4(address + (index << 2), value, _MEMORY_ORDER_RELEASE)

    def i64_release_setter(self) -> Callable[[int, int], None]:
        """`set(index, value)` release-storing the long at byte offset index * 8."""
        if TOTAL_STORE_ORDER:
            return self.i64.__setitem__
        address = self.address
        return lambda index, value: _store_8(address + (index << 3), value, _MEMORY_ORDER_RELEASE)

    # -- read-modify-write (always libatomic, full fence) ------------------------------------------------------
    def compare_and_set_i64(self, offset: int, expected: int, update: int) -> bool:
        """Atomically set the word to `update` if it equals `expected`; True when it did. Thread-safe: the
        expected value lives in a cell of this call's own."""
        return _cas_8(self.address + offset, _c_int64(expected), update, _MEMORY_ORDER_SEQ_CST,
                      _MEMORY_ORDER_SEQ_CST)

    def compare_and_set_i32(self, offset: int, expected: int, update: int) -> bool:
        """32-bit compare-and-set (a concurrent publication's active term count); thread-safe like the 64-bit."""
        return _cas_4(self.address + offset, _c_int32(expected), update, _MEMORY_ORDER_SEQ_CST,
                      _MEMORY_ORDER_SEQ_CST)

    def get_and_add_i64(self, offset: int, delta: int) -> int:
        """Atomically add `delta` to the word and return its previous value."""
        return _fetch_add_8(self.address + offset, delta, _MEMORY_ORDER_SEQ_CST)


def map_file(path: str, *, writable: bool = True) -> mmap.mmap:
    """Map a whole file shared (read-write unless told otherwise)."""
    with open(path, "r+b" if writable else "rb") as file:
        access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
        return mmap.mmap(file.fileno(), 0, access=access)
