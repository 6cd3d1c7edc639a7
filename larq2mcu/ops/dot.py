"""Dot-product ops: BinaryConv2D, BinaryDense (XOR/popcount), Conv2D, Dense (float; ±1 kernels are
stored as bits). Each may carry a threshold (BN + sign folded in), making its output BITS.

Oracles: integer convolutions of ±1 values with explicit padding (0 for pad_values=0.0, +1 for
1.0), float32 matrix products. Lowering: a `_ref` kernel call, or with a specialised variant a
layer-specialised function running the engine of firmware/runtime/l2m_*_impl.h with the
layer's sizes as constants, or the bit-sliced engine (layout/sliced.py) where it applies.
"""
from __future__ import annotations

import numpy as np

from .. import bits, ir
from ..layout import fixed, sliced
from ..layout import weights as wt
from . import _bounds, engine_choice, scaled
from .elementwise import _bounds_bn
from ._np import pad_nhwc, patches
from .base import Cost, OpDef, geom_values, register
from .records import NULL, Call, Flt, Geom, Int, Param, SpecFn, Sym

# ---------------------------------------------------------------------------------- oracles


def binary_conv_acc(x_pm1, weights, strides, pads, pad_one) -> np.ndarray:
    """Integer accumulator of a binary conv: int32 (N, OH, OW, Cout)."""
    kh, kw, cin, cout = weights.shape
    xp = pad_nhwc(np.asarray(x_pm1, np.int32), pads, 1 if pad_one else 0)
    p = patches(xp, kh, kw, *strides)
    return p @ weights.reshape(-1, cout).astype(np.int32)


def binary_dense_acc(x_pm1, weights) -> np.ndarray:
    """Integer accumulator of a binary dense: int32 (N, out) = x (N, in) · weights (in, out), ±1 values."""
    return np.asarray(x_pm1, np.int32) @ weights.astype(np.int32)


def float_threshold_bits(acc, thr) -> np.ndarray:
    """±1 values of a float accumulator under ir.FloatThreshold (modes 0–3)."""
    acc = np.asarray(acc, np.float32)
    bit = np.select([thr.mode == 0, thr.mode == 1, thr.mode == 2],
                    [acc < thr.tau, -acc < thr.tau, np.zeros_like(acc, bool)], np.ones_like(acc, bool))
    return np.where(bit, -1, 1).astype(np.int8)


def conv2d_f32(x, kernel, strides, pads, pad_value, bias):
    """Float32 conv oracle: x (N, H, W, C) padded with `pad_value`, patches · HWIO kernel, plus
    bias when not None → float32 (N, OH, OW, Cout). Summation order is numpy's, not the C kernel's."""
    kh, kw, cin, cout = kernel.shape
    xp = pad_nhwc(np.asarray(x, np.float32), pads, np.float32(pad_value))
    out = patches(xp, kh, kw, *strides) @ kernel.reshape(-1, cout).astype(np.float32)
    return out + bias if bias is not None else out


def conv2d_w1_grouped(x, signs, strides, pads, pad_value) -> np.ndarray:
    """A float conv with ±1 weights summed exactly as the 1-bit-weight C kernels do (order in
    firmware/runtime/l2m_w1_impl.h): the (ky, kx, c) terms in groups of four, each group summed
    from +0.0 in order, the group sums added to +0.0 in order, all in float32 round-to-nearest.
    x: (N, H, W, C) float32; signs: HWIO ±1 → float32 (N, OH, OW, Cout), bit for bit."""
    kh, kw, cin, cout = signs.shape
    p = patches(pad_nhwc(np.asarray(x, np.float32), pads, np.float32(pad_value)), kh, kw, *strides)
    terms = p[..., :, None] * signs.reshape(-1, cout).astype(np.float32)        # exact: ±a
    acc = np.zeros(terms.shape[:-2] + (cout,), np.float32)
    for t0 in range(0, terms.shape[-2], 4):
        grp = np.zeros_like(acc)
        for t in range(t0, min(t0 + 4, terms.shape[-2])):
            grp = grp + terms[..., t, :]
        acc = acc + grp
    return acc


def folded_bn(op, out):
    """A dot's F32 output through its folded BatchNorm (op.bn; none: unchanged):
    (out − mean)·scale + offset in float32, as l2m_batchnorm_f32_ref and the BatchNorm oracle."""
    if op.bn is None:
        return out
    return ((np.asarray(out, np.float32) - op.bn.mean) * op.bn.scale + op.bn.offset).astype(np.float32)


