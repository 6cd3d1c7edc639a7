"""Element-wise quantizer ops: StepQuantize (a multi-level step function: SteTern, SteHeaviside,
DoReFa k-bit activations, custom step quantizers) and Clip (clip_by_value-style activations),
both F32 → F32, found by evaluating the model's quantizer (frontend/step_fn.py). Both may run in
place. Oracles: numpy searchsorted / where, the same comparisons as the C."""
from __future__ import annotations

import numpy as np

from .. import ir
from .base import OpDef, no_cost, register
from .records import Call, Flt, Int


def step_ref(x, breakpoints, levels) -> np.ndarray:
    """out = levels[#{j: breakpoints[j] ≤ x}] in float32 (value comparisons: −0.0 == +0.0)."""
    bp = np.asarray(breakpoints, np.float32)
    return np.asarray(levels, np.float32)[np.searchsorted(bp, np.asarray(x, np.float32), side="right")]


def clip_ref(x, lo, hi, strict: bool, flush: bool) -> np.ndarray:
    """ir.Clip: a subnormal x becomes ±0.0 (sign kept) when `flush`; then strict: x < lo → lo,
    x > hi → hi; non-strict: x ≤ lo → lo, x ≥ hi → hi; else x."""
    x = np.asarray(x, np.float32)
    if flush:
        x = np.where(np.abs(x) < np.finfo(np.float32).tiny, np.copysign(np.float32(0), x), x)
    lo, hi = np.float32(lo), np.float32(hi)
    if strict:
        return np.where(x < lo, lo, np.where(x > hi, hi, x)).astype(np.float32)
    return np.where(x <= lo, lo, np.where(x >= hi, hi, x)).astype(np.float32)


def _bounds_step(op, args, out_shape):
    """A value known to ±e may fall on either side of a breakpoint: the error is the largest level
    jump between step(v − e) and step(v + e) (the levels are monotone)."""
    v, e = args[0]
    lv = op.levels.astype(np.float64)
    bp = op.breakpoints.astype(np.float64)
    with np.errstate(invalid="ignore"):
        y = lv[np.searchsorted(bp, v, side="right")]
        lo = lv[np.searchsorted(bp, v - e, side="right")]
        hi = lv[np.searchsorted(bp, v + e, side="right")]
    return y, np.maximum(np.abs(lo - y), np.abs(hi - y))


def _bounds_clip(op, args, out_shape):
    """Clip is 1-Lipschitz; a flushed subnormal moves by < FLT_MIN."""
    v, e = args[0]
    return np.clip(v, op.lo, op.hi), e + (float(np.finfo(np.float32).tiny) if op.flush else 0.0)


def _lower_step(ctx, op, s):
    bp = ctx.array(s, "bp", "float", op.breakpoints)
    lv = ctx.array(s, "levels", "float", op.levels)
    i, o = ctx.io(op)
    s.calls.append(Call("l2m_step_f32_f32_ref", (Int(ctx.tensor(op.output).numel), Int(op.breakpoints.size),
                                                 bp, lv, i, o)))


def _lower_clip(ctx, op, s):
    i, o = ctx.io(op)
    s.calls.append(Call("l2m_clip_f32_f32_ref", (Int(ctx.tensor(op.output).numel), Flt(op.lo), Flt(op.hi),
                                                 Int(int(op.strict)), Int(int(op.flush)), i, o)))


register(OpDef(ir.StepQuantize, lambda op, a, t: step_ref(a[0], op.breakpoints, op.levels), _lower_step, no_cost,
               _bounds_step, ("breakpoints", "levels"), in_place=True))
register(OpDef(ir.Clip, lambda op, a, t: clip_ref(a[0], op.lo, op.hi, op.strict, op.flush), _lower_clip, no_cost,
               _bounds_clip, ("lo", "hi", "strict", "flush"), in_place=True))
