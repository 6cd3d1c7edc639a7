"""Fold bias + batch-norm + sign after a binary dot product into integer thresholds.

Derivation (docs/MATH.md §3). The dot product x is an integer in [−K, K] (K = fan-in). What follows
it up to the sign is a per-channel function f = BN ∘ (+bias), evaluated by Keras in float32, and
the sign gives bit = (f(x) < 0). f is affine, hence monotone, and float32 rounding keeps it
monotone (non-strictly), so over the integers the bit is a step function:
  * non-increasing (γ > 0):  bit = (x < τ),  τ = the smallest x with f(x) ≥ 0;
  * non-decreasing (γ < 0):  bit = (x > τ'), τ' = the largest x with f(x) ≥ 0. Negating the
    filter's weights negates x (padding corrections included), so bit = (−x < −τ'): the same
    comparison with τ = −τ' and flipped weight bits;
  * constant (γ = 0, or a channel that never crosses zero on [−K, K]): τ = −K (never set)
    or τ = K + 1 (always set).
We never use the closed form μ − β·√(σ²+ε)/γ: τ is read off `BatchNorm.probe`, the model's own
float32 BN outputs on every integer in [−K, K] (frontend), so it is exact against Keras.

Float producers (a float Conv2D/Dense, e.g. a first layer on the raw image) get the same fold
with `ir.FloatThreshold`, read off `BatchNorm.float_threshold` (an exact bisection over float32
values against the Keras layer, frontend/float_threshold.py); with no BN the sign of the float sum
is mode 0 with τ = the most negative subnormal (TF flushes subnormals, so x ≤ −FLT_MIN gives −1;
−0.0 and every subnormal give +1 as in Keras). The float sum itself is
computed in another order than TensorFlow, so this exactness is relative to the float sum.

A max pool between the dot and the BN commutes with the threshold per channel: for increasing f
bit(max x) is the AND of the window's bits, for decreasing f the OR (docs/MATH.md §4); those channels
get `or_mask`. Chains handled (every intermediate read only by the next op):
    dot → [MaxPool2D] → [BatchNorm] → Quantize
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import ir
from ..bits import FLT_MIN, sign_bits
from ._util import fresh_name, single_consumer


def thresholds(values: np.ndarray, lo: int):
    """values[i, c] = f(lo + i). Return (tau int32 [C], flip bool [C]) or None if not monotone."""
    bits = sign_bits(values)
    n, c = bits.shape
    tau = np.zeros(c, np.int64)
    flip = np.zeros(c, bool)
    k = np.arange(lo, lo + n)
    for ch in range(c):
        col = bits[:, ch]
        if col.all():
            tau[ch] = lo + n                          # x < K+1 always
        elif not col.any():
            tau[ch] = lo                              # x < −K never (x ≥ −K)
        elif np.all(col[:-1] >= col[1:]):             # 1…1 0…0
            tau[ch] = k[np.argmin(col)]
        elif np.all(col[:-1] <= col[1:]):             # 0…0 1…1
            flip[ch] = True
            tau[ch] = -k[np.argmax(col) - 1]
        else:
            return None
    return tau.astype(np.int32), flip


def _fan_in(dot) -> int:
    return int(np.prod(dot.weights.shape[:-1]))


def _match(g: ir.Graph, dot):
    """Return (maxpool, bn, quantize) ops following `dot`, or None."""
    mp = bn = None
    op = single_consumer(g, dot.output)
    if isinstance(op, ir.MaxPool2D):
        mp, op = op, single_consumer(g, op.output)
    if isinstance(op, ir.BatchNorm):
        bn, op = op, single_consumer(g, op.output)
    if not isinstance(op, ir.Quantize):
        return None
    return mp, bn, op


def _float_threshold(dot, bn):
    if bn is not None:
        return bn.float_threshold
    # sign of the float sum as TF computes it: subnormals flush to 0 (→ +1), so bit = x ≤ −FLT_MIN,
    # i.e. x < τ with τ the float just above −FLT_MIN (the most negative subnormal)
    c = dot.kernel.shape[-1]
    tau = np.nextafter(-FLT_MIN, np.float32(0))
    return ir.FloatThreshold(np.full(c, tau, np.float32), np.zeros(c, np.int8))


def _fold_one(g: ir.Graph, dot):
    m = _match(g, dot)
    if m is None:
        return None
    mp, bn, q = m
    if isinstance(dot, (ir.Conv2D, ir.Dense, ir.GroupConv2D)):
        thr = _float_threshold(dot, bn)
        if thr is None:
            return None
        return _rewrite(g, dot, mp, bn, q, dataclasses.replace(dot, threshold=thr), thr.mode == 1)
    k = _fan_in(dot)
    if bn is not None:
        if bn.probe is None:
            return None
        values, lo = bn.probe, bn.probe_lo
    else:
        values = np.arange(-k, k + 1, dtype=np.float32)[:, None] * np.ones((1, dot.weights.shape[-1]), np.float32)
        if getattr(dot, "scale", None) is not None:          # the F32 output it replaces: float32(acc·α) + bias
            values = (values * dot.scale).astype(np.float32)
        if dot.bias is not None:
            values = (values + dot.bias.astype(np.float32)).astype(np.float32)
        lo = -k
    res = thresholds(values, lo)
    if res is None:
        return None
    tau, flip = res
    w = np.where(flip, -dot.weights, dot.weights).astype(np.int8)
    drop = {"scale": None} if hasattr(dot, "scale") else {}     # the scaled binary dots (ops/scaled.py)
    new_dot = dataclasses.replace(dot, weights=w, bias=None, threshold=ir.Threshold(tau), **drop)
    return _rewrite(g, dot, mp, bn, q, new_dot, flip)


def _rewrite(g: ir.Graph, dot, mp, bn, q, new_dot, flip):
    """Replace dot → [mp] → [bn] → q by new_dot (→ BinaryMaxPool2D with OR where `flip`)."""
    tensors = dict(g.tensors)
    if mp is None:
        dot_out = q.output
    else:
        dot_out = fresh_name(g, "binarydot")
        t = g.tensors[dot.output]
        tensors[dot_out] = ir.Tensor(dot_out, t.shape, ir.BITS, ir.default_packing(t.shape))
    new_dot = dataclasses.replace(new_dot, output=dot_out)
    new_ops = [new_dot]
    if mp is not None:
        new_ops.append(ir.BinaryMaxPool2D(name=f"{mp.name}_b", inputs=(dot_out,), output=q.output, layer=mp.layer,
                                          pool=mp.pool, strides=mp.strides, pads=mp.pads,
                                          or_mask=flip if flip.any() else None))
    drop = {id(o) for o in (mp, bn, q) if o is not None}
    ops = []
    for op in g.ops:
        if op is dot:
            ops.extend(new_ops)
        elif id(op) not in drop:
            ops.append(op)
    return g.replace(ops=tuple(ops), tensors=tensors).prune()


DOTS = (ir.BinaryConv2D, ir.BinaryDense, ir.Conv2D, ir.Dense, ir.BinaryGroupConv2D, ir.GroupConv2D)


def fold_threshold(g: ir.Graph) -> ir.Graph:
    """Fold every dot → [MaxPool2D] → [BatchNorm] → Quantize chain into a thresholded dot (see the
    module docstring) until none is left. A chain stays unfolded when its BN has no probe /
    float_threshold or the step function is not monotone. Each rewrite prunes dead ops."""
    changed = True
    while changed:
        changed = False
        for op in g.ops:
            if isinstance(op, DOTS) and op.threshold is None:
                nxt = _fold_one(g, op)
                if nxt is not None:
                    g, changed = nxt, True
                    break
    return g
