"""Grouped, dilated convolutions: BinaryGroupConv2D (XOR/popcount on bits) and GroupConv2D (float).
Depthwise convs are groups = Cin (Keras' (kh, kw, Cin, M) kernel reshaped to (kh, kw, 1, Cin·M), so
output channel c·M + m reads input channel c); grouped convs keep Keras' (kh, kw, Cin/G, Cout).

Oracles: per group g, the integer (binary) or float32 product of the dilated patches of the input
channel slice [g·Cin/G, (g+1)·Cin/G) with the group's filters [g·Cout/G, (g+1)·Cout/G); padding
reads +1 (pad_one) / 0 (binary) or `pad_value` (float). A rank-2 (W, C) tensor (a 1-D conv) is the
map (1, W, C). Lowering: the `_ref` kernels of
firmware/runtime/l2m_depthwise.c (l2m_geom plus dilation and group count as extra arguments).
"""
from __future__ import annotations

import numpy as np

from .. import bits, ir
from . import _bounds
from ._np import pad_nhwc
from .base import Cost, OpDef, geom_values, register
from .dot import _with_threshold, float_threshold_bits
from .records import NULL, Call, Flt, Int

# ---------------------------------------------------------------------------------- oracles


def dilated_patches(x: np.ndarray, kh: int, kw: int, strides, dilation) -> np.ndarray:
    """(N, H, W, C) already padded → (N, OH, OW, kh·kw·C), tap (ky, kx) at (ky·d_h, kx·d_w),
    HWC tap order (matches HWIO); OH = ⌊(H − (kh−1)·d_h − 1) / s_h⌋ + 1."""
    x = np.ascontiguousarray(x)
    (sh, sw), (dh, dw) = strides, dilation
    n, h, w, c = x.shape
    oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
    s = x.strides
    view = np.lib.stride_tricks.as_strided(
        x, (n, oh, ow, kh, kw, c), (s[0], s[1] * sh, s[2] * sw, s[1] * dh, s[2] * dw, s[3]), writeable=False)
    return view.reshape(n, oh, ow, kh * kw * c)


def group_conv(x, kernel, strides, pads, dilation, groups: int, pad_value, dtype=np.float32) -> np.ndarray:
    """Σ over each group's taps and input channels of x·kernel, in `dtype` (int32 for ±1 values:
    exact; float32: numpy's order) → (N, OH, OW, Cout). No bias."""
    kh, kw, cig, cout = kernel.shape
    cog = cout // groups
    xp = pad_nhwc(np.asarray(x, dtype), pads, dtype(pad_value))
    outs = []
    for g in range(groups):
        p = dilated_patches(xp[..., g * cig:(g + 1) * cig], kh, kw, strides, dilation)
        outs.append(p @ kernel[..., g * cog:(g + 1) * cog].reshape(-1, cog).astype(dtype))
    return np.concatenate(outs, axis=-1)


def _map(a: np.ndarray) -> np.ndarray:
    """A batch of (W, C) tensors as (N, 1, W, C) maps; (N, H, W, C) unchanged."""
    return a[:, None] if a.ndim == 3 else a


def _ref_binary(op, args, out_t):
    acc = group_conv(_map(args[0]), op.weights, op.strides, op.pads, op.dilation, op.groups,
                     1 if op.pad_one else 0, np.int32)
    acc = acc.reshape((acc.shape[0],) + tuple(out_t.shape))
    if op.threshold is not None:
        return np.where(acc < op.threshold.tau, -1, 1).astype(np.int8)
    out = acc.astype(np.float32)
    return out + op.bias.astype(np.float32) if op.bias is not None else out


def _ref_float(op, args, out_t):
    out = group_conv(_map(args[0]), op.kernel, op.strides, op.pads, op.dilation, op.groups, op.pad_value)
    out = out.reshape((out.shape[0],) + tuple(out_t.shape))
    out = out + op.bias if op.bias is not None else out
    return out if op.threshold is None else float_threshold_bits(out, op.threshold)


# ------------------------------------------------------------------------------------- cost
def _cost(g, op):
    binary = isinstance(op, ir.BinaryGroupConv2D)
    k = op.weights if binary else op.kernel
    n = g.tensors[op.output].numel * int(np.prod(k.shape[:3]))
    return Cost(n, 0) if binary else Cost(0, n)


# ----------------------------------------------------------------------------------- bounds
def _bounds_gconv(op, args, out_shape):
    v, e = (_map(a) for a in args[0])
    binary = isinstance(op, ir.BinaryGroupConv2D)
    k = (op.weights if binary else op.kernel).astype(np.float64)
    kh, kw, cig, cout = k.shape
    cog = cout // op.groups
    pad_value = (1.0 if op.pad_one else 0.0) if binary else float(op.pad_value)
    xp, ep = pad_nhwc(v, op.pads, pad_value), pad_nhwc(e, op.pads, 0.0)
    bias = None if op.bias is None else op.bias.astype(np.float64)
    vs, es = [], []
    for g in range(op.groups):
        sl, so = slice(g * cig, (g + 1) * cig), slice(g * cog, (g + 1) * cog)
        p = dilated_patches(xp[..., sl], kh, kw, op.strides, op.dilation)
        k2 = k[..., so].reshape(-1, cog)
        if binary:
            vs.append(p @ k2)
            continue
        pe = _bounds.maybe(dilated_patches(ep[..., sl], kh, kw, op.strides, op.dilation))
        gv, ge = _bounds.dot(p, pe, k2, None if bias is None else bias[so], pre=True)
        vs.append(gv)
        es.append(ge)
    if binary:
        acc = np.concatenate(vs, axis=-1).reshape(out_shape)
        return _with_threshold(op, _bounds.integer_plus_bias(acc, bias))
    return _with_threshold(op, (np.concatenate(vs, axis=-1).reshape(out_shape),
                                np.concatenate(es, axis=-1).reshape(out_shape)))


