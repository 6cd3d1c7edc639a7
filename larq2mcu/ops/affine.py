"""Input-side affine ops and the integer first layer.

  Rescale    y = x·scale + offset       (Keras Rescaling: float32 multiply, then float32 add)
  Normalize  y = (x − mean) / denom     (Keras Normalization: float32 subtract, then divide)
  IntConv2D / IntDense  raw bytes → bits: an exact integer sum Σ u·w of ±1 weights, then integer
             thresholds per (border class, channel) (passes/integer_input.py, docs/MATH.md §8).

The affine oracles compute exactly what Keras computes (each operation one IEEE float32
rounding; the C kernels write the two operations as two statements, so no compiler contracts
them into a fused multiply-add even without -ffp-contract=off).
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..layout import weights as wt
from . import _bounds
from .base import Cost, OpDef, geom_values, no_cost, register
from .dot import binary_conv_acc
from .records import Call, Geom, Int, Param, SpecFn, Sym

# the table engine's largest window (L2MI_TAB_TAPS of l2m_intconv_impl.h); larger ones run _ref
TAB_TAPS = 33

# ---------------------------------------------------------------------------------- oracles


def affine_f32(op, x) -> np.ndarray:
    """Float32 oracle of a Rescale / Normalize op on x (…, C): one IEEE float32 rounding per
    operation, in Keras' order."""
    x = np.asarray(x, np.float32)
    if isinstance(op, ir.Rescale):
        return ((x * op.scale).astype(np.float32) + op.offset).astype(np.float32)
    return ((x - op.mean).astype(np.float32) / op.denom).astype(np.float32)


def int_conv_acc(u, op) -> np.ndarray:
    """Exact integer accumulator of an IntConv2D: int32 (N, OH, OW, C), taps outside add 0."""
    return binary_conv_acc(np.asarray(u, np.int32), op.weights, op.strides, op.pads, False)


def _ref_int_conv(op, args, out_t):
    tau = op.tau[op.cls_y][:, op.cls_x]                  # (OH, OW, C): each position's class
    return np.where(int_conv_acc(args[0], op) < tau, -1, 1).astype(np.int8)


def _ref_int_dense(op, args, out_t):
    u = np.asarray(args[0], np.int64).reshape(len(args[0]), -1)
    return np.where(u @ op.weights.astype(np.int64) < op.tau, -1, 1).astype(np.int8)


# ----------------------------------------------------------------------------------- bounds
def _bounds_affine(op, args, out_shape):
    """Two float32 roundings: Rescale e_y = |s|·eₓ + 2u·(|x·s| + |y|); Normalize
    e_y = eₓ/|d| + 3u·(|x − m|/|d| + |y|)."""
    v, e = args[0]
    if isinstance(op, ir.Rescale):
        s, o = op.scale.astype(np.float64), op.offset.astype(np.float64)
        vv = v * s + o
        return vv, np.abs(s) * e + 2 * _bounds.U * (np.abs(v * s) + np.abs(vv))
    m, d = op.mean.astype(np.float64), op.denom.astype(np.float64)
    vv = (v - m) / d
    return vv, e / np.abs(d) + 3 * _bounds.U * (np.abs(v - m) / np.abs(d) + np.abs(vv))


def _bounds_int(op, args, out_shape):
    """Integer sums of integer bytes: the bits are the oracle's, no rounding error."""
    v = args[0][0]
    ref = _ref_int_conv if isinstance(op, ir.IntConv2D) else _ref_int_dense
    bits = ref(op, [np.rint(v)], None).astype(np.float64)
    return bits, np.zeros_like(bits)


def _cost_int(g, op):
    """Counted as float MACs (byte × ±1 — neither binary nor float, but the float conv it replaces)."""
    if isinstance(op, ir.IntDense):
        return Cost(0, int(op.weights.size))
    return Cost(0, g.tensors[op.output].numel * int(np.prod(op.weights.shape[:3])))


