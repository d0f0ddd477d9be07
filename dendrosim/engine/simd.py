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

import operator

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

from ..vecmath import madd

LANES = 8

_VEC = ir.VectorType(ir.DoubleType(), LANES)
_UV = ir.VectorType(ir.IntType(64), LANES)


class VecType(types.Type):
    """LANES float64 values in one SIMD register (group)."""

    def __init__(self):
        super().__init__(name=f"Vec{LANES}f64")


class UVecType(types.Type):
    """LANES uint64 values in one SIMD register (group): the lanes' random-number generators."""

    def __init__(self):
        super().__init__(name=f"UVec{LANES}u64")


vec, uvec = VecType(), UVecType()


def _model(llvm_type):
    """A numba data model holding one value of ``llvm_type`` (an LLVM vector)."""
    class _Model(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            super().__init__(dmm, fe_type, llvm_type)
    return _Model


register_model(VecType)(_model(_VEC))
register_model(UVecType)(_model(_UV))


def _load_store(elem, vty, llvm_type):
    """(load, store) intrinsics between a 1-D array of ``elem`` and the vector type ``vty``:
    arr[off:off+LANES] as one vector, and arr[off:off+LANES] = v."""
    def ptr(context, builder, arrty, arr, off):
        data = context.make_array(arrty)(context, builder, arr).data
        return builder.bitcast(builder.gep(data, [off]), llvm_type.as_pointer())

    @intrinsic
    def load(typingctx, arr, off):
        if not (isinstance(arr, types.Array) and arr.dtype == elem and isinstance(off, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            return builder.load(ptr(context, builder, sig.args[0], args[0], args[1]), align=8)

        return vty(arr, off), codegen

    @intrinsic
    def store(typingctx, arr, off, v):
        if not (isinstance(arr, types.Array) and arr.dtype == elem and isinstance(off, types.Integer)
                and isinstance(v, type(vty))):
            return None

        def codegen(context, builder, sig, args):
            builder.store(args[2], ptr(context, builder, sig.args[0], args[0], args[1]), align=8)
            return context.get_dummy_value()

        return types.none(arr, off, v), codegen

    return load, store


def _lane(vty, elem):
    """Intrinsic: lane ``lane`` of a ``vty`` value, as ``elem``."""
    @intrinsic
    def f(typingctx, a, lane):
        if not (isinstance(a, type(vty)) and isinstance(lane, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            return builder.extract_element(args[0], context.cast(builder, args[1], sig.args[1], types.int32))

        return elem(a, lane), codegen

    return f


vload, vstore = _load_store(types.float64, vec, _VEC)
vload.__doc__, vstore.__doc__ = "arr[off:off+LANES] as a Vec.", "arr[off:off+LANES] = v."
uload, ustore = _load_store(types.uint64, uvec, _UV)
uload.__doc__, ustore.__doc__ = "arr[off:off+LANES] of a uint64 array as a UVec.", "arr[off:off+LANES] = v (uint64)."
vlane, ulane = _lane(vec, types.float64), _lane(uvec, types.uint64)
vlane.__doc__, ulane.__doc__ = "Lane ``lane`` of a Vec, as float64.", "Lane ``lane`` of a UVec, as uint64."


def _splat(builder, val, llvm_type):
    """A vector of ``llvm_type`` with every lane ``val``."""
    one = builder.insert_element(ir.Constant(llvm_type, ir.Undefined), val, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
    return builder.shuffle_vector(one, ir.Constant(llvm_type, ir.Undefined), mask)


def _splat_intrinsic(vty, llvm_type, kind, elem):
    """Intrinsic: a ``vty`` value with every lane x (a number of numba type class ``kind``)."""
    @intrinsic
    def f(typingctx, x):
        if not isinstance(x, kind):
            return None

        def codegen(context, builder, sig, args):
            return _splat(builder, context.cast(builder, args[0], sig.args[0], elem), llvm_type)

        return vty(x), codegen

    return f


vsplat = _splat_intrinsic(vec, _VEC, types.Float, types.float64)
vsplat.__doc__ = "Vec with every lane x."


def _binary(op, vty):
    """Intrinsic: the LLVM instruction ``op`` lane by lane on two ``vty`` values."""
    @intrinsic
    def f(typingctx, a, b):
        if not (isinstance(a, type(vty)) and isinstance(b, type(vty))):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(*args)

        return vty(a, b), codegen

    return f


vadd = _binary("fadd", vec)
vadd.__doc__ = "a + b per lane."
vsub = _binary("fsub", vec)
vsub.__doc__ = "a - b per lane."
vmul = _binary("fmul", vec)
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


def _vec_operator(op, f):
    """a op b for two Vec values: the equations of :mod:`dendrosim.model` run on lanes unchanged."""
    @overload(op, inline="always")
    def _op(a, b):
        if isinstance(a, VecType) and isinstance(b, VecType):
            return lambda a, b: f(a, b)
        return None


_vec_operator(operator.add, vadd)
_vec_operator(operator.sub, vsub)
_vec_operator(operator.mul, vmul)


@overload(madd, inline="always")
def _madd_vec(a, b, c):
    """:func:`dendrosim.vecmath.madd` of Vec values: one fused multiply-add per lane."""
    if all(isinstance(t, VecType) for t in (a, b, c)):
        return lambda a, b, c: vfma(a, b, c)
    return None


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


# -- LANES uint64 values: the lanes' random-number generators (engine.rng) ----------------------

uxor, uor, uand, umul = (_binary(op, uvec) for op in ("xor", "or_", "and_", "mul"))


def _ushift(op):
    @intrinsic
    def f(typingctx, a, k):
        if not (isinstance(a, UVecType) and isinstance(k, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            k = context.cast(builder, args[1], sig.args[1], types.int64)
            return getattr(builder, op)(args[0], _splat(builder, k, _UV))

        return uvec(a, k), codegen

    return f


ushl, ushr = _ushift("shl"), _ushift("lshr")
ushl.__doc__, ushr.__doc__ = "a << k per lane.", "a >> k per lane (logical)."


usplat = _splat_intrinsic(uvec, _UV, types.Integer, types.int64)
usplat.__doc__ = "UVec with every lane x."


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
def uinsert(typingctx, a, lane, x):
    """``a`` with lane ``lane`` set to x."""
    if not (isinstance(a, UVecType) and isinstance(lane, types.Integer) and isinstance(x, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        val = context.cast(builder, args[2], sig.args[2], types.uint64)
        return builder.insert_element(args[0], val, context.cast(builder, args[1], sig.args[1], types.int32))

    return uvec(a, lane, x), codegen
