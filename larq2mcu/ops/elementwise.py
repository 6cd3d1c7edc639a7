"""Element-wise and data-movement ops: BatchNorm (float affine), Activation, Add, Concat (floats
or bit maps), Reshape (a view, or a repack of bits). BatchNorm, Activation and Add may run in
place (out == in): their kernels allow it and the planner uses it."""
from __future__ import annotations

import numpy as np

from .. import ir
from . import _bounds
from .base import OpDef, no_cost, register
from .records import Call, Int, Sym

ACT = {"relu": "L2M_ACT_RELU", "sigmoid": "L2M_ACT_SIGMOID", "tanh": "L2M_ACT_TANH"}

# ---------------------------------------------------------------------------------- oracles


def activation(x, fn):
    """Float32 oracle of Activation `fn`: linear, relu, sigmoid (1/(1+e^−x) in float64), tanh, or
    softmax over the last axis (float64, max subtracted), rounded to float32. ValueError otherwise."""
    x = np.asarray(x, np.float32)
    if fn == "linear":
        return x
    if fn == "relu":
        return np.maximum(x, np.float32(0))
    if fn == "sigmoid":
        return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    if fn == "tanh":
        return np.tanh(x)
    if fn == "softmax":
        e = np.exp(x.astype(np.float64) - x.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    raise ValueError(fn)


def _ref_bn(op, args, out_t):
    """y = (x − mean)·scale + offset in float32, as the C kernel computes it."""
    return ((np.asarray(args[0], np.float32) - op.mean) * op.scale + op.offset).astype(np.float32)


def _ref_add(op, args, out_t):
    out = np.asarray(args[0], np.float32)
    for a in args[1:]:
        out = out + np.asarray(a, np.float32)
    return out


# ----------------------------------------------------------------------------------- bounds
def _bounds_bn(op, args, out_shape):
    """Keras computes x·s + (β − μ·s) with s from rsqrt, the C (x − μ)·s + β: both within
    e_y = |s|·eₓ + 12u·(|s|(|x| + |μ|) + |β| + |y|)."""
    v, e = args[0]
    s, mu, beta = (a.astype(np.float64) for a in (op.scale, op.mean, op.offset))
    with np.errstate(invalid="ignore", over="ignore"):
        vv = (v - mu) * s + beta
        ee = np.abs(s) * e + 12 * _bounds.U * (np.abs(s) * (np.abs(v) + np.abs(mu)) + np.abs(beta) + np.abs(vv))
    return vv, ee


def _bounds_add(op, args, out_shape):
    with np.errstate(invalid="ignore", over="ignore"):
        vv = sum(a[0] for a in args)
        ee = sum(a[1] for a in args) + (len(args) - 1) * _bounds.U * sum(np.abs(a[0]) for a in args)
    return vv, ee


def _bounds_concat(op, args, out_shape):
    return np.concatenate([a[0] for a in args], axis=-1), np.concatenate([a[1] for a in args], axis=-1)


def _bounds_reshape(op, args, out_shape):
    v, e = args[0]
    return v.reshape(out_shape), e.reshape(out_shape)


# --------------------------------------------------------------------------------- lowering
def _lower_bn(ctx, op, s):
    t = ctx.tensor(op.output)
    c = t.shape[-1]
    m = ctx.array(s, "mean", "float", op.mean)
    sc = ctx.array(s, "scale", "float", op.scale)
    of = ctx.array(s, "offset", "float", op.offset)
    i, o = ctx.io(op)
    s.calls.append(Call("l2m_batchnorm_f32_ref", (Int(t.numel // c), Int(c), i, m, sc, of, o)))


def _lower_activation(ctx, op, s):
    t = ctx.tensor(op.output)
    i, o = ctx.io(op)
    if op.fn == "softmax":
        c = t.shape[-1]
        s.calls.append(Call("l2m_softmax_f32_f32_ref", (Int(t.numel // c), Int(c), i, o)))
    else:
        s.calls.append(Call("l2m_activation_f32_f32_ref", (Int(t.numel), Sym(ACT[op.fn]), i, o)))


def _lower_add(ctx, op, s):
    n = ctx.tensor(op.output).numel
    o = ctx.ptr(op.output, False)
    first = ctx.ptr(op.inputs[0], True)
    kernel = "l2m_add_f32_f32_opt" if ctx.variant.specialised else "l2m_add_f32_f32_ref"   # same bits
    for t in op.inputs[1:]:
        s.calls.append(Call(kernel, (Int(n), first, ctx.ptr(t, True), o)))
        first = ctx.ptr(op.output, True)


def _lower_concat(ctx, op, s):
    t_out = ctx.tensor(op.output)
    out_c = t_out.shape[-1]
    pixels = t_out.numel // out_c
    o = ctx.ptr(op.output, False)
    if t_out.dtype == ir.BITS:
        s.calls.append(Call("memset", (o, Int(0), Int(t_out.nbytes))))
    off = 0
    for t in op.inputs:
        c = ctx.tensor(t).shape[-1]
        kern = "l2m_bitcopy_b32_ref" if t_out.dtype == ir.BITS else "l2m_chancopy_f32_ref"
        s.calls.append(Call(kern, (Int(pixels), Int(c), Int(out_c), Int(off), ctx.ptr(t, True), o)))
        off += c


def _lower_reshape(ctx, op, s):
    if ir.is_view(ctx.g, op):
        s.note = "view: same buffer, nothing to do"
        return
    t_in, t_out = ctx.tensor(op.inputs[0]), ctx.tensor(op.output)
    s.calls.append(Call("l2m_repack_b32_ref", (Int(t_in.packing[1]), Int(t_out.packing[0]), Int(t_out.packing[1]),
                                              *ctx.io(op))))


register(OpDef(ir.BatchNorm, _ref_bn, _lower_bn, no_cost, _bounds_bn,
               ("mean", "scale", "offset", "probe", "probe_lo", "float_threshold", "parts"), in_place=True))
register(OpDef(ir.Activation, lambda op, a, t: activation(a[0], op.fn), _lower_activation, no_cost,
               lambda op, a, shape: _bounds.activation(op.fn, *a[0]), ("fn",), in_place=True))
register(OpDef(ir.Add, _ref_add, _lower_add, no_cost, _bounds_add, (), in_place=True))
register(OpDef(ir.Concat, lambda op, a, t: np.concatenate(a, axis=-1), _lower_concat, no_cost, _bounds_concat, ()))
register(OpDef(ir.Reshape, lambda op, a, t: np.asarray(a[0]).reshape((a[0].shape[0],) + t.shape), _lower_reshape,
               no_cost, _bounds_reshape, ()))
