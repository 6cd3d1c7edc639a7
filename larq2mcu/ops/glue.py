"""Glue ops of the larq-zoo / LCE models: Pad (ZeroPadding2D, tf.pad), ChannelWindow (channel
slices and channel pads of Lambda / TF-op graphs), Relu (the tf-keras relu
formula with slope, threshold and ceiling), PRelu, Arith (Multiply, Subtract, Maximum, Minimum,
broadcast Add, TF operators with a scalar). Each oracle repeats Keras' own float32 steps, so one
rounding per step on both sides gives identical floats; Relu, PRelu and Arith may run in place."""
from __future__ import annotations

import numpy as np

from .. import ir
from . import _bounds
from ._np import pad_nhwc
from .base import OpDef, no_cost, register
from .records import Call, Flt, Int, Sym

ARITH = {"add": "L2M_ARITH_ADD", "sub": "L2M_ARITH_SUB", "mul": "L2M_ARITH_MUL", "div": "L2M_ARITH_DIV",
         "max": "L2M_ARITH_MAX", "min": "L2M_ARITH_MIN"}
_F = np.float32

# ---------------------------------------------------------------------------------- oracles


def keras_relu(x, alpha, threshold, max_value):
    """tf-keras backend.relu in float32, step by step: leaky (x > 0 ? x : α·x) when α ≠ 0 with
    no ceiling or threshold; else neg = relu(θ − x) (α ≠ 0), y = x·[x > θ] (θ ≠ 0) or relu(x),
    y = clip(y, 0, max_value) (when set), y = y − α·neg (α ≠ 0)."""
    x = np.asarray(x, _F)
    a, t = _F(alpha), _F(threshold)
    with np.errstate(invalid="ignore", over="ignore"):
        if a != 0 and max_value is None and t == 0:
            return np.where(x > 0, x, x * a).astype(_F)
        neg = np.maximum(t - x, _F(0)) if a != 0 else None
        y = x * (x > t).astype(_F) if t != 0 else np.maximum(x, _F(0))
        if max_value is not None:
            y = np.maximum(np.minimum(y, _F(max_value)), _F(0))
        if a != 0:
            y = (y - a * neg).astype(_F)
    return y.astype(_F)


def prelu(x, alpha):
    """Keras PReLU in float32: relu(x) + (−α)·relu(−x), α (flat, length 1, C or numel) broadcast."""
    x = np.asarray(x, _F)
    a = _alpha_full(alpha, x.shape[1:])
    with np.errstate(invalid="ignore", over="ignore"):
        return (np.maximum(x, _F(0)) + (-a) * np.maximum(-x, _F(0))).astype(_F)


def _alpha_full(alpha, shape):
    a = np.asarray(alpha, _F).reshape(-1)
    n = int(np.prod(shape, dtype=np.int64))
    return np.tile(a, n // a.size).reshape(shape)


_NP = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "max": np.maximum,
       "min": np.minimum}


def _lift(a, rank):
    """Batched array a with its per-sample shape left-padded with 1 to `rank` axes."""
    a = np.asarray(a)
    return a.reshape((a.shape[0],) + (1,) * (rank - (a.ndim - 1)) + a.shape[1:])


def _operands(op, args, rank):
    """The two operands (batched, per-sample shapes lifted to `rank`; the constant as a scalar)."""
    if op.const is None:
        return _lift(args[0], rank), _lift(args[1], rank)
    c = np.asarray(op.const, args[0].dtype)
    return (c, _lift(args[0], rank)) if op.const_first else (_lift(args[0], rank), c)


def arith(op, args, out_t):
    """a fn b in float32 (one rounding), numpy broadcasting of the per-sample shapes."""
    a, b = _operands(op, [np.asarray(x, _F) for x in args], len(out_t.shape))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return _NP[op.fn](a, b).astype(_F)


def pad(x, op):
    """(N, H, W, C) surrounded by op.value per op.pads (top, bottom, left, right)."""
    return pad_nhwc(np.asarray(x, _F), op.pads, _F(op.value))