# --------------------------------------------------------------------------------- lowering
def _lower_affine(ctx, op, s):
    t = ctx.tensor(op.output)
    c = t.shape[-1]
    i, o = ctx.io(op)
    if isinstance(op, ir.Rescale):
        a, b, fn = ctx.array(s, "scale", "float", op.scale), ctx.array(s, "offset", "float", op.offset), "rescale"
    else:
        a, b, fn = ctx.array(s, "mean", "float", op.mean), ctx.array(s, "denom", "float", op.denom), "normalize"
    s.calls.append(Call(f"l2m_{fn}_f32_f32_ref", (Int(t.numel // c), Int(c), i, a, b, o)))


def _in_kind(ctx, op) -> str:
    return "s8" if ctx.tensor(op.inputs[0]).dtype == ir.I8 else "u8"


def _lower_int_conv(ctx, op, s):
    t_in, t_out = ctx.tensor(op.inputs[0]), ctx.tensor(op.output)
    i, o = ctx.io(op)
    gv = tuple(int(v) for v in geom_values(t_in.shape, t_out.shape, op.weights.shape[:2], op.strides, op.pads))
    w = ctx.array(s, "w", "uint32_t", wt.pack_w1_conv(op.weights))
    cy = ctx.array(s, "cls_y", "int8_t", op.cls_y.astype(np.int8))
    cx = ctx.array(s, "cls_x", "int8_t", op.cls_x.astype(np.int8))
    thr = ctx.array(s, "thr", "int32_t", op.tau.reshape(-1))
    kind, n_cls_x = _in_kind(ctx, op), Int(op.tau.shape[1])
    taps = int(np.prod(op.weights.shape[:3]))
    if not ctx.variant.specialised or taps > TAB_TAPS:
        s.calls.append(Call(f"l2m_conv2d_{kind}_b32_ref", (ctx.geom(s, gv), cy, cx, n_cls_x, i, w, thr, o)))
        return
    # the table engine (firmware/runtime/l2m_intconv_impl.h: two pixels per word, same bits) in
    # a function of the model with this layer's geometry as constants: every tap offset folds
    ctype = "int8_t" if kind == "s8" else "uint8_t"
    sig = (Param(ctype, "in"), Param("uint32_t", "w"), Param("int8_t", "cls_y"), Param("int8_t", "cls_x"),
           Param("int32_t", "thr"), Param("uint32_t", "out", const=False))
    fname = f"{ctx.name}_op{s.index}_conv2d_{kind}_b32_{ctx.variant.name}"
    engine_args = (Geom("g"), n_cls_x, Sym("in"), Sym("w"), Sym("cls_y"), Sym("cls_x"), Sym("thr"), Sym("out"))
    s.spec = SpecFn(fname, sig, gv, f"l2mi_conv_{kind}_tab", engine_args)
    s.calls.append(Call(fname, (i, w, cy, cx, thr, o)))


def _lower_int_dense(ctx, op, s):
    n_in, n_out = op.weights.shape
    i, o = ctx.io(op)
    w = ctx.array(s, "w", "uint32_t", wt.pack_w1_dense(op.weights))
    thr = ctx.array(s, "thr", "int32_t", op.tau)
    s.calls.append(Call(f"l2m_dense_{_in_kind(ctx, op)}_b32_ref", (Int(n_in), Int(n_out), i, w, thr, o)))


register(OpDef(ir.Rescale, lambda op, a, t: affine_f32(op, a[0]), _lower_affine, no_cost, _bounds_affine,
               ("scale", "offset")))
register(OpDef(ir.Normalize, lambda op, a, t: affine_f32(op, a[0]), _lower_affine, no_cost, _bounds_affine,
               ("mean", "denom")))
register(OpDef(ir.IntConv2D, _ref_int_conv, _lower_int_conv, _cost_int, _bounds_int,
               ("weights", "strides", "pads", "cls_y", "cls_x", "tau", "exact")))
register(OpDef(ir.IntDense, _ref_int_dense, _lower_int_dense, _cost_int, _bounds_int, ("weights", "tau", "exact")))