def _binary_output(op, acc):
    if op.threshold is not None:
        return np.where(acc < op.threshold.tau, -1, 1).astype(np.int8)
    out = acc.astype(np.float32)
    if op.scale is not None:
        out = (out * op.scale.astype(np.float32)).astype(np.float32)   # one rounding of acc·α
    if op.bias is not None:
        out = out + op.bias.astype(np.float32)     # one float32 add, as tf.nn.bias_add
    return folded_bn(op, out)


def _ref_binary_conv(op, args, out_t):
    return _binary_output(op, binary_conv_acc(args[0], op.weights, op.strides, op.pads, op.pad_one))


def _ref_binary_dense(op, args, out_t):
    return _binary_output(op, binary_dense_acc(args[0], op.weights))


def _ref_conv(op, args, out_t):
    out = conv2d_f32(args[0], op.kernel, op.strides, op.pads, op.pad_value, op.bias)
    return folded_bn(op, out) if op.threshold is None else float_threshold_bits(out, op.threshold)


def _ref_dense(op, args, out_t):
    out = np.asarray(args[0], np.float32) @ op.kernel.astype(np.float32)
    out = out + op.bias if op.bias is not None else out
    return folded_bn(op, out) if op.threshold is None else float_threshold_bits(out, op.threshold)


# ------------------------------------------------------------------------------------- cost
def _cost_conv(g, op):
    k = op.weights if isinstance(op, ir.BinaryConv2D) else op.kernel
    n = g.tensors[op.output].numel * int(np.prod(k.shape[:3]))
    return Cost(n, 0) if isinstance(op, ir.BinaryConv2D) else Cost(0, n)


def _cost_dense(g, op):
    return Cost(int(op.weights.size), 0) if isinstance(op, ir.BinaryDense) else Cost(0, int(op.kernel.size))


# ----------------------------------------------------------------------------------- bounds
def _thresholded(op, v):
    """A folded threshold makes bits: their values are the oracle's, with no rounding error."""
    return None if op.threshold is None else v


def _bounds_conv(op, args, out_shape):
    v, e = args[0]
    binary = isinstance(op, ir.BinaryConv2D)
    k = (op.weights if binary else op.kernel).astype(np.float64)
    kh, kw, cin, cout = k.shape
    pad_value = (1.0 if op.pad_one else 0.0) if binary else float(op.pad_value)
    xp = patches(pad_nhwc(v, op.pads, pad_value), kh, kw, *op.strides)
    ep = _bounds.maybe(patches(pad_nhwc(e, op.pads, 0.0), kh, kw, *op.strides))
    bias = None if op.bias is None else op.bias.astype(np.float64)
    if binary:
        acc = xp @ k.reshape(-1, cout)
        res = scaled.bounds(op, acc, kh * kw * cin, bias)
    else:
        res = _bounds.dot(xp, ep, k.reshape(-1, cout), bias, pre=True)
    return _with_threshold(op, res)


def _bounds_dense(op, args, out_shape):
    v, e = args[0]
    binary = isinstance(op, ir.BinaryDense)
    k = (op.weights if binary else op.kernel).astype(np.float64)
    bias = None if op.bias is None else op.bias.astype(np.float64)
    res = scaled.bounds(op, v @ k, k.shape[0], bias) if binary else _bounds.dot(v, _bounds.maybe(e), k, bias, pre=True)
    return _with_threshold(op, res)


def _with_threshold(op, res):
    thr = op.threshold
    if thr is None:
        bn = getattr(op, "bn", None)     # the group convs (ops/depthwise.py) have no folded BatchNorm
        return res if bn is None else _bounds_bn(bn, [res], None)   # a folded BatchNorm: its bound
    v = res[0]
    if isinstance(thr, ir.Threshold):
        bits = v < thr.tau
    else:
        bits = np.select([thr.mode == 0, thr.mode == 1, thr.mode == 2], [v < thr.tau, -v < thr.tau, False], True)
    return np.where(bits, -1.0, 1.0), np.zeros_like(v)


