"""Spin barrier for two numba threads that share one time loop (:mod:`.duo`).

numba has no atomics or memory fences; these intrinsics emit LLVM's atomic load
(acquire), store (release), add and compare-exchange (sequentially consistent) on
int64 array elements, the x86 ``pause`` hint and the cycle counter. A flag word per
thread sits on its own cache line (index ``FLAG_STRIDE * t``).

Barrier ``n`` of a run: each thread stores n into its flag, then waits until the
other's flag is at least n. One store and one load per thread, ~50 ns per barrier
between the two cores of this machine (measured); after ``YIELD_CYCLES`` of spinning
a waiter gives its core away (``sched_yield``), so that an oversubscribed machine
slows down instead of stalling.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

FLAG_STRIDE = 16            # int64 words between two threads' flags: 128 bytes, separate cache lines
# word offsets: a barrier flag and a divergence flag per thread, one handshake counter
F_BARRIER, F_DIVERGED, F_HANDSHAKE = 0, 2 * FLAG_STRIDE, 4 * FLAG_STRIDE
N_FLAG_WORDS = 5 * FLAG_STRIDE
YIELD_CYCLES = 50_000       # ~20 us of spinning before yielding the core
HANDSHAKE_CYCLES = 100_000_000    # ~40 ms: the other thread has not started, it will not run beside us
HANDSHAKE_ABORTED = 100


def _element_ptr(context, builder, arrty, arr, i):
    a = context.make_array(arrty)(context, builder, arr)
    return builder.gep(a.data, [i])


@intrinsic
def load_acquire(typingctx, arr, i):
    """arr[i] (int64), read with acquire ordering."""
    def codegen(context, builder, sig, args):
        return builder.load_atomic(_element_ptr(context, builder, sig.args[0], *args), "acquire", 8)
    return types.int64(arr, i), codegen


@intrinsic
def store_release(typingctx, arr, i, v):
    """arr[i] = v (int64), written with release ordering."""
    def codegen(context, builder, sig, args):
        builder.store_atomic(args[2], _element_ptr(context, builder, sig.args[0], args[0], args[1]), "release", 8)
        return context.get_dummy_value()
    return types.void(arr, i, types.int64), codegen


@intrinsic
def fetch_add(typingctx, arr, i, v):
    """Atomically arr[i] += v; returns the old value."""
    def codegen(context, builder, sig, args):
        ptr = _element_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")
    return types.int64(arr, i, types.int64), codegen


@intrinsic
def compare_exchange(typingctx, arr, i, expected, new):
    """Atomically: if arr[i] == expected, arr[i] = new. Returns True if it did."""
    def codegen(context, builder, sig, args):
        ptr = _element_ptr(context, builder, sig.args[0], args[0], args[1])
        pair = builder.cmpxchg(ptr, args[2], args[3], "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)
    return types.boolean(arr, i, types.int64, types.int64), codegen


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


@intrinsic
def cpu_relax(typingctx):
    """The spin-wait hint (x86 ``pause``; nothing on other machines)."""
    def codegen(context, builder, sig, args):
        if _X86:
            fn = builder.module.declare_intrinsic("llvm.x86.sse2.pause", fnty=ir.FunctionType(ir.VoidType(), []))
            builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def cycles(typingctx):
    """The CPU's cycle counter (``llvm.readcyclecounter``), for spin timeouts."""
    def codegen(context, builder, sig, args):
        fn = builder.module.declare_intrinsic("llvm.readcyclecounter", fnty=ir.FunctionType(ir.IntType(64), []))
        return builder.call(fn, [])
    return types.int64(), codegen


@intrinsic
def sched_yield(typingctx):
    """libc's ``sched_yield()``: let another thread have this core."""
    def codegen(context, builder, sig, args):
        mod = builder.module
        fnty = ir.FunctionType(ir.IntType(32), [])
        fn = mod.globals.get("sched_yield") or ir.Function(mod, fnty, "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


@njit(cache=True)
def barrier(flags, t, n):
    """Barrier number ``n`` (1, 2, ... in the same order on both threads) of thread ``t``."""
    store_release(flags, F_BARRIER + FLAG_STRIDE * t, n)
    other = F_BARRIER + FLAG_STRIDE * (1 - t)
    if load_acquire(flags, other) >= n:
        return
    start = cycles()
    while load_acquire(flags, other) < n:
        cpu_relax()
        if cycles() - start > YIELD_CYCLES:
            sched_yield()


@njit(cache=True)
def handshake(flags):
    """True once both threads have arrived; False for both if the other thread does not
    start within HANDSHAKE_CYCLES (the threading layer runs the two one after the other)."""
    if fetch_add(flags, F_HANDSHAKE, 1) == 1:
        return True                      # the second to arrive
    # first to arrive (old value 0), or the other already gave up (old value >= HANDSHAKE_ABORTED)
    if load_acquire(flags, F_HANDSHAKE) > HANDSHAKE_ABORTED:
        return False
    start = cycles()
    while load_acquire(flags, F_HANDSHAKE) == 1:
        cpu_relax()
        if cycles() - start > HANDSHAKE_CYCLES:
            if compare_exchange(flags, F_HANDSHAKE, 1, HANDSHAKE_ABORTED):
                return False
    return True


@njit(cache=True)
def reset(flags):
    for i in range(flags.shape[0]):
        flags[i] = 0
