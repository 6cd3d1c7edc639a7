"""Handlers for Keras' input-side affine layers: Rescaling → ir.Rescale, Normalization → ir.Normalize.

Both are per-channel (last axis) affine maps computed by Keras in float32; the IR keeps the
float32 parameters exactly as Keras casts them (`tf.cast(scale, float32)`: round to nearest),
so the C computes the same bits (ops/affine.py). Normalization's denominator is
max(√variance, ε) with Keras' own float32 sqrt and ε (backend.epsilon()).
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError
from .registry import Builder, cfg, register


def _per_channel(layer, attribute: str, value, c: int) -> np.ndarray:
    """`value` (a scalar or anything broadcasting to the last axis) as float32 [c]."""
    a = np.asarray(value, np.float64).astype(np.float32)
    if a.size == 1:
        return np.full(c, a.reshape(-1)[0], np.float32)
    if a.size == c and a.reshape(-1).shape[0] == a.shape[-1]:
        return a.reshape(c).copy()
    raise UnsupportedLayerError(layer.name, type(layer).__name__, attribute, f"shape {a.shape}",
                                ["a scalar", f"{c} values (one per channel of the last axis)"])


def _finite(layer, attribute: str, a: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise UnsupportedLayerError(layer.name, type(layer).__name__, attribute, "non-finite values", ["finite values"])
    return a


@register(lambda keras, lq: [keras.layers.Rescaling])
def rescaling(b: Builder, layer, inputs):
    """Rescaling(scale, offset) → Rescale: y = x·scale + offset in float32 (scalar or per channel)."""
    x = b.as_f32(inputs[0], layer.name)
    c = b.shape(x)[-1]
    scale = _finite(layer, "scale", _per_channel(layer, "scale", layer.scale, c))
    offset = _finite(layer, "offset", _per_channel(layer, "offset", layer.offset, c))
    return b.emit(ir.Rescale, [x], b.shape(x), ir.F32, layer.name, scale=scale, offset=offset)


@register(lambda keras, lq: [keras.layers.Normalization])
def normalization(b: Builder, layer, inputs):
    """Normalization(axis=−1, invert=False) → Normalize: y = (x − mean) / max(√variance, ε)."""
    from .._tf import tf_modules
    tf, keras, _ = tf_modules()
    x = b.as_f32(inputs[0], layer.name)
    rank = len(b.shape(x))
    axis = [int(a) for a in np.atleast_1d(cfg(layer, "axis", -1))]
    if axis not in ([-1], [rank]):
        raise UnsupportedLayerError(layer.name, "Normalization", "axis", axis, [[-1], [rank]])
    if cfg(layer, "invert", False):
        raise UnsupportedLayerError(layer.name, "Normalization", "invert", True, [False])
    c = b.shape(x)[-1]
    mean = _finite(layer, "mean", _per_channel(layer, "mean", np.asarray(layer.mean), c))
    var = _per_channel(layer, "variance", np.asarray(layer.variance), c)
    if not np.all(np.isfinite(var)) or np.any(var < 0):
        raise UnsupportedLayerError(layer.name, "Normalization", "variance", "negative or non-finite values", ["≥ 0"])
    denom = np.asarray(tf.maximum(tf.sqrt(tf.constant(var)), keras.backend.epsilon()), np.float32)
    return b.emit(ir.Normalize, [x], b.shape(x), ir.F32, layer.name, mean=mean, denom=denom)