# --------------------------------------------------------------------------------- lowering
# dot kind → (always-inline engine of firmware/runtime/l2m_*_impl.h, takes the variant's mode);
# every engine ends with (in, w, output descriptor) — call formats in docs/RUNTIME.md
ENGINES = {
    "conv2d_b32": ("l2mi_conv2d", True),
    "conv2d_packed_b32": ("l2mi_conv2d_packed", True),
    "conv2d_small_b32": ("l2mi_conv2d_small", True),
    "conv2d_nib_b32": ("l2mi_conv2d_nib", True),
    "dense_b32": ("l2mi_dense", True),
    "conv2d_w1_f32": ("l2mi_conv_w1", False),
    "conv2d_f32": ("l2mi_conv_f32", False),
    "dense_f32": ("l2mi_dense_f32", False),
    "dense_fw_b32": ("l2mi_dense_fw", False),
    "dense_qw_b32": ("l2mi_dense_qw", False),
}


def _dot(ctx, s, op, kind: str, w, geom: tuple | None, sizes: tuple, extra=None, wextra: tuple = ()) -> None:
    """One call of l2m_<kind>_f32_ref (sums + bias → floats) or, with a threshold,
    l2m_<kind>_b32_ref: integer thresholds (bias folded in) or float thresholds (after bias).
    Convs pass `geom` (the 12 l2m_geom fields), dense layers `sizes`; `extra` is the argument
    after them (pad_one / pad value), if any; `wextra` ((name, C type, Ref) ...) are arrays that
    follow the weights in both calls (the fixed-point dense's sums and scales).

    With a specialised variant the call goes instead to a static function of the model,
    `<name>_op<i>_<kind>_<out>_<variant>`, that takes the same pointers and runs the engine with
    the sizes and `extra` as compile-time constants."""
    i, o = ctx.io(op)
    b = ctx.array(s, "bias", "float", op.bias) if op.bias is not None else NULL
    engine = ctx.variant.specialised and kind in ENGINES
    if op.threshold is None:
        params = [("bias", "float", b), *(_bn_params(ctx, s, op) if engine else [])]
    elif isinstance(op.threshold, ir.Threshold):
        params = [("thr", "int32_t", ctx.array(s, "thr", "int32_t", op.threshold.tau))]
    else:
        params = [("bias", "float", b), ("tau", "float", ctx.array(s, "tau", "float", op.threshold.tau)),
                  ("mode", "int8_t", ctx.array(s, "mode", "int8_t", op.threshold.mode))]
    bits = op.threshold is not None
    out = "b32" if bits else "f32"
    args = (i, w, *(r for _, _, r in wextra), *(v for _, _, v in params), o)
    tail = () if extra is None else (extra,)
    size_args = tuple(Int(v) for v in sizes)
    if not engine:     # no engine (w1 dense): the _ref kernel, then the BN kernel (if any) in place
        lead = (ctx.geom(s, geom),) if geom is not None else size_args
        s.calls.append(Call(f"l2m_{kind}_{out}_ref", (*lead, *tail, *args)))
        _bn_in_place(ctx, s, op)
        return
    fn, moded = ENGINES[kind]
    have = {n for n, _, _ in params}
    out_desc = (Call("l2m_out_bits", (Sym("out"), Sym("thr"))) if "thr" in have
                else Call("l2m_out_bits_float", (Sym("out"), Sym("bias"), Sym("tau"), Sym("mode"))) if "tau" in have
                else _float_desc(op))     # output descriptor (l2m_types.h)
    call = (*((Sym(ctx.variant.mode),) if moded else ()), *((Geom("g"),) if geom is not None else size_args),
            *tail, Sym("in"), Sym("w"), *(Sym(n) for n, _, _ in wextra), out_desc)
    wtype = next(a.ctype for a in s.arrays if a.name == f"op{s.index}_w")
    sig = (Param("uint32_t" if kind.endswith("_b32") else "float", "in"), Param(wtype, "w"),
           *(Param(t, n) for n, t, _ in wextra), *(Param(t, n) for n, t, _ in params),
           Param("uint32_t" if bits else "float", "out", const=False))
    fname = f"{ctx.name}_op{s.index}_{kind}_{out}_{ctx.variant.name}"
    s.spec = SpecFn(fname, sig, geom, fn, call, (("bias", op.bias is None),) if "bias" in have else ())
    s.calls.append(Call(fname, args))


_BN_FIELDS = ("mean", "scale", "offset")


