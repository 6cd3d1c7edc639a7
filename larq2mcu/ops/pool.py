"""Pooling: MaxPool2D / AvgPool2D on floats, BinaryMaxPool2D (AND, or OR where or_mask) and
BinaryAvgPool2D (majority, bit = 2m > n) on bits, SumPoolSign (integer window sums against
thresholds: an average pool + sign of a binary conv's output), GlobalAvgPool. Padded taps are ignored
(Keras semantics): an average divides by the taps inside the image."""
from __future__ import annotations

import numpy as np

from .. import ir
from ..layout import weights as wt
from . import _bounds
from ._np import pool_windows, valid_counts
from .base import OpDef, geom_values, no_cost, register
from .records import NULL, Call, Geom, Int, Param, SpecFn, Sym

# ---------------------------------------------------------------------------------- oracles


def maxpool_f32(x, op):
    """Float32 max over each window of `op`; padded taps are −inf, hence ignored."""
    return pool_windows(np.asarray(x, np.float32), op, np.float32(-np.inf)).max(axis=(3, 4))


def avgpool_f32(x, op):
    """Float32 window sum over the taps inside the image divided by their count (valid_counts)."""
    x = np.asarray(x, np.float32)
    s = pool_windows(x, op, np.float32(0)).sum(axis=(3, 4), dtype=np.float32)
    return (s / valid_counts(op, x.shape[1], x.shape[2])).astype(np.float32)


def binary_maxpool(x_pm1, op):
    """int8 ±1 → int8 ±1: window max (AND of bits), or min (OR) on channels where op.or_mask;
    padded taps are ignored."""
    x = np.asarray(x_pm1, np.int8)
    mx = pool_windows(x, op, np.int8(-2)).max(axis=(3, 4))        # −2: below any value
    if op.or_mask is None:
        return mx.astype(np.int8)
    mn = pool_windows(x, op, np.int8(2)).min(axis=(3, 4))
    return np.where(op.or_mask, mn, mx).astype(np.int8)


def binary_avgpool(x_pm1, op):
    """int8 ±1 → int8 ±1: −1 where the sum s = n − 2m of the inside taps is < 0 (bit = 2m > n),
    else +1 (ties give +1); padded taps add 0."""
    x = np.asarray(x_pm1, np.int32)
    s = pool_windows(x, op, 0).sum(axis=(3, 4))                  # p − m over inside taps
    return np.where(s < 0, -1, 1).astype(np.int8)


def sumpool_sign(x, op):
    """F32 exact integers → int8 ±1: −1 where S < tau[n − 1, c] (S the window sum over the n
    inside taps; ir.SumPoolSign)."""
    x = np.asarray(x, np.float64)
    s = pool_windows(x, op, 0.0).sum(axis=(3, 4))
    n = pool_windows(np.ones((1,) + x.shape[1:3] + (1,)), op, 0.0).sum(axis=(3, 4)).astype(np.int64)
    tau = np.asarray(op.tau, np.float64)[n[..., 0] - 1]           # (1, oh, ow, C)
    return np.where(s < tau, -1, 1).astype(np.int8)


def _ref_global_avg(op, args, out_t):
    x = args[0]
    return np.asarray(x, np.float32).mean(axis=(1, 2), dtype=np.float32).reshape((x.shape[0],) + out_t.shape)


# ----------------------------------------------------------------------------------- bounds
def _bounds_max(op, args, out_shape):
    v, e = args[0]
    if isinstance(op, ir.BinaryMaxPool2D) and op.or_mask is not None:
        mx = pool_windows(v, op, 2.0).min(axis=(3, 4))
        mx = np.where(op.or_mask, mx, pool_windows(v, op, -2.0).max(axis=(3, 4)))
    else:
        mx = pool_windows(v, op, -np.inf).max(axis=(3, 4))
    return mx, pool_windows(e, op, 0.0).max(axis=(3, 4))


def _bounds_avg(op, args, out_shape):
    v, e = args[0]
    cnt = pool_windows(np.ones((1,) + v.shape[1:3] + (1,)), op, 0.0).sum(axis=(3, 4))
    with np.errstate(invalid="ignore", over="ignore"):
        sm = pool_windows(v, op, 0.0).sum(axis=(3, 4))
        sa = pool_windows(np.abs(v), op, 0.0).sum(axis=(3, 4))
        se = pool_windows(e, op, 0.0).sum(axis=(3, 4))
        m = sm / cnt
        ee = se / cnt + _bounds.gamma(op.pool[0] * op.pool[1] + 1) * (sa + se) / cnt
    if isinstance(op, ir.BinaryAvgPool2D):
        return np.where(m < 0, -1.0, 1.0), np.zeros_like(m)
    if isinstance(op, ir.SumPoolSign):       # exact integers in, bits out: no rounding
        return sumpool_sign(v, op).astype(np.float64), np.zeros_like(m)
    return m, ee


