"""Float64 values and float32 rounding-error bounds for every tensor of an IR graph.

`propagate(graph, x)` runs the (frontend, un-optimised) graph on batch `x` in float64 and returns
{tensor: (v, e)}: v ≈ the exact real-arithmetic value of each element (float64, relative error
~1e-16) and e ≥ 0 a bound on |computed − exact| that holds for ANY float32 implementation that
evaluates the same formula with round-to-nearest operations in any summation order (Keras/TF and
the exported C are two such). The bounds (u = 2⁻²⁴, γₙ = n·u/(1 − n·u), Higham ch. 3):

  * dot product y = Σᵢ xᵢwᵢ + b over n terms, inputs carrying errors eₓ:
        e_y = Σ|wᵢ|eₓᵢ + γₙ₊₁·(Σ|xᵢ||wᵢ| + Σ|wᵢ|eₓᵢ + |b|)
    and e_y = 0 when every xᵢ, wᵢ, b is an integer, eₓ = 0 and Σ|xᵢwᵢ| + |b| < 2²⁴ (all partial
    sums are then exact in float32, in any order);
  * batch norm y = γ(x − μ)/√(σ²+ε) + β, computed by Keras as x·s + (β − μ·s) with s from rsqrt
    and by the C as (x − μ)·s + β: both stay within
        e_y = |s|·eₓ + 12u·(|s|(|x| + |μ|) + |β| + |y|)
    (≤ 4 roundings each, plus ≤ 8u relative error of s from a fast rsqrt + Newton step);
  * binary dot + bias: exact integer, one float32 rounding of the bias add;
  * max/avg pooling, global average: max of errors / mean of errors + γₙ·mean|x|;
  * activations: relu 1-Lipschitz; tanh, sigmoid, softmax (libm / expf implementations differ):
    Lipschitz factor plus 32u relative;
  * Add: Σ errors + (k − 1)·u·Σ|xᵢ|.

A sign of an element can legitimately differ between two such implementations only when
|v| ≤ e (both lie within e of the exact value v). Callers use that as the "rounding flip" test.
Bits tensors carry e = 0 (their values are the float64 sign of v, which is what both sides get
unless a flip already happened upstream — the caller only classifies the first mismatch).
"""
from __future__ import annotations

import numpy as np

from .. import ir

U = 2.0 ** -24
TRANSCENDENTAL_REL = 32 * U


def _gamma(n: int) -> float:
    return n * U / (1.0 - n * U)


def _pad(x, pads, value):
    t, b, l, r = pads
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def _patches(x, kh, kw, sh, sw):
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = x.strides
    v = np.lib.stride_tricks.as_strided(x, (n, oh, ow, kh, kw, c),
                                        (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]), writeable=False)
    return v.reshape(n, oh, ow, kh * kw * c)


def _windows(x, op, fill):
    xp = _pad(x, op.pads, fill)
    kh, kw = op.pool
    sh, sw = op.strides
    n, h, w, c = xp.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = xp.strides
    return np.lib.stride_tricks.as_strided(xp, (n, oh, ow, kh, kw, c),
                                           (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]), writeable=False)


def _is_int(a) -> bool:
    a = np.asarray(a)
    return bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))


def _dot(x, ex, w2, bias, pre):
    """x, ex: (..., n) float64; w2: (n, m). Returns (v, e)."""
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
        e = prop + _gamma(n) * (s + prop + b)
        if ex is None and pre and _is_int(w2) and (bias is None or _is_int(bias)):
            exact = np.all(x == np.round(x), axis=-1, keepdims=True) & (s + b < 2.0 ** 24)
            e = np.where(exact, 0.0, e)
    return v, e


def _maybe(ex):
    return None if ex is None or not np.any(ex) else ex


