"""What an element-wise quantizer computes, found by evaluating its forward pass in float32.

A quantizer f is probed on a fixed, deterministic set of float32 inputs P (no randomness of the
model enters): ±0.0, the subnormal and normal boundaries, ±FLT_MAX, a uniform grid of step 2⁻¹⁰
on [−8, 8], 2¹⁴ values evenly spaced in the float32 *ordering* (key, float_threshold._key) over
all finite floats, and 2¹² further keys from a fixed-seed generator. Then:
  * element-wise: f on P as an (n, 1) batch and on P reversed as a (1, n) batch must agree bit for
    bit (a quantizer that reduces over the tensor, e.g. magnitude_aware_sign, fails here);
  * identity: f(x) has the bits of x everywhere;
  * step: f is monotone and takes ≤ MAX_LEVELS distinct values on P. Between two neighbouring
    probes with different outputs, a bisection over the float32 keys (≤ 32 evaluations, all
    transitions at once) finds the exact breakpoint b: f(prev(b)) ≠ f(b); it repeats inside
    (b, right] until the right probe's level is reached. Result: f(x) = level[#{bp ≤ x}].
    Monotonicity is what makes this complete: between two probes with the same output a
    monotone f cannot take another value;
  * clip: f(x) = min(max(x, lo), hi) bit for bit (lo = f(−FLT_MAX), hi = f(FLT_MAX)) in one of the
    two ways ±0.0 can come out (strict or non-strict comparisons);
  * otherwise: "other", with what the evaluation showed.
Every found form is re-checked on P and on the neighbours (±2 keys) of each breakpoint. Outputs
are compared as values with −0.0 = +0.0 (`_canon`): TensorFlow's own sign of a zero result depends
on the element's position in the tensor. NaN and ±inf inputs are outside the contract (predict rejects non-finite data).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .float_threshold import _key, _value

MAX_LEVELS = 256
F32_MAX = np.finfo(np.float32).max
TINY = np.finfo(np.float32).tiny          # FLT_MIN


@dataclass(frozen=True, eq=False)
class Found:
    """What evaluating a quantizer showed: kind is identity | step | clip | other.
    step: out = levels[#{j: breakpoints[j] ≤ x}] (breakpoints float32 ascending, levels float32);
    clip: out = clip_eval(x, lo, hi, strict, flush);
    other: `why` says what was seen."""
    kind: str
    breakpoints: np.ndarray | None = None
    levels: np.ndarray | None = None
    lo: float = 0.0
    hi: float = 0.0
    strict: bool = True
    flush: bool = False
    why: str = ""


def probe_points() -> np.ndarray:
    """The deterministic probe set P (sorted by float32 key, unique keys)."""
    special = [0.0, TINY, TINY / 2, np.float32(1e-45), 1e-30, 1e-7, 0.5, 1.0, 2.0, 1e4, 1e30, F32_MAX]
    s = np.array(special, np.float32)
    grid = np.arange(-8192, 8193, dtype=np.float32) / np.float32(1024.0)
    kmin, kmax = int(_key(-F32_MAX)[0]), int(_key(F32_MAX)[0])
    spread = np.linspace(kmin, kmax, 2 ** 14).astype(np.int64)
    rnd = np.random.default_rng(1234).integers(kmin, kmax + 1, 2 ** 12)
    keys = np.concatenate([_key(s), _key(-s), _key(grid), spread, rnd])
    keys = np.unique(np.clip(keys, kmin, kmax))
    return _value(keys)


def elementwise_eval(fn):
    """`fn` (a quantizer: float32 tensor → tensor) as a numpy function of a 1-D float32 array,
    evaluated as an (n, 1) batch."""
    def f(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32).reshape(-1, 1)
        return _canon(fn(x)).reshape(-1)
    return f


def _canon(a) -> np.ndarray:
    """float32, −0.0 as +0.0: TensorFlow's sign of a zero result depends on where the element sits in
    the tensor (vectorised vs scalar tail code), so only values are compared, not the sign of 0."""
    return np.asarray(a, np.float32) + np.float32(0.0)


def _bits(a):
    return np.asarray(a, np.float32).view(np.uint32)


def _step_eval(bp, levels, x):
    return levels[np.searchsorted(bp, x, side="right")]


def _bisect(f, lk, rk, y_left):
    """Per interval (lk, rk] with f(value(lk)) bits == y_left and f(value(rk)) different: the key
    of the first point whose output differs from y_left, and its output."""
    lo, hi = lk.copy(), rk.copy()
    while np.any(hi - lo > 1):
        mid = lo + (hi - lo) // 2
        same = _bits(f(_value(mid))) == y_left
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    return hi, f(_value(hi))


def analyse(fn) -> Found:
    """Classify the element-wise forward pass of `fn` (see the module docstring)."""
    p = probe_points()
    f = elementwise_eval(fn)
    try:
        y = f(p)
        y2 = np.array(_canon(fn(p[::-1].reshape(1, -1))).reshape(-1)[::-1])
        half = f(p[1::2])           # a different tensor: reductions over it (a max, a mean) change
        small = np.arange(-64, 65, dtype=np.float32) / np.float32(32.0)      # a typical small tensor
        alone = [float(_canon(fn(small[i:i + 1].reshape(1, 1))).reshape(-1)[0]) for i in range(0, 129, 16)]
        y_small = f(small)
    except Exception as e:          # any failure to evaluate: not a quantizer we can read
        return Found("other", why=f"evaluating it on float32 probes failed ({type(e).__name__}: {e})")
    if y.shape != p.shape:
        return Found("other", why=f"it maps {p.size} values to {y.size}")
    y2[1::2] = half
    if not (np.array_equal(_bits(y_small), _bits(f(small))) and np.array_equal(
            _bits(np.float32(alone)), _bits(y_small[::16])) and np.array_equal(
            _bits(y_small), _bits(y[np.searchsorted(_key(p), _key(small))]))):
        return Found("other", why="it is not element-wise: its output on a value depends on the other values "
                                  "of the tensor")
    if not np.array_equal(_bits(y), _bits(y2)):
        i = int(np.argmax(_bits(y) != _bits(y2)))
        return Found("other", why=f"it is not element-wise: f({p[i]!r}) depends on the other values of the "
                                  f"tensor ({y[i]!r} vs {y2[i]!r})")
    if not np.all(np.isfinite(y)):
        i = int(np.argmax(~np.isfinite(y)))
        return Found("other", why=f"f({p[i]!r}) = {y[i]!r} is not finite")
    if np.array_equal(_bits(y), _bits(_canon(p))):
        return Found("identity")
    inc, dec = np.all(np.diff(y) >= 0), np.all(np.diff(y) <= 0)
    nlev = np.unique(_bits(y)).size
    if (inc or dec) and nlev <= MAX_LEVELS:
        return _step(f, p, y)
    clip = _clip(f, p, y)
    if clip is not None:
        return clip
    if not (inc or dec):
        d = np.diff(y)
        i = int(np.argmax(d < 0)) if np.any(d > 0) else int(np.argmax(d > 0))
        return Found("other", why=f"it is not monotone (f({p[i]!r}) = {y[i]!r}, f({p[i + 1]!r}) = {y[i + 1]!r})")
    return Found("other", why=f"it takes {nlev} distinct values on {p.size} probes (> {MAX_LEVELS}: not a step "
                              "function) and is not a clip")


def _step(f, p, y) -> Found:
    keys = _key(p)
    yb = _bits(y)
    edges = np.nonzero(yb[1:] != yb[:-1])[0]
    bps = []
    lk, rk, yl, yr = keys[edges], keys[edges + 1], yb[edges], yb[edges + 1]
    for _ in range(MAX_LEVELS + 1):
        if not lk.size:
            break
        hk, hy = _bisect(f, lk, rk, yl)
        if np.any((hk == rk) & (_bits(hy) != yr)):       # f(x) alone ≠ f(x) among the probes
            return Found("other", why="its output depends on the other values of the tensor")
        bps.append(hk)
        more = _bits(hy) != yr            # another level inside (b, right]
        lk, rk, yl, yr = hk[more], rk[more], _bits(hy)[more], yr[more]
    else:
        return Found("other", why=f"more than {MAX_LEVELS} levels")
    bk = np.unique(np.concatenate(bps)) if bps else np.zeros(0, np.int64)
    bp = _value(bk)
    if bp.size and np.any(_bits(bp) == 0):      # +0.0: f(−0.0) ≠ f(+0.0), no float comparison says so
        return Found("other", why="it distinguishes −0.0 from +0.0")
    levels = np.concatenate([y[:1], f(bp)]) if bp.size else y[:1].copy()
    # The candidate must reproduce every evaluation, including both neighbours of each breakpoint.
    near = (bk[:, None] + np.arange(-2, 3)[None, :]).reshape(-1)
    near = near[(near >= keys[0]) & (near <= keys[-1])]
    xs = np.concatenate([p, _value(near)])
    if not np.array_equal(_bits(f(xs)), _bits(_canon(_step_eval(bp, levels, xs)))):
        return Found("other", why="its step function could not be recovered exactly")
    return Found("step", breakpoints=bp.astype(np.float32), levels=levels.astype(np.float32))


def _clip(f, p, y):
    lo, hi = np.float32(f(np.array([-F32_MAX]))[0]), np.float32(f(np.array([F32_MAX]))[0])
    if not lo < hi:
        return None
    for strict in (True, False):
        for flush in (True, False):
            c = _canon(clip_eval(p, lo, hi, strict, flush))
            if np.array_equal(_bits(c), _bits(y)):
                return Found("clip", lo=float(lo), hi=float(hi), strict=strict, flush=flush)
    return None


def clip_eval(x, lo, hi, strict: bool, flush: bool) -> np.ndarray:
    """The clip of the C kernel: a subnormal x becomes ±0.0 (sign kept) when `flush` (TensorFlow's
    vectorised min/max flush them), then strict: x < lo → lo, x > hi → hi; else x ≤ lo → lo, x ≥ hi → hi."""
    x = np.asarray(x, np.float32)
    if flush:
        x = np.where(np.abs(x) < TINY, np.copysign(np.float32(0), x), x)
    lo, hi = np.float32(lo), np.float32(hi)
    if strict:
        return np.where(x < lo, lo, np.where(x > hi, hi, x)).astype(np.float32)
    return np.where(x <= lo, lo, np.where(x >= hi, hi, x)).astype(np.float32)


def step_eval(bp, levels, x) -> np.ndarray:
    """The step function out = levels[#{j: bp[j] ≤ x}] (float32)."""
    return np.asarray(levels, np.float32)[np.searchsorted(np.asarray(bp, np.float32),
                                                          np.asarray(x, np.float32), side="right")]