def _bn_params(ctx, s, op) -> list:
    """[(name, C type, Ref)] of a folded BatchNorm for the engines' epilogue: one array `bn` of
    mean, scale, offset per channel in turn (l2m_out_float_bn), added to step s; [] without one."""
    if op.bn is None:
        return []
    inter = np.stack([getattr(op.bn, n).astype(np.float32) for n in _BN_FIELDS], axis=1).reshape(-1)
    return [("bn", "float", ctx.array(s, "bn", "float", inter))]


def _float_desc(op) -> Call:
    """The L2M_OUT_FLOAT descriptor: plus bias, and the folded BatchNorm when op has one."""
    if op.bn is None:
        return Call("l2m_out_float", (Sym("out"), Sym("bias")))
    return Call("l2m_out_float_bn", (Sym("out"), Sym("bias"), Sym("bn")))


def _bn_in_place(ctx, s, op) -> None:
    """A _ref kernel has no BatchNorm epilogue: l2m_batchnorm_f32_ref in place on its output, with
    the mean, scale, offset arrays of the unfused export — its kernel and arithmetic."""
    if op.bn is None:
        return
    c = op.bn.mean.shape[0]
    m, sc, of = (ctx.array(s, n, "float", getattr(op.bn, n)) for n in _BN_FIELDS)
    o_in, o = ctx.ptr(op.output, True), ctx.ptr(op.output, False)
    s.calls.append(Call("l2m_batchnorm_f32_ref", (Int(ctx.tensor(op.output).numel // c), Int(c), o_in, m, sc, of, o)))


def _sliced_ok(ctx, op) -> bool:
    """The bit-sliced engine for this dot: a variant whose target has clz, and integer
    thresholds or plain sums + bias (a float threshold after a binary dot does not occur)."""
    return ctx.variant.sliced and (op.threshold is None or isinstance(op.threshold, ir.Threshold))


def _sliced_dot(ctx, s, op, kind: str, std: np.ndarray, k: int, geom, sizes, extra) -> None:
    """The layer-specialised call of l2mi_<kind>_sliced: transposed rows and counter planes
    (thresholds) or per-filter bit counts (+ bias, floats) — layout/sliced.py — instead of
    weights and thresholds."""
    i, o = ctx.io(op)
    w = ctx.array(s, "w", "uint32_t", sliced.rows(std))
    conv = geom is not None
    lead = (Sym(ctx.variant.mode), *((Geom("g"), extra) if conv else tuple(Int(v) for v in sizes)), Sym("in"),
            Sym("w"))
    if op.threshold is not None:
        pl = ctx.array(s, "planes", "uint32_t", sliced.planes(std, op.threshold.tau, k))
        fname = f"{ctx.name}_op{s.index}_{kind}_sliced_b32_b32_{ctx.variant.name}"
        params = (Param("uint32_t", "in"), Param("uint32_t", "w"), Param("uint32_t", "planes"),
                  Param("uint32_t", "out", const=False))
        call, args = (*lead, NULL, Call("l2m_out_bits_planes", (Sym("out"), Sym("planes")))), (i, w, pl, o)
    else:
        kc = ctx.array(s, "kc", "int32_t", sliced.popcounts(std))
        b = ctx.array(s, "bias", "float", op.bias) if op.bias is not None else NULL
        bn = _bn_params(ctx, s, op)
        fname = f"{ctx.name}_op{s.index}_{kind}_sliced_b32_f32_{ctx.variant.name}"
        params = (Param("uint32_t", "in"), Param("uint32_t", "w"), Param("int32_t", "kc"), Param("float", "bias"),
                  *(Param(t, n) for n, t, _ in bn), Param("float", "out", const=False))
        call, args = (*lead, Sym("kc"), _float_desc(op)), (i, w, kc, b, *(r for _, _, r in bn), o)
    bias = (("bias", op.bias is None),) if op.threshold is None else ()
    s.spec = SpecFn(fname, params, geom, f"l2mi_{kind}_sliced", call, bias)
    s.calls.append(Call(fname, args))


# the small-window engine's limits: L2MI_SMALL_K (window bits) and L2MI_SMALL_TAB (output table
# words) of firmware/runtime/l2m_small_impl.h (tests/test_spec_kernels.py checks they agree)
SMALL_K, SMALL_TAB = 9, 320


def small_ok(variant, op, dense: bool) -> bool:
    """Whether binary conv `op` runs the small-window table engine (l2m_small_impl.h): a variant
    that has it, the window packed densely in at most SMALL_K bits, integer thresholds (one table
    row of k + 1 words per 32 filters) or sums + bias (one row of k + 1 floats per filter) within
    SMALL_TAB words. `Variant.engines` = "sliced" / "plain" (the bench forcing one) leaves it out."""
    k = int(np.prod(op.weights.shape[:3]))
    if not (variant.specialised and variant.small and variant.engines in ("auto", "small") and dense
            and k <= SMALL_K):
        return False
    n = op.weights.shape[-1]
    if op.threshold is None:
        rows = n
    elif isinstance(op.threshold, ir.Threshold):
        rows = -(-n // 32)
    else:
        return False
    return rows * (k + 1) <= SMALL_TAB


# the nibble-table engine's limits: L2MI_NIB_TAB (table words), L2MI_NIB_Q (words a table row:
# 32 filters) and L2MI_NIB_K (window bits) of firmware/runtime/l2m_nib_impl.h
# (tests/test_nib_engine.py checks they agree)
NIB_TAB, NIB_Q, NIB_K = 1152, 4, 255
# the variants of Thumb-2 cores (Cortex-M3 and up) and hosts, where l2mi_conv2d_nib runs the
# table (on Xtensa, which `clz` also serves, it runs l2mi_conv2d_packed). Not `hs`: its Cortex-M0
# boards have too little RAM for the 4.5 KB table on the stack; not `zbb`: RV32 runs the packed
# engine anyway.
NIB_VARIANTS = ("usad8", "clz")


def nib_fits(k: int, filters: int) -> bool:
    """Whether a packed-window conv of k window bits and `filters` filters fits the nibble-table
    engine (l2mi_nib_fits): ceil(k/4) nibble positions x 16 values x ceil(filters/8) words."""
    q = -(-filters // 8)
    return 1 <= k <= NIB_K and 1 <= q <= NIB_Q and -(-k // 4) * 16 * q <= NIB_TAB


def nib_ok(variant, op, dense: bool, pixels: int = 64) -> bool:
    """Whether binary conv `op` runs the nibble-table engine (l2m_nib_impl.h): a specialised
    variant of NIB_VARIANTS (not `builtin`, the plain-XOR/popcount baseline), the window
    packed densely (one input word a pixel), integer thresholds or sums (+ bias, BatchNorm), a
    layer that fits, and fewer estimated instructions than the XOR+popcount engine
    (engine_choice.nib_cheaper). `Variant.engines` = "plain" / "sliced" / "small" leaves it out,
    "nib" forces it wherever it fits."""
    kh, kw, cin, filters = op.weights.shape
    k = kh * kw * cin
    if not (variant.name in NIB_VARIANTS and variant.specialised and variant.engines in ("auto", "nib") and dense
            and bits.words(cin) == 1 and nib_fits(k, filters)):
        return False
    if op.threshold is not None and not isinstance(op.threshold, ir.Threshold):
        return False
    return variant.engines == "nib" or engine_choice.nib_cheaper(variant.name, k, filters,
                                                                 engine_choice.out_kind(op), pixels)


def _lower_binary_conv(ctx, op, s):
    t_in, t_out = ctx.tensor(op.inputs[0]), ctx.tensor(op.output)
    dense, std = wt.conv_layout(op.weights)   # few input channels: window bits packed densely
    geom = geom_values(t_in.shape, t_out.shape, op.weights.shape[:2], op.strides, op.pads)
    small = small_ok(ctx.variant, op, dense)
    # float outputs: the table engine copies each output from a table (the sliced engine reads its
    # counts back at ~40 instructions an output); thresholded ones keep the sliced engine where it
    # applies (32 filters a pass, a few instructions a window bit)
    if (not (small and op.threshold is None) and _sliced_ok(ctx, op)
            and sliced.eligible_conv(t_out.shape[-1], std.shape[1], any(op.pads), op.pad_one)
            and engine_choice.use_sliced(ctx.variant, ctx.g, op, std.shape[1])):
        k = int(np.prod(op.weights.shape[:3]))
        _sliced_dot(ctx, s, op, "conv2d", std, k, geom, None, Int(int(dense)))
        return
    w = ctx.array(s, "w", "uint32_t", std.reshape(-1))
    nib = not small and nib_ok(ctx.variant, op, dense, int(np.prod(t_out.shape[:-1])))
    kind = ("conv2d_small_b32" if small else "conv2d_nib_b32" if nib else "conv2d_packed_b32" if dense
            else "conv2d_b32")
    _dot(ctx, s, op, kind, w, geom, (), Int(1 if op.pad_one else 0))


def _lower_binary_dense(ctx, op, s):
    groups, c = ctx.tensor(op.inputs[0]).packing
    std = wt.pack_dense(op.weights, (groups, c))
    n = op.weights.shape[-1]
    if (_sliced_ok(ctx, op) and sliced.eligible_dense(n, std.size // n)
            and engine_choice.use_sliced(ctx.variant, ctx.g, op, std.size // n)):
        _sliced_dot(ctx, s, op, "dense", std.reshape(n, -1), groups * c, None, (groups, c, n), None)
        return
    w = ctx.array(s, "w", "uint32_t", std)
    _dot(ctx, s, op, "dense_b32", w, None, (groups, c, n))


def _lower_conv(ctx, op, s):
    t_in, t_out = ctx.tensor(op.inputs[0]), ctx.tensor(op.output)
    w1 = wt.is_binary(op.kernel)        # ±1 weights: stored as bits, signs flipped instead of multiplied
    w = (ctx.array(s, "w", "uint32_t", wt.pack_w1_conv(op.kernel)) if w1
         else ctx.array(s, "w", "float", op.kernel))
    geom = geom_values(t_in.shape, t_out.shape, op.kernel.shape[:2], op.strides, op.pads)
    _dot(ctx, s, op, "conv2d_w1_f32" if w1 else "conv2d_f32", w, geom, (), Flt(op.pad_value))


def _lower_dense(ctx, op, s):
    n_in, n_out = op.kernel.shape
    w1 = wt.is_binary(op.kernel)
    w = (ctx.array(s, "w", "uint32_t", wt.pack_w1_dense(op.kernel)) if w1
         else ctx.array(s, "w", "float", op.kernel))
    _dot(ctx, s, op, "dense_w1_f32" if w1 else "dense_f32", w, None, (n_in, n_out))


def _lower_bit_dense(ctx, op, s):
    """Integer sums of fixed-point weights (layout/fixed.py: within the float sum's own rounding
    bound; a handful of instructions per MAC where a float add is a library call) wherever they
    apply, else float sums."""
    groups, c = ctx.tensor(op.inputs[0]).packing
    sizes = (groups, c, op.kernel.shape[1])
    fx = fixed.quantize(op.kernel)
    if fx is None:
        _dot(ctx, s, op, "dense_fw_b32", ctx.array(s, "w", "float", op.kernel), None, sizes)
        return
    w = ctx.array(s, "w", "int32_t", fx.w.reshape(-1))
    wextra = (("wsum", "int32_t", ctx.array(s, "wsum", "int32_t", fx.wsum)),
              ("wscale", "float", ctx.array(s, "wscale", "float", fx.scale)))
    _dot(ctx, s, op, "dense_qw_b32", w, None, sizes, wextra=wextra)


register(OpDef(ir.BinaryConv2D, _ref_binary_conv, scaled.lowering(_lower_binary_conv), _cost_conv, _bounds_conv,
               ("weights", "strides", "pads", "pad_one", "bias", "threshold", "scale", "bn"),
               hash_optional=("scale", "bn")))
register(OpDef(ir.BinaryDense, _ref_binary_dense, scaled.lowering(_lower_binary_dense), _cost_dense, _bounds_dense,
               ("weights", "bias", "threshold", "scale", "bn"), hash_optional=("scale", "bn")))
register(OpDef(ir.Conv2D, _ref_conv, _lower_conv, _cost_conv, _bounds_conv,
               ("kernel", "strides", "pads", "pad_value", "bias", "threshold", "bn"), hash_optional=("bn",)))
register(OpDef(ir.Dense, _ref_dense, _lower_dense, _cost_dense, _bounds_dense, ("kernel", "bias", "threshold", "bn"),
               hash_optional=("bn",)))
# the reference and bounds of a Dense apply as they are: the input bits are ±1.0 in the oracle
register(OpDef(ir.BitDense, _ref_dense, _lower_bit_dense, _cost_dense, _bounds_dense,
               ("kernel", "bias", "threshold", "bn"), hash_optional=("bn",)))
