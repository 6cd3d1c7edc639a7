"""Which quantizers larq2mcu exports: classified by evaluating their forward pass, not by name.

Input and activation quantizers (a larq object, a name, a function, a custom callable) are
evaluated element-wise on float32 probes (step_fn.analyse, cached per object):
  * identity (NoOp, None)                     → no op;
  * the sign, out = −1 for x ≤ −FLT_MIN and +1 otherwise (ste_sign, approx_sign, swish_sign, and
    any quantizer computing the same, whatever its name)  → bits (Quantize);
  * another monotone two-level step onto {−1, +1} (e.g. a sign with sign(0) = −1, or a tf.where
    sign that sends negative subnormals to −1) → StepQuantize (exact ±1.0) then bits;
  * a multi-level step (SteTern, SteHeaviside, DoReFa k-bit activations) → StepQuantize (floats);
  * a clip to [lo, hi] (clip_by_value activations; relu = clip to [0, FLT_MAX]) → Clip (floats);
  * anything else → UnsupportedQuantizerError saying what the evaluation showed.
Kernel quantizers are evaluated on the layer's actual latent kernel W (what Keras multiplies by):
  * q(W) = ±α_c per output channel c, α_c > 0 (ste_sign: α = 1; magnitude_aware_sign, XNOR-Net's
    xnor_weight_scale, DoReFa-Net's magnitude_aware_sign_unclipped: α = mean|W|) → binary weights
    sign(q(W)) with the output scale α (None when every α_c = 1);
  * any other finite, deterministic q(W) (ste_tern, DoReFa weights, …) → the float kernel q(W).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError, UnsupportedQuantizerError
from .registry import np_weight
from .step_fn import Found, analyse

#: the sign as Keras computes it (bits.sign_bits): +1 from the float just above −FLT_MIN on
SIGN_BREAKPOINT = np.nextafter(-np.finfo(np.float32).tiny, np.float32(0))
SUPPORTED = ["sign quantizers (ste_sign, approx_sign, swish_sign, any function computing sign)",
             "monotone step functions (ste_tern, ste_heaviside, DoReFa k-bit activations)",
             "clips (clip_by_value)", "identity (NoOp, None)"]
_CACHE: dict = {}          # id(q) or larq (class, config) → (q, Found); q kept alive (ids not reused)


def resolve(q):
    """A quantizer given by name → the larq quantizer; objects, functions and None unchanged."""
    if isinstance(q, str):
        from .._tf import tf_modules
        _, _, lq = tf_modules()
        return lq.quantizers.get(q)
    return q


def found(q) -> Found:
    """The evaluation of element-wise quantizer `q` (None: identity), cached per object (per class
    and config for larq's quantizer classes)."""
    q = resolve(q)
    if q is None:
        return Found("identity")
    key = _config_key(q) or id(q)
    hit = _CACHE.get(key)
    if hit is None or (key == id(q) and hit[0] is not q):
        hit = (q, analyse(q))
        _CACHE[key] = hit
    return hit[1]


def _config_key(q):
    """Larq's own quantizer classes compute a function of their config alone: one evaluation per
    (class, config) serves every layer's instance. None for anything else (cached per object)."""
    cls = type(q)
    if not cls.__module__.startswith("larq.") or not hasattr(q, "get_config"):
        return None
    try:
        cfg = {k: v for k, v in q.get_config().items() if k != "name"}     # the name computes nothing
        return (cls.__module__, cls.__qualname__, repr(sorted(cfg.items())))
    except Exception:  # a config that cannot be read: fall back to the object
        return None


def _pm1_step(f: Found) -> bool:
    return f.kind == "step" and f.levels.size == 2 and {float(v) for v in f.levels} == {-1.0, 1.0}


def is_sign(q) -> bool:
    """True when `q` computes exactly the sign of bits.sign_bits (whatever its name)."""
    if q is None:
        return False
    f = found(q)
    return (_pm1_step(f) and float(f.levels[0]) == -1.0
            and f.breakpoints.view(np.uint32)[0] == np.float32(SIGN_BREAKPOINT).view(np.uint32))


def is_binary(q) -> bool:
    """True when `q` maps every float32 onto {−1, +1} monotonically (sign or another ±1 step)."""
    return q is not None and _pm1_step(found(q))


def describe(q) -> str:
    """Name of a quantizer for error messages: its `__name__` (functions), else its class name."""
    q = resolve(q)
    return type(q).__name__ if not hasattr(q, "__name__") else q.__name__


def check(layer, attribute: str, q) -> Found:
    """The evaluation of `q`, or UnsupportedQuantizerError naming what it showed."""
    f = found(q)
    if f.kind == "other":
        raise UnsupportedQuantizerError(layer.name, type(layer).__name__, attribute, describe(q), SUPPORTED,
                                        hint=f"evaluated on float32 probes, {f.why}")
    return f


def apply(b, layer, x: str, q, attribute: str) -> str:
    """Emit what quantizer `q` computes on tensor `x`: nothing (identity), bits (sign), a
    StepQuantize (then bits for a ±1 step) or a Clip; raise for anything else (`check`)."""
    f = check(layer, attribute, q)
    if f.kind == "identity":
        return x
    if is_sign(q):
        return b.as_bits(x, layer.name)
    xf = b.as_f32(x, layer.name)
    if f.kind == "clip":
        return b.emit(ir.Clip, [xf], b.shape(xf), ir.F32, layer.name, lo=f.lo, hi=f.hi, strict=f.strict,
                      flush=f.flush)
    out = b.emit(ir.StepQuantize, [xf], b.shape(xf), ir.F32, layer.name, breakpoints=f.breakpoints,
                 levels=f.levels)
    return b.as_bits(out, layer.name) if _pm1_step(f) else out


@dataclass(frozen=True, eq=False)
class Kernel:
    """A kernel as its quantizer computes it: binary (`signs` int8 ±1, `scale` float32 [C] or None)
    or float (`values`, exactly q(W))."""
    binary: bool
    signs: np.ndarray | None = None
    scale: np.ndarray | None = None
    values: np.ndarray | None = None


def kernel(layer, attribute: str = "kernel", quantizer: str = "kernel_quantizer") -> Kernel:
    """Evaluate the layer's kernel quantizer on its latent kernel and classify q(W) (module doc);
    `attribute`/`quantizer` name another pair (depthwise_kernel/depthwise_quantizer, …)."""
    latent = np_weight(getattr(layer, attribute))
    q = resolve(getattr(layer, quantizer, None))
    if q is None:
        return Kernel(False, values=latent)
    cls = type(layer).__name__
    try:
        # A constant, not the variable: custom gradients reject variables here.
        qw = np.asarray(q(latent), np.float32)
        again = np.asarray(q(latent), np.float32)
    except Exception as e:  # a quantizer that cannot run on its own kernel
        raise UnsupportedQuantizerError(layer.name, cls, quantizer, describe(q), SUPPORTED,
                                        hint=f"evaluating it on the kernel failed ({type(e).__name__}: {e})") from None
    if qw.shape != latent.shape or not np.all(np.isfinite(qw)):
        raise UnsupportedLayerError(layer.name, cls, attribute, "non-finite or reshaped quantized weights",
                                    ["finite latent weights"])
    if not np.array_equal(qw.view(np.uint32), again.view(np.uint32)):
        raise UnsupportedQuantizerError(layer.name, cls, quantizer, describe(q), SUPPORTED,
                                        hint="it is not deterministic (two evaluations differ)")
    c = qw.shape[-1]
    mag = np.abs(qw).reshape(-1, c)
    alpha = mag[0]
    if np.all(mag == alpha) and np.all(alpha > 0):
        signs = np.where(qw < 0, -1, 1).astype(np.int8)
        return Kernel(True, signs=signs, scale=None if np.all(alpha == 1.0) else alpha.astype(np.float32))
    return Kernel(False, values=qw)
