"""Exact sign thresholds of a Keras BatchNormalization applied to float32 values.

For a float input x (a float conv/dense output) the bit after BN + sign is bit = (BN(x) < 0).
BN is affine per channel and float32 rounding keeps it monotone, so over the ordered float32
values the bit is a step function. Float32 values are totally ordered by the integer key
    key(u) = u ^ 0x80000000 for sign bit 0,   ~u for sign bit 1      (u = the value's bits)
so a bisection over keys, evaluating the model's *own* layer on one candidate per channel each
round (≤ 32 rounds), finds the exact transition:
  mode 0 (increasing, γ>0): bit = x < τ,  τ = the smallest float with BN(τ) ≥ 0;
  mode 1 (decreasing, γ<0): bit = (−x) < τ, τ = −(the largest float with BN ≥ 0);
  mode 2: bit always 0;  mode 3: bit always 1 (γ = 0, or no crossing within ±R).
The search runs over [−R, R] with R = 2¹⁰⁰ rather than ±FLT_MAX: at FLT_MAX, Keras' BN can
overflow to ±inf and a γ = 0 channel then yields inf·0 = NaN, which has no sign. Accumulators
beyond 2¹⁰⁰ keep the classification of the range's ends (BN is monotone). If a channel still
gives NaN, None is returned and the model keeps the unfused float BN.
"""
from __future__ import annotations

import numpy as np

from ..bits import sign_bits

F32_MAX = np.float32(2.0 ** 100)      # the search range R (see above)


def _key(v: np.ndarray) -> np.ndarray:
    u = np.atleast_1d(np.asarray(v, np.float32)).view(np.uint32).astype(np.int64)
    return np.where(u >= 2**31, 0xFFFFFFFF - u, u + 2**31)


def _value(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, np.int64)
    u = np.where(k >= 2**31, k - 2**31, 0xFFFFFFFF - k).astype(np.uint32)
    return u.view(np.float32)


def float_thresholds(layer, channels: int, rank: int):
    """(tau float32 [C], mode int8 [C]) for Keras BN `layer` on inputs of the given rank (per sample)."""
    def ys(vals):
        batch = np.asarray(vals, np.float32).reshape((1,) + (1,) * (rank - 1) + (channels,))
        return np.asarray(layer(batch, training=False)).reshape(channels)

    def bits(vals):
        return sign_bits(ys(vals))

    y_lo, y_hi = ys(np.full(channels, -F32_MAX)), ys(np.full(channels, F32_MAX))
    if np.isnan(y_lo).any() or np.isnan(y_hi).any():
        return None
    b_lo, b_hi = sign_bits(y_lo), sign_bits(y_hi)
    lo = np.broadcast_to(_key(-F32_MAX)[0], (channels,)).copy()
    hi = np.broadcast_to(_key(F32_MAX)[0], (channels,)).copy()
    inc = b_lo & ~b_hi                    # 1 … 1 0 … 0
    dec = ~b_lo & b_hi                    # 0 … 0 1 … 1
    while np.any(hi - lo > 1):
        mid = lo + (hi - lo) // 2
        bm = bits(_value(mid))
        go_hi = np.where(inc, bm, ~bm)    # still on the low side of the transition
        lo = np.where(go_hi, mid, lo)
        hi = np.where(go_hi, hi, mid)
    tau = np.zeros(channels, np.float32)
    mode = np.where(b_lo, 3, 2).astype(np.int8)
    tau[inc] = _value(hi[inc])
    tau[dec] = -_value(lo[dec])
    mode[inc] = 0
    mode[dec] = 1
    return tau, mode