def channel_window(x, begin, cout, value):
    """(N, ..., Cin) → (N, ..., cout): out[..., i] = x[..., begin + i] inside [0, Cin), else value."""
    x = np.asarray(x)
    src = begin + np.arange(cout)
    inside = (src >= 0) & (src < x.shape[-1])
    out = np.full(x.shape[:-1] + (cout,), value, dtype=x.dtype)
    out[..., inside] = x[..., src[inside]]
    return out


# ----------------------------------------------------------------------------------- bounds
def _bounds_pad(op, args, out_shape):
    v, e = args[0]
    return pad_nhwc(v, op.pads, float(_F(op.value))), pad_nhwc(e, op.pads, 0.0)


def _bounds_window(op, args, out_shape):
    """A copy: values moved, errors moved, the fill exact (error 0)."""
    v, e = args[0]
    c = out_shape[-1]
    return channel_window(v, op.begin, c, float(_F(op.value))), channel_window(e, op.begin, c, 0.0)


def _bounds_relu(op, args, out_shape):
    """Exactly: y = clip(x·[x > θ] (relu(x) when θ = 0), 0, max) + α·min(x − θ, 0); max(1, |α|)-
    Lipschitz away from θ, where it may jump by ≤ |θ|; ≤ 3 roundings of magnitude ≤ |α|·|θ − x| + |y|."""
    v, e = args[0]
    a, t = float(_F(op.alpha)), float(_F(op.theta))
    with np.errstate(invalid="ignore", over="ignore"):
        core = np.where(v > t, v, 0.0) if t != 0 else np.maximum(v, 0.0)
        if op.max_value is not None:
            core = np.clip(core, 0.0, float(_F(op.max_value)))
        y = core + a * np.minimum(v - t, 0.0)
        ee = max(1.0, abs(a)) * e + 3 * _bounds.U * (abs(a) * np.abs(t - v) + np.abs(y))
        if t != 0:
            ee = ee + np.where(np.abs(v - t) <= e, abs(t) * (1 + abs(a)) + e, 0.0)
    return y, ee


def _bounds_prelu(op, args, out_shape):
    v, e = args[0]
    a = _alpha_full(op.alpha, v.shape[1:]).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.where(v > 0, v, a * v)
        return y, np.maximum(1.0, np.abs(a)) * e + _bounds.U * np.abs(y)


def _bounds_arith(op, args, out_shape):
    """add/sub: eₐ + e_b + u|y|; mul: |b|eₐ + |a|e_b + eₐe_b + u|y|; div: (eₐ + |y|e_b)/(|b| − e_b)
    + u|y| (∞ when |b| ≤ e_b); max/min are 1-Lipschitz in each operand and exact."""
    rank = len(out_shape) - 1
    if op.const is None:
        (va, ea), (vb, eb) = ((_lift(v, rank), _lift(e, rank)) for v, e in args)
    else:
        x = (_lift(args[0][0], rank), _lift(args[0][1], rank))
        k = (np.float64(_F(op.const)), 0.0)
        (va, ea), (vb, eb) = (k, x) if op.const_first else (x, k)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        y = _NP[op.fn](va, vb)
        if op.fn in ("add", "sub"):
            ee = ea + eb + _bounds.U * np.abs(y)
        elif op.fn == "mul":
            ee = np.abs(vb) * ea + np.abs(va) * eb + ea * eb + _bounds.U * np.abs(y)
        elif op.fn == "div":
            den = np.abs(vb) - eb
            ee = np.where(den > 0, (ea + np.abs(y) * eb) / np.where(den > 0, den, 1.0), np.inf) + _bounds.U * np.abs(y)
        else:
            ee = np.maximum(ea, eb)
    return (np.broadcast_to(y, out_shape).astype(np.float64), np.broadcast_to(ee, out_shape).astype(np.float64))


