"""Handlers for the weight-free layers and batch normalization."""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError
from .float_threshold import float_thresholds
from .registry import Builder, cfg, np_weight, register, require


@register(lambda keras, lq: [keras.layers.BatchNormalization])
def batchnorm(b: Builder, layer, inputs):
    """BatchNormalization on the last axis → BatchNorm, y = (x − μ)·s + β with s = γ/√(σ² + ε);
    UnsupportedLayerError for another axis, renorm, non-finite or negative statistics."""
    x = b.as_f32(inputs[0], layer.name)
    rank = len(b.shape(x))
    axis = list(np.atleast_1d(cfg(layer, "axis")))
    if axis not in ([-1], [rank]):
        raise UnsupportedLayerError(layer.name, "BatchNormalization", "axis", axis, [[-1], [rank]])
    for attr in ("renorm", "virtual_batch_size", "adjustment"):
        v = getattr(layer, attr, None)
        if v not in (None, False):
            raise UnsupportedLayerError(layer.name, "BatchNormalization", attr, v, [None, False])
    c = b.shape(x)[-1]
    mean, var = np_weight(layer.moving_mean), np_weight(layer.moving_variance)
    gamma = np_weight(layer.gamma) if layer.scale else np.ones(c, np.float32)
    beta = np_weight(layer.beta) if layer.center else np.zeros(c, np.float32)
    for nm, arr in (("moving_mean", mean), ("moving_variance", var), ("gamma", gamma), ("beta", beta)):
        if not np.all(np.isfinite(arr)):
            raise UnsupportedLayerError(layer.name, "BatchNormalization", nm, "non-finite values",
                                        ["finite values"])
    if np.any(var < 0):
        raise UnsupportedLayerError(layer.name, "BatchNormalization", "moving_variance",
                                    f"negative ({float(var.min())})", ["≥ 0"])
    eps = np.float32(layer.epsilon)
    scale = (gamma / np.sqrt(var + eps)).astype(np.float32)
    if rank != 3:
        # Keras' non-fused path (anything but NHWC maps) computes x·s + (β − μ·s); the fused
        # kernel (x − μ)·s + β. Same formula as Keras ⇒ no cancellation mismatch when |μ·s| ≫ |y|.
        beta = (beta - mean * scale).astype(np.float32)
        mean = np.zeros_like(mean)
    probe, lo = _probe(b, layer, x, rank)
    fthr = None
    if probe is None and _float_dot_producer(b, x):
        found = float_thresholds(layer, c, rank)
        fthr = ir.FloatThreshold(*found) if found is not None else None
    from .concat_bn import part_probes
    parts = part_probes(b, layer, x, rank)      # BN after a float Concat: per-input probes
    return b.emit(ir.BatchNorm, [x], b.shape(x), ir.F32, layer.name, mean=mean, scale=scale,
                  offset=beta, probe=probe, probe_lo=lo, float_threshold=fthr, parts=parts)


def _float_dot_producer(b: Builder, x: str) -> bool:
    op = b.producer(x)
    while isinstance(op, ir.MaxPool2D):
        op = b.producer(op.inputs[0])
    return isinstance(op, (ir.Conv2D, ir.Dense, ir.GroupConv2D))


def _probe(b: Builder, layer, x: str, rank: int):
    """Evaluate this very Keras layer on every feasible accumulator of the binary dot feeding it
    (through max pools): probe[i, c] = BN(float32(i − K) + bias_c) in Keras' own float32, and for a
    scaled dot (±α_c kernel) BN(float32(float32((i − K)·α_c) + bias_c)): the correctly rounded
    value of the exact dot, which Keras' own float sum of ±α_c terms equals unless a partial sum
    rounds (docs/MATH.md §3a)."""
    op = b.producer(x)
    while isinstance(op, ir.MaxPool2D):
        op = b.producer(op.inputs[0])
    if not isinstance(op, (ir.BinaryConv2D, ir.BinaryDense, ir.BinaryGroupConv2D)):
        return None, 0
    k = int(np.prod(op.weights.shape[:-1]))
    c = op.weights.shape[-1]
    acc = np.arange(-k, k + 1, dtype=np.float32)[:, None] * np.ones((1, c), np.float32)
    if getattr(op, "scale", None) is not None:     # the group convs carry no output scale
        acc = (acc * op.scale.astype(np.float32)).astype(np.float32)
    if op.bias is not None:
        acc = (acc + op.bias.astype(np.float32)).astype(np.float32)
    batch = acc.reshape((2 * k + 1,) + (1,) * (rank - 1) + (c,))
    y = layer(batch, training=False).numpy().reshape(2 * k + 1, c)
    return y.astype(np.float32), -k


