"""Explicit SIMD vectors of LANES float64 values for numba kernels over ensemble members.

numba tells LLVM nothing about aliasing between arrays, so a short loop over the
members of an ensemble (``acc[l] += W[i, j, l] * r[j, l]``) stays scalar whatever
the layout. ``Vec`` is LLVM's ``<LANES x double>`` as a numba value: each
operation here is one vector instruction (or two on 256-bit hardware), and the
arithmetic of every lane is the same IEEE operation the scalar code does.

``UVec`` holds LANES uint64 values (the lanes' random-number generators, engine.rng).
Arrays are 1-D float64 (uint64 for UVec), C-contiguous; ``off`` is an element offset (the lane block
starts at ``off``; nothing is checked, like numba's own unchecked indexing).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 8

_VEC = ir.VectorType(ir.DoubleType(), LANES)


class VecType(types.Type):
    """LANES float64 values in one SIMD register (group)."""

    def __init__(self):
        super().__init__(name=f"Vec{LANES}f64")


vec = VecType()


@register_model(VecType)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _ptr(context, builder, arrty, arr, off):
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [off]), _VEC.as_pointer())


@intrinsic
def vload(typingctx, arr, off):
    """arr[off:off+LANES] as a Vec."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.float64 and isinstance(off, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return builder.load(_ptr(context, builder, sig.args[0], args[0], args[1]), align=8)

    return vec(arr, off), codegen


@intrinsic
def vstore(typingctx, arr, off, v):
    """arr[off:off+LANES] = v."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.float64 and isinstance(off, types.Integer)
            and isinstance(v, VecType)):
        return None

    def codegen(context, builder, sig, args):
        builder.store(args[2], _ptr(context, builder, sig.args[0], args[0], args[1]), align=8)
        return context.get_dummy_value()

    return types.none(arr, off, v), codegen


@intrinsic
def vsplat(typingctx, x):
    """Vec with every lane x."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[0], sig.args[0], types.float64)
        one = builder.insert_element(ir.Constant(_VEC, ir.Undefined), val, ir.Constant(ir.IntType(32), 0))
        mask = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        return builder.shuffle_vector(one, ir.Constant(_VEC, ir.Undefined), mask)

    return vec(x), codegen


def _binary(op):
    @intrinsic
    def f(typingctx, a, b):
        if not (isinstance(a, VecType) and isinstance(b, VecType)):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(*args)

        return vec(a, b), codegen

    return f


vadd = _binary("fadd")
vadd.__doc__ = "a + b per lane."
vsub = _binary("fsub")
vsub.__doc__ = "a - b per lane."
vmul = _binary("fmul")
vmul.__doc__ = "a * b per lane."


@intrinsic
def vfma(typingctx, a, b, c):
    """a * b + c per lane, one rounding (llvm.fma)."""
    if not all(isinstance(t, VecType) for t in (a, b, c)):
        return None

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC] * 3),
                                            f"llvm.fma.v{LANES}f64")
        return builder.call(fn, args)

    return vec(a, b, c), codegen


@intrinsic
def vzero(typingctx):
    """Vec of zeros."""
    def codegen(context, builder, sig, args):
        return ir.Constant(_VEC, [0.0] * LANES)

    return vec(), codegen


@intrinsic
def vabs(typingctx, a):
    """|a| per lane (llvm.fabs)."""
    if not isinstance(a, VecType):
        return None

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC]), f"llvm.fabs.v{LANES}f64")
        return builder.call(fn, args)

    return vec(a), codegen


@intrinsic
def vlt_mask(typingctx, a, b):
    """An int64 with bit l set where a[l] < b[l] (ordered: false for NaN)."""
    if not (isinstance(a, VecType) and isinstance(b, VecType)):
        return None

    def codegen(context, builder, sig, args):
        bits = builder.bitcast(builder.fcmp_ordered("<", args[0], args[1]), ir.IntType(LANES))
        return builder.zext(bits, ir.IntType(64))

    return types.int64(a, b), codegen


