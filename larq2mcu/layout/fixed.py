"""Fixed-point weights of a float Dense on bits (ir.BitDense) for firmware's l2mi_dense_qw:
integer sums instead of float ones (docs/MATH.md §11; contract: l2m_dense_qw_b32_f32_ref in
l2m_kernels.h).

Output o of n inputs with signs s_i = ±1 (bit 1 = −1) is Σ s_i·w_io. Per output, with the largest
integer E_o such that Σ_i |W_io| ≤ LIMIT for W_io = round(w_io·2^E_o) (float64: w·2^E is exact),
the C sums the integers exactly, acc = Σ s_i·W_io = wsum_o − 2·Σ_{bit i = 1} W_io, and returns
(float)acc·2^−E_o, rounded once (the scale is a power of two and the product a normal float, so
only the conversion rounds). With S = Σ_i |w_io| and q = 2^−E (so |acc|·q ≤ S + n·q/2):

    |C − Σ s_i·w_io| ≤ (n·q/2)·(1 + u) + u·S,   q/2 < S/(LIMIT − n/2)

(E maximal: one more would break the limit, so 2^(E+1)·S + n/2 > LIMIT). As LIMIT ≈ 2^30 = 64/u
and n ≤ 2^16, that is at most (n/64 + 1.04)·u·S, below the float32 sum's own bound γ_n·S for
n ≥ FIXED_MIN_N (u = 2^−24, γ_n = n·u/(1 − n·u); the oracle's bounds, ops/_bounds.py, hold).
LIMIT keeps every partial sum, wsum − N and wsum − 2N inside int32.

`quantize` declines (None) where the bound or a normal float result is not guaranteed: fewer than
FIXED_MIN_N or more than 2^16 inputs, a non-finite weight, or an exponent outside [−126, 126] (2^−E a normal
float32, and |acc|·2^−E, 1 ≤ |acc| ≤ 2^30, neither subnormal nor beyond FLT_MAX); the layer then keeps the
float sums (l2mi_dense_fw).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LIMIT = 2 ** 30 - 1
FIXED_MIN_N = 8
_EMAX = 126
_FLT_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class FixedDense:
    """w: int32 (n, m) as the float kernel (in × out); wsum: int32 (m,) Σ_i W_io; scale: float32
    (m,) 2^−E_o."""
    w: np.ndarray
    wsum: np.ndarray
    scale: np.ndarray


def _exponent(col: np.ndarray) -> int | None:
    """The largest E with Σ |round(col·2^E)| ≤ LIMIT (col float64, finite), None outside range."""
    s = float(np.abs(col).sum())
    if s == 0.0:
        return 0
    e = int(np.floor(np.log2(LIMIT / s)))      # Σ|col|·2^E ≤ LIMIT; the rounding may add n/2
    while np.abs(np.round(np.ldexp(col, e))).sum() > LIMIT:
        e -= 1
    while np.abs(np.round(np.ldexp(col, e + 1))).sum() <= LIMIT:
        e += 1
    if not -_EMAX <= e <= _EMAX or np.ldexp(2.0 ** 30, -e) >= _FLT_MAX:     # |(float)acc| ≤ 2^30
        return None
    return e


def quantize(kernel: np.ndarray) -> FixedDense | None:
    """The fixed-point form of float kernel (n, m) (the module docstring), None where it does not
    apply."""
    k = np.asarray(kernel, np.float32).astype(np.float64)
    n, m = k.shape
    if n < FIXED_MIN_N or n > 2 ** 16 or not np.all(np.isfinite(k)):
        return None
    es = []
    for o in range(m):
        e = _exponent(k[:, o])
        if e is None:
            return None
        es.append(e)
    e = np.array(es)
    w = np.round(np.ldexp(k, e[None, :])).astype(np.int64)
    assert np.all(np.abs(w).sum(axis=0) <= LIMIT)
    return FixedDense(w.astype(np.int32), w.sum(axis=0).astype(np.int32),
                      np.ldexp(np.ones(m), -e).astype(np.float32))


def value(fx: FixedDense, signs: np.ndarray) -> np.ndarray:
    """What the C computes before the bias: (float)acc·2^−E per output for ±1 `signs` (..., n),
    float32 — the exact semantics of l2m_dense_qw_b32_f32_ref (tests compare them bit for bit)."""
    acc = np.asarray(signs, np.int64) @ fx.w.astype(np.int64)
    return acc.astype(np.float32) * fx.scale