# --------------------------------------------------------------------------------- lowering
def pack_filters(weights: np.ndarray) -> np.ndarray:
    """±1 (kh, kw, Cin/G, Cout) → uint32 (Cout, words(kh·kw·Cin/G)): per output channel its bits
    in (ky, kx, ci) order, bit t = (ky·kw + kx)·(Cin/G) + ci, pad bits 0 (l2m_kernels.h)."""
    cout = weights.shape[-1]
    return bits.pack(np.moveaxis(weights, -1, 0).reshape(cout, -1))


def dw_sliced_layout(weights: np.ndarray, tau: np.ndarray):
    """For l2m_dwconv2d_b32_b32_sliced (contract in l2m_kernels.h): (tap words (kh·kw, words(C)),
    tplanes (kh·kw + 1, words(C), B + 2), B) from depthwise ±1 weights (kh, kw, 1, C) and integer
    thresholds: per n contributing taps, always / never masks and the planes of
    T = ⌊(n − τ) / 2⌋ + 1 (bit = acc < τ ⇔ m ≥ T for m mismatches, acc = n − 2m)."""
    kh, kw, _, c = weights.shape
    k, nw = kh * kw, bits.words(c)
    nb = max(1, int(k).bit_length())                         # 2^B > k
    tau = np.asarray(tau, np.int64)

    def plane(mask, fill=False):
        full = np.full(nw * bits.WORD_BITS, fill, bool)
        full[:c] = mask
        return bits.pack(full)

    tp = np.zeros((k + 1, nw, nb + 2), np.uint32)
    for n in range(k + 1):
        t = (n - tau) // 2 + 1
        tp[n, :, 0] = plane(t <= 0)
        tp[n, :, 1] = plane(t > n, fill=True)                 # pad channels: never set
        tc = np.clip(t, 0, 2 ** nb - 1)
        for p in range(nb):
            tp[n, :, 2 + p] = plane(((tc >> p) & 1).astype(bool))
    return bits.pack(weights.reshape(k, c)), tp, nb


def dw_sliced_ok(op, cin: int) -> bool:
    """The bit-sliced depthwise kernels apply: groups = Cin = Cout, kh·kw ≤ 255."""
    kh, kw, cig, cout = op.weights.shape
    return cig == 1 and op.groups == cin == cout and kh * kw <= 255


def _lead(ctx, op, s, k):
    t_in, t_out = ctx.tensor(op.inputs[0]), ctx.tensor(op.output)
    in_shape, out_shape = ((1,) * (3 - len(t.shape)) + tuple(t.shape) for t in (t_in, t_out))    # (W, C): H = 1
    g = ctx.geom(s, geom_values(in_shape, out_shape, k.shape[:2], op.strides, op.pads))
    return (g, Int(op.dilation[0]), Int(op.dilation[1]), Int(op.groups))


def _lower_binary(ctx, op, s):
    lead = _lead(ctx, op, s, op.weights)
    i, o = ctx.io(op)
    if ctx.variant.specialised and dw_sliced_ok(op, ctx.tensor(op.inputs[0]).shape[-1]):
        tau = op.threshold.tau if op.threshold is not None else np.zeros(op.weights.shape[-1], np.int32)
        taps, tp, nb = dw_sliced_layout(op.weights, tau)
        w = ctx.array(s, "w", "uint32_t", taps.reshape(-1))
        if op.threshold is not None:
            t = ctx.array(s, "tplanes", "uint32_t", tp.reshape(-1))
        else:
            t = ctx.array(s, "bias", "float", op.bias) if op.bias is not None else NULL
        out = "b32" if op.threshold is not None else "f32"
        s.calls.append(Call(f"l2m_dwconv2d_b32_{out}_sliced", (*lead[:3], Int(int(op.pad_one)), Int(nb), i, w, t, o)))
        return
    w = ctx.array(s, "w", "uint32_t", pack_filters(op.weights).reshape(-1))
    if op.threshold is not None:
        thr = ctx.array(s, "thr", "int32_t", op.threshold.tau)
        s.calls.append(Call("l2m_gconv2d_b32_b32_ref", (*lead, Int(int(op.pad_one)), i, w, thr, o)))
        return
    b = ctx.array(s, "bias", "float", op.bias) if op.bias is not None else NULL
    s.calls.append(Call("l2m_gconv2d_b32_f32_ref", (*lead, Int(int(op.pad_one)), i, w, b, o)))


def _lower_float(ctx, op, s):
    lead = _lead(ctx, op, s, op.kernel)
    i, o = ctx.io(op)
    w = ctx.array(s, "w", "float", op.kernel)
    b = ctx.array(s, "bias", "float", op.bias) if op.bias is not None else NULL
    if op.threshold is None:
        s.calls.append(Call("l2m_gconv2d_f32_f32_ref", (*lead, Flt(op.pad_value), i, w, b, o)))
        return
    tau = ctx.array(s, "tau", "float", op.threshold.tau)
    mode = ctx.array(s, "mode", "int8_t", op.threshold.mode)
    s.calls.append(Call("l2m_gconv2d_f32_b32_ref", (*lead, Flt(op.pad_value), i, w, b, tau, mode, o)))


_GEO = ("strides", "pads", "dilation", "groups")
register(OpDef(ir.BinaryGroupConv2D, _ref_binary, _lower_binary, _cost, _bounds_gconv,
               ("weights", *_GEO, "pad_one", "bias", "threshold")))
register(OpDef(ir.GroupConv2D, _ref_float, _lower_float, _cost, _bounds_gconv, ("kernel", *_GEO, "pad_value", "bias",
                                                                                "threshold")))