def propagate(graph: ir.Graph, x: np.ndarray) -> dict:
    """{tensor: (v float64, e float64)} for every tensor of `graph` on batch x (see module doc)."""
    x = np.asarray(x, np.float32).astype(np.float64)
    vals = {graph.inputs[0]: (x, np.zeros_like(x))}
    for op in graph.ops:
        args = [vals[i] for i in op.inputs]
        v, e = args[0]
        n = v.shape[0]
        out_shape = (n,) + tuple(graph.tensors[op.output].shape)
        if isinstance(op, ir.Quantize):
            # TF flushes subnormals: a negative subnormal binarizes to +1 (bits.sign_bits).
            res = (np.where(v <= -np.finfo(np.float32).tiny, -1.0, 1.0), np.zeros_like(v))
        elif isinstance(op, ir.Dequantize):
            res = (v, np.zeros_like(v))
        elif isinstance(op, (ir.BinaryConv2D, ir.Conv2D)):
            binary = isinstance(op, ir.BinaryConv2D)
            k = (op.weights if binary else op.kernel).astype(np.float64)
            kh, kw, cin, cout = k.shape
            pad_value = (1.0 if op.pad_one else 0.0) if binary else float(op.pad_value)
            xp = _patches(_pad(v, op.pads, pad_value), kh, kw, *op.strides)
            ep = _maybe(_patches(_pad(e, op.pads, 0.0), kh, kw, *op.strides))
            bias = None if op.bias is None else op.bias.astype(np.float64)
            if binary and getattr(op, "threshold", None) is None:
                acc = xp @ k.reshape(-1, cout)
                vv = acc + (bias if bias is not None else 0.0)
                res = (vv, np.where(vv.astype(np.float32) == vv, 0.0, U * np.abs(vv)))
            else:
                res = _dot(xp, ep, k.reshape(-1, cout), bias, pre=True)
        elif isinstance(op, (ir.BinaryDense, ir.Dense)):
            binary = isinstance(op, ir.BinaryDense)
            k = (op.weights if binary else op.kernel).astype(np.float64)
            bias = None if op.bias is None else op.bias.astype(np.float64)
            if binary:
                vv = v @ k + (bias if bias is not None else 0.0)
                res = (vv, np.where(vv.astype(np.float32) == vv, 0.0, U * np.abs(vv)))
            else:
                res = _dot(v, _maybe(e), k, bias, pre=True)
        elif isinstance(op, ir.BatchNorm):
            s = op.scale.astype(np.float64)
            mu = op.mean.astype(np.float64)
            beta = op.offset.astype(np.float64)
            with np.errstate(invalid="ignore", over="ignore"):
                vv = (v - mu) * s + beta
                ee = np.abs(s) * e + 12 * U * (np.abs(s) * (np.abs(v) + np.abs(mu)) + np.abs(beta) + np.abs(vv))
            res = (vv, ee)
        elif isinstance(op, (ir.MaxPool2D, ir.BinaryMaxPool2D)):
            if isinstance(op, ir.BinaryMaxPool2D) and op.or_mask is not None:
                mx = _windows(v, op, 2.0).min(axis=(3, 4))
                mx = np.where(op.or_mask, mx, _windows(v, op, -2.0).max(axis=(3, 4)))
            else:
                mx = _windows(v, op, -np.inf).max(axis=(3, 4))
            res = (mx, _windows(e, op, 0.0).max(axis=(3, 4)))
        elif isinstance(op, (ir.AvgPool2D, ir.BinaryAvgPool2D)):
            cnt = _windows(np.ones((1,) + v.shape[1:3] + (1,)), op, 0.0).sum(axis=(3, 4))
            with np.errstate(invalid="ignore", over="ignore"):
                sm = _windows(v, op, 0.0).sum(axis=(3, 4))
                sa = _windows(np.abs(v), op, 0.0).sum(axis=(3, 4))
                se = _windows(e, op, 0.0).sum(axis=(3, 4))
                m = sm / cnt
                ee = se / cnt + _gamma(op.pool[0] * op.pool[1] + 1) * (sa + se) / cnt
            if isinstance(op, ir.BinaryAvgPool2D):
                res = (np.where(m < 0, -1.0, 1.0), np.zeros_like(m))
            else:
                res = (m, ee)
        elif isinstance(op, ir.GlobalAvgPool):
            hw = v.shape[1] * v.shape[2]
            with np.errstate(invalid="ignore", over="ignore"):
                m = v.mean(axis=(1, 2))
                ee = e.mean(axis=(1, 2)) + _gamma(hw + 1) * (np.abs(v).mean(axis=(1, 2)) + e.mean(axis=(1, 2)))
            res = (m.reshape(out_shape), ee.reshape(out_shape))
        elif isinstance(op, ir.Reshape):
            res = (v.reshape(out_shape), e.reshape(out_shape))
        elif isinstance(op, ir.Activation):
            res = _activation(op.fn, v, e)
        elif isinstance(op, ir.Add):
            with np.errstate(invalid="ignore", over="ignore"):
                vv = sum(a[0] for a in args)
                ee = sum(a[1] for a in args) + (len(args) - 1) * U * sum(np.abs(a[0]) for a in args)
            res = (vv, ee)
        elif isinstance(op, ir.Concat):
            res = (np.concatenate([a[0] for a in args], axis=-1), np.concatenate([a[1] for a in args], axis=-1))
        else:
            raise NotImplementedError(type(op).__name__)
        vals[op.output] = res
    return vals


def _activation(fn, v, e):
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
            return y, e / 4 + TRANSCENDENTAL_REL * np.abs(y) + 1e-45
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
