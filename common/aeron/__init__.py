"""A pure-Python client for the Aeron media driver (Java driver 1.51, CnC 0.2): see README.md in this package.

Connect with `AeronClient` (client.py), publish with `ExclusivePublication` / `ConcurrentPublication`
(`offer` returns a position or a negative `OfferResult`; back-pressure and not-connected are never silent; what
a positive result guarantees: README.md "Delivery guarantee"),
subscribe with `Subscription.poll` (+ `FragmentAssembler` for messages larger than a frame), and use
`RequestClient` / `ResponseServer` (request_response.py) for correlated request/response.

Threading: README.md "Threading model": one owner thread per client calls `client.do_work()` regularly; only a
`ConcurrentPublication` may be shared between threads. Idle strategies for poll loops: idle.py.

Memory ordering (full argument in README.md, "Memory ordering"): the shared-memory protocol needs acquire
loads, release stores, an acquire fence, 64-bit CAS and get-and-add on memory the Java driver also writes.
CAS and get-and-add always go through libatomic (`__atomic_compare_exchange_8`, `__atomic_fetch_add_8`, via
ctypes), which uses the CPU's lock-free instruction on naturally aligned words, so they are atomic with respect
to the driver. On x86-64 (TSO) aligned plain loads/stores already have acquire/release semantics and CPython
performs them as single `mov`s, so the hot paths use plain `memoryview` accesses. On aarch64 and other weakly
ordered CPUs the ordered accesses call libatomic's `__atomic_load_N(ACQUIRE)` / `__atomic_store_N(RELEASE)`
(`ldar`/`stlr`) and `atomic_thread_fence`, which order the surrounding plain payload copies as required.
"""