@intrinsic
def vlane(typingctx, a, lane):
    """Lane ``lane`` of a Vec, as float64."""
    if not (isinstance(a, VecType) and isinstance(lane, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return builder.extract_element(args[0], context.cast(builder, args[1], sig.args[1], types.int32))

    return types.float64(a, lane), codegen


# -- LANES uint64 values: the lanes' random-number generators (engine.rng) ----------------------

_UV = ir.VectorType(ir.IntType(64), LANES)


class UVecType(types.Type):
    """LANES uint64 values in one SIMD register (group)."""

    def __init__(self):
        super().__init__(name=f"UVec{LANES}u64")


uvec = UVecType()


@register_model(UVecType)
class _UVecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _UV)


def _splat64(builder, val):
    one = builder.insert_element(ir.Constant(_UV, ir.Undefined), val, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
    return builder.shuffle_vector(one, ir.Constant(_UV, ir.Undefined), mask)


@intrinsic
def uload(typingctx, arr, off):
    """arr[off:off+LANES] of a uint64 array as a UVec."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.uint64 and isinstance(off, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.load(builder.bitcast(builder.gep(data, [args[1]]), _UV.as_pointer()), align=8)

    return uvec(arr, off), codegen


@intrinsic
def ustore(typingctx, arr, off, v):
    """arr[off:off+LANES] = v (uint64 array)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.uint64 and isinstance(off, types.Integer)
            and isinstance(v, UVecType)):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        builder.store(args[2], builder.bitcast(builder.gep(data, [args[1]]), _UV.as_pointer()), align=8)
        return context.get_dummy_value()

    return types.none(arr, off, v), codegen


def _ubinary(op):
    @intrinsic
    def f(typingctx, a, b):
        if not (isinstance(a, UVecType) and isinstance(b, UVecType)):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(*args)

        return uvec(a, b), codegen

    return f


uxor, uor, uand, umul = _ubinary("xor"), _ubinary("or_"), _ubinary("and_"), _ubinary("mul")


def _ushift(op):
    @intrinsic
    def f(typingctx, a, k):
        if not (isinstance(a, UVecType) and isinstance(k, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], _splat64(builder, context.cast(builder, args[1], sig.args[1],
                                                                                types.int64)))

        return uvec(a, k), codegen

    return f


ushl, ushr = _ushift("shl"), _ushift("lshr")
ushl.__doc__, ushr.__doc__ = "a << k per lane.", "a >> k per lane (logical)."


@intrinsic
def usplat(typingctx, x):
    """UVec with every lane x."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return _splat64(builder, context.cast(builder, args[0], sig.args[0], types.int64))

    return uvec(x), codegen


@intrinsic
def u2f(typingctx, a):
    """float(a) per lane (unsigned; exact below 2**53)."""
    if not isinstance(a, UVecType):
        return None

    def codegen(context, builder, sig, args):
        return builder.uitofp(args[0], _VEC)

    return vec(a), codegen


@intrinsic
def vgather(typingctx, arr, idx):
    """arr[idx[l]] per lane, from a float64 array (no bounds check)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.float64 and isinstance(idx, UVecType)):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        out = ir.Constant(_VEC, ir.Undefined)
        for lane in range(LANES):
            at = ir.Constant(ir.IntType(32), lane)
            out = builder.insert_element(out, builder.load(builder.gep(data, [builder.extract_element(args[1], at)])),
                                         at)
        return out

    return vec(arr, idx), codegen


@intrinsic
def ulane(typingctx, a, lane):
    """Lane ``lane`` of a UVec, as uint64."""
    if not (isinstance(a, UVecType) and isinstance(lane, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return builder.extract_element(args[0], context.cast(builder, args[1], sig.args[1], types.int32))

    return types.uint64(a, lane), codegen


@intrinsic
def uinsert(typingctx, a, lane, x):
    """``a`` with lane ``lane`` set to x."""
    if not (isinstance(a, UVecType) and isinstance(lane, types.Integer) and isinstance(x, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[2], sig.args[2], types.uint64)
        return builder.insert_element(args[0], val, context.cast(builder, args[1], sig.args[1], types.int32))

    return uvec(a, lane, x), codegen
