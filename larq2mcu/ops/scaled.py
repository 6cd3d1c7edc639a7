"""Binary dots with an output scale (±α_c kernels: magnitude_aware_sign, XNOR-Net scaling; see
docs/MATH.md §3a): their float32 rounding bound and their lowering when no threshold is folded."""
from __future__ import annotations

import dataclasses

import numpy as np

from . import _bounds
from .records import NULL, Call, Int


def bounds(op, acc, n, bias):
    """A binary dot's F32 output. Unscaled (or thresholded: the threshold reads acc): the integer plus
    bias. Scaled: Keras sums n terms ±α in float32 (Σ|terms| = n·α) and adds the bias, the C rounds
    acc·α once and adds: both within γₙ₊₁·(n·α + |b|) of acc·α + b."""
    if op.scale is None or op.threshold is not None:
        return _bounds.integer_plus_bias(acc, bias)
    a = op.scale.astype(np.float64)
    v = acc * a + (bias if bias is not None else 0.0)
    return v, _bounds.gamma(n + 1) * (n * a + (np.abs(bias) if bias is not None else 0.0)) + _bounds.U * np.abs(v)


def lowering(lower):
    """A scaled binary dot without threshold: the unscaled dot (no bias) into the output, then
    l2m_scale_bias_f32_ref in place: out = out·scale + bias (firmware/runtime/l2m_step.c)."""
    def lower_any(ctx, op, s):
        if op.scale is None or op.threshold is not None:
            return lower(ctx, op, s)
        lower(ctx, dataclasses.replace(op, scale=None, bias=None), s)
        c = op.weights.shape[-1]
        n = ctx.tensor(op.output).numel // c
        sc = ctx.array(s, "scale", "float", op.scale)
        b = ctx.array(s, "sbias", "float", op.bias) if op.bias is not None else NULL
        o = ctx.ptr(op.output, False)
        s.calls.append(Call("l2m_scale_bias_f32_ref", (Int(n), Int(c), sc, b, o)))
    return lower_any
