"""Float32 rounding-error bounds of the primitive computations (derivations: larq2mcu/rounding.py).

u = 2⁻²⁴, γₙ = n·u/(1 − n·u) (Higham ch. 3). Each function takes float64 values v (≈ exact) and
error bounds e of its inputs and returns (v, e) of its output."""
from __future__ import annotations

import numpy as np

U = 2.0 ** -24
TRANSCENDENTAL_REL = 32 * U


def gamma(n: int) -> float:
    return n * U / (1.0 - n * U)


def is_int(a) -> bool:
    a = np.asarray(a)
    return bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))


def maybe(ex):
    """None for an all-zero (or absent) error array: lets dot() use its exact-integer case."""
    return None if ex is None or not np.any(ex) else ex


def dot(x, ex, w2, bias, pre):
    """y = Σᵢ xᵢwᵢ + b over the last axis of x (n terms) with weights w2 (n, m):
    e_y = Σ|wᵢ|eₓᵢ + γₙ₊₁·(Σ|xᵢ||wᵢ| + Σ|wᵢ|eₓᵢ + |b|), and 0 when every term is an integer, eₓ = 0
    and Σ|xᵢwᵢ| + |b| < 2²⁴ (all partial sums exact in any order)."""
    aw = np.abs(w2)
    with np.errstate(invalid="ignore", over="ignore"):
        v = x @ w2
        s = np.abs(x) @ aw
        prop = ex @ aw if ex is not None else 0.0
        b = 0.0
        if bias is not None:
            v = v + bias
            b = np.abs(bias)
        n = w2.shape[0] + (bias is not None)
        e = prop + gamma(n) * (s + prop + b)
        if ex is None and pre and is_int(w2) and (bias is None or is_int(bias)):
            exact = np.all(x == np.round(x), axis=-1, keepdims=True) & (s + b < 2.0 ** 24)
            e = np.where(exact, 0.0, e)
    return v, e


def integer_plus_bias(acc, bias):
    """A binary dot (exact integer) plus a float32 bias: one rounding of the add."""
    vv = acc + (bias if bias is not None else 0.0)
    return vv, np.where(vv.astype(np.float32) == vv, 0.0, U * np.abs(vv))


def activation(fn, v, e):
    """relu is 1-Lipschitz; tanh, sigmoid, softmax: Lipschitz factor plus 32u relative (libm and
    the runtime's l2m_expf differ)."""
    with np.errstate(invalid="ignore", over="ignore"):
        if fn == "linear":
            return v, e
        if fn == "relu":
            return np.maximum(v, 0.0), e
        if fn == "tanh":
            y = np.tanh(v)
            return y, e + TRANSCENDENTAL_REL * np.abs(y) + 1e-45
        if fn == "sigmoid":
            y = 1.0 / (1.0 + np.exp(-v))
            return y, 0.25 * e + TRANSCENDENTAL_REL * np.abs(y) + 1e-45
        if fn == "softmax":
            z = v - v.max(axis=-1, keepdims=True)
            p = np.exp(z)
            p = p / p.sum(axis=-1, keepdims=True)
            # logits off by ≤ em change each pᵢ by a factor within exp(±2em); exp, sum, divide add
            # 32u + n·u relative.
            em = e.max(axis=-1, keepdims=True)
            n = v.shape[-1]
            return p, np.minimum(1.0, p * np.expm1(2 * em)) + (TRANSCENDENTAL_REL + n * U) * p + 1e-45
    raise ValueError(fn)