def _pool_geometry(b: Builder, layer, x: str):
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    require(layer, "padding", cfg(layer, "padding"), ["valid", "same"])
    if len(b.shape(x)) != 3:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "input rank", len(b.shape(x)) + 1, [4])
    h, w, c = b.shape(x)
    (kh, kw), (sh, sw) = layer.pool_size, layer.strides
    pads = (ir.same_pads(h, kh, sh) + ir.same_pads(w, kw, sw)) if layer.padding == "same" else (0, 0, 0, 0)
    oh = ir.conv_out_size(h, kh, sh, pads[0], pads[1])
    ow = ir.conv_out_size(w, kw, sw, pads[2], pads[3])
    return dict(pool=(kh, kw), strides=(sh, sw), pads=pads), (oh, ow, c)


@register(lambda keras, lq: [keras.layers.MaxPooling2D])
def maxpool(b: Builder, layer, inputs):
    """MaxPooling2D → BinaryMaxPool2D on a bit-packed input, else a float MaxPool2D."""
    x = inputs[0]
    geo, shape = _pool_geometry(b, layer, x)
    if b.dtype(x) == ir.BITS:
        return b.emit(ir.BinaryMaxPool2D, [x], shape, ir.BITS, layer.name, **geo)
    return b.emit(ir.MaxPool2D, [x], shape, ir.F32, layer.name, **geo)


@register(lambda keras, lq: [keras.layers.AveragePooling2D])
def avgpool(b: Builder, layer, inputs):
    """AveragePooling2D → a float AvgPool2D."""
    x = b.as_f32(inputs[0], layer.name)
    geo, shape = _pool_geometry(b, layer, x)
    return b.emit(ir.AvgPool2D, [x], shape, ir.F32, layer.name, **geo)


@register(lambda keras, lq: [keras.layers.GlobalAveragePooling2D])
def global_avgpool(b: Builder, layer, inputs):
    """GlobalAveragePooling2D (channels_last, rank-4 input) → GlobalAvgPool of shape (c,) or (1, 1, c)."""
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    x = b.as_f32(inputs[0], layer.name)
    if len(b.shape(x)) != 3:
        raise UnsupportedLayerError(layer.name, "GlobalAveragePooling2D", "input rank", len(b.shape(x)) + 1, [4])
    c = b.shape(x)[-1]
    shape = (1, 1, c) if cfg(layer, "keepdims", False) else (c,)
    return b.emit(ir.GlobalAvgPool, [x], shape, ir.F32, layer.name)


def _pool1d_geometry(b: Builder, layer, x: str):
    """A 1-D pool on a (W, C) map as the 2-D pool over (1, W, C) that tf-keras itself runs
    (Pooling1D expands the map to H = 1 and calls the 2-D pool): same window, padded taps ignored."""
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    require(layer, "padding", cfg(layer, "padding"), ["valid", "same"])
    if len(b.shape(x)) != 2:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "input rank", len(b.shape(x)) + 1, [3])
    w, c = b.shape(x)
    (k,), (s,) = layer.pool_size, layer.strides
    pads = (0, 0) + (ir.same_pads(w, k, s) if layer.padding == "same" else (0, 0))
    ow = ir.conv_out_size(w, k, s, pads[2], pads[3])
    if ow < 1:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "pool_size", (k,), f"≤ {w}",
                                    hint="the window is larger than the input")
    return dict(pool=(1, int(k)), strides=(1, int(s)), pads=pads), (1, ow, c)


def _as_hw(b: Builder, layer, x: str) -> str:
    """The (W, C) map x viewed as (1, W, C) (a Reshape view: same memory, same bit packing)."""
    return _reshape(b, layer, x, (1, *b.shape(x)))


@register(lambda keras, lq: [keras.layers.MaxPooling1D, keras.layers.AveragePooling1D])
def pool1d(b: Builder, layer, inputs):
    """MaxPooling1D (bits: BinaryMaxPool2D, else MaxPool2D) / AveragePooling1D (AvgPool2D) on a
    (W, C) map, run as the H = 1 2-D pool (see _pool1d_geometry), then viewed back as (OW, C)."""
    x = inputs[0]
    avg = type(layer).__name__.startswith("Average")
    if avg:
        x = b.as_f32(x, layer.name)
    geo, shape = _pool1d_geometry(b, layer, x)
    x = _as_hw(b, layer, x)
    if avg:
        y = b.emit(ir.AvgPool2D, [x], shape, ir.F32, layer.name, **geo)
    elif b.dtype(x) == ir.BITS:
        y = b.emit(ir.BinaryMaxPool2D, [x], shape, ir.BITS, layer.name, **geo)
    else:
        y = b.emit(ir.MaxPool2D, [x], shape, ir.F32, layer.name, **geo)
    return _reshape(b, layer, y, shape[1:])