# --------------------------------------------------------------------------------- lowering
def _lower_pad(ctx, op, s):
    h, w, c = ctx.tensor(op.inputs[0]).shape
    t, b, l, r = op.pads
    s.calls.append(Call("l2m_pad_f32_ref", (Int(h), Int(w), Int(c), Int(t), Int(b), Int(l), Int(r),
                                            Flt(op.value), *ctx.io(op))))


def _lower_window(ctx, op, s):
    t_in, t_out = ctx.tensor(op.inputs[0]), ctx.tensor(op.output)
    cin, cout = t_in.shape[-1], t_out.shape[-1]
    s.calls.append(Call("l2m_chanwindow_f32_ref", (Int(t_out.numel // cout), Int(cin), Int(cout), Int(op.begin),
                                                   Flt(op.value), *ctx.io(op))))


def _lower_relu(ctx, op, s):
    n = ctx.tensor(op.output).numel
    mx = op.max_value is not None
    s.calls.append(Call("l2m_relu_f32_f32_ref", (Int(n), Flt(op.alpha), Flt(op.theta), Int(int(mx)),
                                                 Flt(op.max_value if mx else 0.0), *ctx.io(op))))


def _lower_prelu(ctx, op, s):
    n = ctx.tensor(op.output).numel
    a = ctx.array(s, "alpha", "float", np.asarray(op.alpha, _F).reshape(-1))
    s.calls.append(Call("l2m_prelu_f32_f32_ref", (Int(n), Int(np.asarray(op.alpha).size), a, *ctx.io(op))))


def strides3(shape, out_shape) -> tuple:
    """Element strides (h, w, c) of a tensor of `shape` read broadcast over the rank-≤3
    `out_shape` (both left-padded with 1 to rank 3): 0 along broadcast axes."""
    shp = (1,) * (3 - len(shape)) + tuple(shape)
    st, acc = [], 1
    for d in reversed(shp):
        st.append(acc if d != 1 else 0)
        acc *= d
    return tuple(reversed(st))


def _lower_arith(ctx, op, s):
    out = ctx.tensor(op.output)
    h, w, c = (1,) * (3 - len(out.shape)) + tuple(out.shape)
    x = ctx.ptr(op.inputs[0], True)
    if op.const is None:
        a, b = x, ctx.ptr(op.inputs[1], True)
        sa, sb = (strides3(ctx.tensor(t).shape, out.shape) for t in op.inputs)
    else:
        k = ctx.array(s, "const", "float", np.asarray([op.const], _F))
        sx = strides3(ctx.tensor(op.inputs[0]).shape, out.shape)
        (a, sa), (b, sb) = ((k, (0, 0, 0)), (x, sx)) if op.const_first else ((x, sx), (k, (0, 0, 0)))
    s.calls.append(Call("l2m_arith_f32_f32_ref", (Sym(ARITH[op.fn]), Int(h), Int(w), Int(c), *map(Int, sa), a,
                                                  *map(Int, sb), b, ctx.ptr(op.output, False))))


register(OpDef(ir.Pad, lambda op, a, t: pad(a[0], op), _lower_pad, no_cost, _bounds_pad, ("pads", "value")))
register(OpDef(ir.ChannelWindow, lambda op, a, t: channel_window(np.asarray(a[0], _F), op.begin, t.shape[-1],
                                                                 _F(op.value)),
               _lower_window, no_cost, _bounds_window, ("begin", "value")))
register(OpDef(ir.Relu, lambda op, a, t: keras_relu(a[0], op.alpha, op.theta, op.max_value), _lower_relu,
               no_cost, _bounds_relu, ("alpha", "theta", "max_value"), in_place=True))
register(OpDef(ir.PRelu, lambda op, a, t: prelu(a[0], op.alpha), _lower_prelu, no_cost, _bounds_prelu, ("alpha",),
               in_place=True))
register(OpDef(ir.Arith, arith, _lower_arith, no_cost, _bounds_arith, ("fn", "const", "const_first"),
               in_place=True))
