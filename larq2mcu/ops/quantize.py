"""Quantize (F32 → BITS: bit = x ≤ −FLT_MIN, sign(0) = +1 with TF's subnormal flush) and
Dequantize (BITS → F32: ±1.0)."""
from __future__ import annotations

import numpy as np

from .. import bits, ir
from .base import OpDef, no_cost, register
from .records import Call, Int


def _ref_quantize(op, args, out_t):
    return bits.to_pm1(bits.sign_bits(args[0]))


def _ref_dequantize(op, args, out_t):
    return np.asarray(args[0], np.float32)


def _bounds_quantize(op, args, out_shape):
    v, _ = args[0]
    # TF flushes subnormals: a negative subnormal binarizes to +1 (bits.sign_bits).
    return np.where(v <= -np.finfo(np.float32).tiny, -1.0, 1.0), np.zeros_like(v)


def _bounds_dequantize(op, args, out_shape):
    v, _ = args[0]
    return v, np.zeros_like(v)


def _impl(ctx) -> str:
    """`opt` (firmware/runtime/l2m_float_opt.c, bit-identical to _ref) for specialised variants."""
    return "opt" if ctx.variant.specialised else "ref"


def _lower_quantize(ctx, op, s):
    groups, c = ctx.tensor(op.output).packing
    s.calls.append(Call(f"l2m_quantize_f32_b32_{_impl(ctx)}", (Int(groups), Int(c), *ctx.io(op))))


def _lower_dequantize(ctx, op, s):
    groups, c = ctx.tensor(op.inputs[0]).packing
    s.calls.append(Call(f"l2m_dequantize_b32_f32_{_impl(ctx)}", (Int(groups), Int(c), *ctx.io(op))))


register(OpDef(ir.Quantize, _ref_quantize, _lower_quantize, no_cost, _bounds_quantize, ()))
register(OpDef(ir.Dequantize, _ref_dequantize, _lower_dequantize, no_cost, _bounds_dequantize, ()))