@register(lambda keras, lq: [keras.layers.GlobalAveragePooling1D, keras.layers.GlobalMaxPooling1D])
def global_pool1d(b: Builder, layer, inputs):
    """GlobalAveragePooling1D → GlobalAvgPool over the (1, W, C) view; GlobalMaxPooling1D → one
    (1, W) window (BinaryMaxPool2D on bits, else MaxPool2D); shape (C,), or (1, C) with keepdims."""
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    x = inputs[0]
    if len(b.shape(x)) != 2:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "input rank", len(b.shape(x)) + 1, [3])
    w, c = b.shape(x)
    keep = bool(cfg(layer, "keepdims", False))
    if type(layer).__name__.startswith("GlobalAverage"):
        y = b.emit(ir.GlobalAvgPool, [_as_hw(b, layer, b.as_f32(x, layer.name))], (c,), ir.F32, layer.name)
    else:
        geo = dict(pool=(1, w), strides=(1, w), pads=(0, 0, 0, 0))
        xv = _as_hw(b, layer, x)
        kind, dt = (ir.BinaryMaxPool2D, ir.BITS) if b.dtype(xv) == ir.BITS else (ir.MaxPool2D, ir.F32)
        y = _reshape(b, layer, b.emit(kind, [xv], (1, 1, c), dt, layer.name, **geo), (c,))
    return _reshape(b, layer, y, (1, c)) if keep else y


def _reshape(b: Builder, layer, x: str, shape: tuple) -> str:
    if int(np.prod(shape)) != int(np.prod(b.shape(x))):
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "target_shape", shape,
                                    [f"{int(np.prod(b.shape(x)))} elements"])
    packing = None
    if b.dtype(x) == ir.BITS and len(shape) == 1:
        # A flattened bit map keeps its per-pixel packing: binary dense layers read it as is.
        packing = b.tensors[x].packing
    return b.emit(ir.Reshape, [x], shape, b.dtype(x), layer.name, packing=packing)


@register(lambda keras, lq: [keras.layers.Flatten])
def flatten(b: Builder, layer, inputs):
    """Flatten → a reshape to (prod(shape),); a rank-1 input passes through unchanged."""
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last", None])
    x = inputs[0]
    if len(b.shape(x)) == 1:
        return x
    return _reshape(b, layer, x, (int(np.prod(b.shape(x))),))


@register(lambda keras, lq: [keras.layers.Reshape])
def reshape(b: Builder, layer, inputs):
    """Reshape → a reshape to `target_shape` (one -1 inferred from the input size)."""
    target = list(layer.target_shape)
    if -1 in target:
        known = int(np.prod([t for t in target if t != -1]))
        target[target.index(-1)] = int(np.prod(b.shape(inputs[0]))) // max(known, 1)
    return _reshape(b, layer, inputs[0], tuple(target))


@register(lambda keras, lq: [keras.layers.Dropout, keras.layers.InputLayer])
def identity(b: Builder, layer, inputs):
    """Dropout and InputLayer are identities at inference: the input tensor itself."""
    return inputs[0]


@register(lambda keras, lq: [keras.layers.Add])
def add(b: Builder, layer, inputs):
    """Add of identically shaped float inputs → Add; with broadcasting (per sample, as Keras'
    merge layers) a left fold of broadcast adds (frontend/elementwise.py)."""
    xs = [b.as_f32(t, layer.name) for t in inputs]
    shapes = {b.shape(t) for t in xs}
    if len(shapes) != 1:
        from .elementwise import emit_binary
        out = xs[0]
        for y in xs[1:]:
            out = emit_binary(b, layer, "add", out, y)
        return out
    return b.emit(ir.Add, xs, b.shape(xs[0]), ir.F32, layer.name)


@register(lambda keras, lq: [keras.layers.Concatenate])
def concatenate(b: Builder, layer, inputs):
    """Concatenate on the last axis → Concat, bit-packed when every input is, else float."""
    rank = len(b.shape(inputs[0]))
    require(layer, "axis", cfg(layer, "axis"), [-1, rank])
    if len({b.shape(t)[:-1] for t in inputs}) != 1:
        raise UnsupportedLayerError(layer.name, "Concatenate", "input shapes",
                                    [b.shape(t) for t in inputs], ["equal except the last axis"])
    shape = b.shape(inputs[0])[:-1] + (sum(b.shape(t)[-1] for t in inputs),)
    all_bits = all(b.dtype(t) == ir.BITS and b.tensors[t].packing == ir.default_packing(b.shape(t))
                   for t in inputs)
    if all_bits:
        return b.emit(ir.Concat, list(inputs), shape, ir.BITS, layer.name)
    xs = [b.as_f32(t, layer.name) for t in inputs]
    return b.emit(ir.Concat, xs, shape, ir.F32, layer.name)