def _bounds_global_avg(op, args, out_shape):
    v, e = args[0]
    hw = v.shape[1] * v.shape[2]
    with np.errstate(invalid="ignore", over="ignore"):
        m = v.mean(axis=(1, 2))
        ee = e.mean(axis=(1, 2)) + _bounds.gamma(hw + 1) * (np.abs(v).mean(axis=(1, 2)) + e.mean(axis=(1, 2)))
    return m.reshape(out_shape), ee.reshape(out_shape)


# --------------------------------------------------------------------------------- lowering
def _pool(kernel, opt: bool = False):
    """Lowering of a windowed pool: `kernel` (a _ref), or its `_opt` twin (l2m_float_opt.c,
    bit-identical) when `opt` and the variant is specialised."""
    def lower(ctx, op, s):
        t_in, t_out = ctx.tensor(op.inputs[0]), ctx.tensor(op.output)
        geom = ctx.geom(s, geom_values(t_in.shape, t_out.shape, op.pool, op.strides, op.pads))
        extra = ()
        if isinstance(op, ir.BinaryMaxPool2D):
            extra = (ctx.array(s, "or_mask", "uint32_t", wt.pack_mask(op.or_mask)) if op.or_mask is not None
                     else NULL,)
        name = kernel[:-len("_ref")] + "_opt" if opt and ctx.variant.specialised else kernel
        s.calls.append(Call(name, (geom, *extra, *ctx.io(op))))
    return lower


def _lower_sumpool_sign(ctx, op, s):
    """l2m_sumpool_f32_b32_ref; with a specialised variant, a static function of the model that
    runs the engine l2mi_sumpool (l2m_pool_impl.h) with the layer's geometry as constants."""
    t_in, t_out = ctx.tensor(op.inputs[0]), ctx.tensor(op.output)
    gv = geom_values(t_in.shape, t_out.shape, op.pool, op.strides, op.pads)
    tau = ctx.array(s, "tau", "int32_t", np.asarray(op.tau, np.int32).reshape(-1))
    if not ctx.variant.specialised:
        s.calls.append(Call("l2m_sumpool_f32_b32_ref", (ctx.geom(s, gv), tau, *ctx.io(op))))
        return
    fname = f"{ctx.name}_op{s.index}_sumpool_f32_b32_{ctx.variant.name}"
    params = (Param("int32_t", "tau"), Param("float", "in"), Param("uint32_t", "out", const=False))
    s.spec = SpecFn(fname, params, gv, "l2mi_sumpool", (Geom("g"), Sym("tau"), Sym("in"), Sym("out")))
    s.calls.append(Call(fname, (tau, *ctx.io(op))))


def _lower_global_avg(ctx, op, s):
    h, w, c = ctx.tensor(op.inputs[0]).shape
    s.calls.append(Call("l2m_global_avgpool_f32_f32_ref", (Int(h * w), Int(c), *ctx.io(op))))


_POOL = ("pool", "strides", "pads")
register(OpDef(ir.MaxPool2D, lambda op, a, t: maxpool_f32(a[0], op), _pool("l2m_maxpool_f32_f32_ref", opt=True),
               no_cost, _bounds_max, _POOL))
register(OpDef(ir.AvgPool2D, lambda op, a, t: avgpool_f32(a[0], op), _pool("l2m_avgpool_f32_f32_ref", opt=True),
               no_cost, _bounds_avg, _POOL))
register(OpDef(ir.BinaryMaxPool2D, lambda op, a, t: binary_maxpool(a[0], op), _pool("l2m_maxpool_b32_b32_ref"),
               no_cost, _bounds_max, _POOL + ("or_mask",)))
register(OpDef(ir.BinaryAvgPool2D, lambda op, a, t: binary_avgpool(a[0], op), _pool("l2m_avgpool_b32_b32_ref"),
               no_cost, _bounds_avg, _POOL))
register(OpDef(ir.SumPoolSign, lambda op, a, t: sumpool_sign(a[0], op), _lower_sumpool_sign, no_cost, _bounds_avg,
               _POOL + ("tau",)))
register(OpDef(ir.GlobalAvgPool, _ref_global_avg, _lower_global_avg, no_cost, _bounds_global_avg, ()))
