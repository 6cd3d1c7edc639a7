"""Integer first layer: raw 8-bit input → [Rescale | Normalize] → 1-bit-weight conv/dense with a
folded BN + sign ⇒ one IntConv2D / IntDense that accumulates the raw bytes exactly in integers.

Derivation (docs/MATH.md §8). The user passes bytes u (uint8 [0, 255] or int8 [−128, 127]);
Keras gets float32(u). The affine layer computes r = fl(fl(u·s) + o) (Rescaling) or
r = fl(fl(u − m) / d) (Normalization), in real arithmetic r = α·u + γ_c with α = s or 1/d (one
value for every channel: a per-channel α has no single integer accumulator) and γ_c = o_c or
−m_c/d. With ±1 weights w and the zero padding of the conv in r-space (pad_value p),

    conv = Σ_inside w·r + p·Σ_outside w = α·A + β,   A = Σ_inside w·u  (an exact integer),
    β = Σ_inside w·γ_c + p·Σ_outside w,

where β depends on the output channel and on which taps lie inside (the border class of the
output position). The float path folds BN + sign into an exact float threshold of the float sum
plus bias (frontend/float_threshold.py, a bisection against the model's own BN layer), so per
(class, channel) the bit as a function of A is
    bit(A) = T(fl32(fl32(α·A + β) + bias)),
evaluated here on every feasible A (every A from the smallest to the largest Σ w·u over the
byte range); it is monotone in A (fl32 and T are), so bit = (A < τ) — or, with the filter's
weights negated, (−A < τ) — exactly as for a binary dot (passes/fold_threshold.py).

Exactness. The value fed to T is the float32 rounding of the real-arithmetic conv. Keras
computes the same thing exactly — so the integer path is bit-identical to Keras for every input —
when (1) every rescaled byte is exact: fl(…) = α·u + γ_c for every byte and channel, and (2) all
those values and p are multiples of one power of two q with Σ_taps max|r| < 2²⁴·q, so every
partial sum of the conv is exact in float32 in any order (TF's CPU conv sums products; ±1·r is
exact). Example: Rescaling(1/128, −1) or no rescale at all. Otherwise (Rescaling(1/127.5, −1),
1/255, …) Keras' own sum carries rounding error and a bit can differ exactly when the real conv
lies within that error of the BN threshold: verify.classify calls that a rounding flip, with the
bound of the float graph (ops/affine.py, rounding.py). `exact` on the op records which case holds.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError
from ..layout import weights as wt
from ..ops.affine import affine_f32
from ..ops.dot import float_threshold_bits

RANGES = {"uint8": (ir.U8, 0, 255), "int8": (ir.I8, -128, 127)}
_DOTS = (ir.Conv2D, ir.Dense)


def _refuse(op, classes, why: str, supported):
    layer = op.layer if op is not None else "input"
    cls = (classes or {}).get(layer, type(op).__name__ if op is not None else "InputLayer")
    raise UnsupportedLayerError(layer, cls, "input_dtype", why, supported,
                                hint="an integer input needs the model to start with [Rescaling | Normalization] "
                                     "→ a conv/dense with 1-bit (sign) weights on its float input, whose output "
                                     "is binarized (BN + sign); export with the default float input otherwise")


def _chain(g: ir.Graph, classes):
    """(affine op or None, reshapes, dot) starting at the graph input, or a typed error."""
    t, affine, reshapes = g.inputs[0], None, []
    while True:
        cons = g.consumers(t)
        if len(cons) != 1:
            _refuse(cons[0] if cons else None, classes, f"the input feeds {len(cons)} layers", ["exactly one"])
        op = cons[0]
        if isinstance(op, (ir.Rescale, ir.Normalize)) and affine is None and not reshapes:
            affine = op
        elif isinstance(op, ir.Reshape):
            reshapes.append(op)
        elif isinstance(op, _DOTS):
            return affine, reshapes, op
        else:
            _refuse(op, classes, f"{type(op).__name__} before the first dot", ["Rescaling", "Normalization"])
        t = op.output


def _alpha_gamma(affine, c: int):
    """(α, γ [c] as Fractions, (scale, offset) as floats) of r = α·u + γ in real arithmetic."""
    if affine is None:
        return Fraction(1), [Fraction(0)] * c, (1.0, np.zeros(c))
    if isinstance(affine, ir.Rescale):
        s = np.unique(affine.scale)
        if s.size != 1:
            return None
        alpha = Fraction(float(s[0]))
        return alpha, [Fraction(float(o)) for o in affine.offset], (float(s[0]), affine.offset.astype(np.float64))
    d = np.unique(affine.denom)
    if d.size != 1:
        return None
    alpha = 1 / Fraction(float(d[0]))
    gam = [-Fraction(float(m)) * alpha for m in affine.mean]
    return alpha, gam, (1.0 / float(d[0]), -affine.mean.astype(np.float64) / float(d[0]))


def _exact(affine, alpha, gamma, lo, hi, taps: int, pad: float) -> bool:
    """Conditions (1) and (2) of the module docstring."""
    u = np.arange(lo, hi + 1, dtype=np.float32)
    c = len(gamma)
    r = u[:, None] * np.ones((1, c), np.float32) if affine is None else affine_f32(affine, u[:, None])
    vals = set(np.unique(r).tolist()) | {float(pad)}
    for ch in range(c):
        for ui, rv in zip(range(lo, hi + 1), r[:, ch]):
            if Fraction(float(rv)) != alpha * ui + gamma[ch]:
                return False
    q = max(Fraction(v).denominator for v in vals)           # 1/q: the finest power-of-two grid
    return max(abs(v) for v in vals) * taps * q < 2 ** 24


def _classes(n: int, k: int, s: int, pad_lo: int, out: int):
    """Per output index its class, and per class the inside mask over the k taps."""
    masks, cls = [], np.zeros(out, np.uint8)
    for o in range(out):
        m = tuple(0 <= o * s - pad_lo + t < n for t in range(k))
        if m not in masks:
            masks.append(m)
        cls[o] = masks.index(m)
    return cls, np.array(masks, bool)


def _thresholds(w, beta, alpha_f, bias, thr, lo, hi):
    """w: [T, C] ±1 over the window; beta: [B, C] float64 → (tau int32 [B, C], flip bool [C]).

    A bisection over the integers per (class, channel) column, on bit(A) of the module docstring
    (monotone); flipped channels search bit(−A') over A' = −A so that every column is 1…1 0…0."""
    pos, neg = (w > 0).sum(0), (w < 0).sum(0)
    a_lo = (lo * pos - hi * neg).astype(np.int64)                # [C] feasible range of A
    a_hi = (hi * pos - lo * neg).astype(np.int64)
    b_, c = beta.shape
    tthr = ir.FloatThreshold(np.tile(thr.tau, b_), np.tile(thr.mode, b_))
    bias32 = None if bias is None else np.tile(bias.astype(np.float32), b_)
    beta_f = beta.reshape(-1)

    def bit(a):                                                  # a: int64 [B·C] → bool [B·C]
        v = (alpha_f * a.astype(np.float64) + beta_f).astype(np.float32)     # fl32 of the real conv
        if bias32 is not None:
            v = (v + bias32).astype(np.float32)
        return float_threshold_bits(v, tthr) < 0

    lo_c, hi_c = np.tile(a_lo, b_), np.tile(a_hi, b_)
    inc = (~bit(lo_c) & bit(hi_c)).reshape(b_, c)
    flip = inc.any(0)
    sgn = np.tile(np.where(flip, -1, 1), b_)
    lo_s = np.where(sgn < 0, -hi_c, lo_c)                        # search range of A' = sgn·A
    hi_s = np.where(sgn < 0, -lo_c, hi_c)
    b_lo, b_hi = bit(sgn * lo_s), bit(sgn * hi_s)
    if np.any(~b_lo & b_hi):
        raise AssertionError("internal: integer first-layer thresholds are not monotone")
    lo_b, hi_b = lo_s.copy(), hi_s.copy()                        # invariant: bit(lo_b) = 1, bit(hi_b) = 0
    while np.any(hi_b - lo_b > 1):
        mid = lo_b + (hi_b - lo_b) // 2
        bm = bit(sgn * mid)
        lo_b, hi_b = np.where(bm, mid, lo_b), np.where(bm, hi_b, mid)
    tau = np.where(~b_lo, lo_s, np.where(b_hi, hi_s + 1, hi_b))   # constant columns: never / always
    if np.abs(tau).max(initial=0) >= 2 ** 31:
        raise AssertionError("internal: integer threshold outside int32")
    return tau.reshape(b_, c).astype(np.int32), flip


def integer_input(g: ir.Graph, dtype: str, classes: dict | None = None) -> ir.Graph:
    """Rewrite `g` (after the pass pipeline) for raw `dtype` ("uint8" | "int8") input bytes (see
    the module docstring). `classes` maps Keras layer names to class names for error messages.
    UnsupportedLayerError (attribute input_dtype) naming the layer when the model does not qualify."""
    if dtype not in RANGES:
        raise UnsupportedLayerError("input", "InputLayer", "input_dtype", dtype, ["float32", *RANGES])
    irdt, lo, hi = RANGES[dtype]
    affine, reshapes, dot = _chain(g, classes)
    if not wt.is_binary(dot.kernel):
        _refuse(dot, classes, "float (not 1-bit) weights", ["kernel_quantizer=ste_sign (±1 weights)"])
    if not isinstance(dot.threshold, ir.FloatThreshold):
        _refuse(dot, classes, "a float (not binarized) output", ["BatchNorm + sign / a sign quantizer next"])
    if isinstance(dot, ir.Conv2D) and reshapes:
        _refuse(reshapes[0], classes, "a reshape before a conv", ["none"])
    x = g.tensors[g.inputs[0]]
    c_in = x.shape[-1]
    ag = _alpha_gamma(affine, c_in)
    if ag is None:
        _refuse(affine, classes, "per-channel scales", ["one scale (variance) for every channel"])
    alpha, gamma, (alpha_f, gamma_f) = ag
    k = dot.kernel
    if isinstance(dot, ir.Conv2D):
        kh, kw, cin, cout = k.shape
        oh, ow = g.tensors[dot.output].shape[:2]
        cy, my = _classes(x.shape[0], kh, dot.strides[0], dot.pads[0], oh)
        cx, mx = _classes(x.shape[1], kw, dot.strides[1], dot.pads[2], ow)
        inside = my[:, None, :, None] & mx[None, :, None, :]                     # [NY, NX, kh, kw]
        wg = (k.astype(np.float64) * np.asarray(gamma_f, np.float64)[None, None, :, None]).sum(2)   # [kh, kw, C]
        ws = k.astype(np.float64).sum(2)
        pad = float(dot.pad_value)
        beta = (np.einsum("yxhw,hwc->yxc", inside, wg) + pad * np.einsum("yxhw,hwc->yxc", ~inside, ws))
        taps = kh * kw * cin
        tau, flip = _thresholds(k.reshape(-1, cout), beta.reshape(-1, cout), alpha_f, dot.bias, dot.threshold, lo, hi)
        w = np.where(flip, -k, k).astype(np.int8)
        new = ir.IntConv2D(name=dot.name, inputs=(x.name,), output=dot.output, layer=dot.layer, weights=w,
                           strides=dot.strides, pads=dot.pads, cls_y=cy, cls_x=cx,
                           tau=tau.reshape(len(my), len(mx), cout),
                           exact=_exact(affine, alpha, gamma, lo, hi, taps, pad))
    else:
        n, cout = k.shape
        g_el = np.broadcast_to(np.asarray(gamma_f, np.float64), x.shape).reshape(-1)
        beta = (g_el[:, None] * k.astype(np.float64)).sum(0)[None]
        tau, flip = _thresholds(k, beta, alpha_f, dot.bias, dot.threshold, lo, hi)
        w = np.where(flip, -k, k).astype(np.int8)
        new = ir.IntDense(name=dot.name, inputs=(x.name,), output=dot.output, layer=dot.layer, weights=w,
                          tau=tau.reshape(cout), exact=_exact(affine, alpha, gamma, lo, hi, n, 0.0))
    drop = {id(o) for o in ([affine] if affine else []) + reshapes}
    ops = tuple(new if o is dot else o for o in g.ops if id(o) not in drop)
    tensors = dict(g.tensors)
    tensors[x.name] = dataclasses.replace(x, dtype=irdt)
    return g.replace(ops=ops, tensors=tensors).prune()
