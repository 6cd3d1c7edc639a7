"""Handlers for the glue layers of larq-zoo / LCE models: ZeroPadding2D, ReLU variants, LeakyReLU,
PReLU, Multiply / Subtract / Maximum / Minimum / Average (broadcasting), GlobalMaxPooling2D.
TFOpLambda (TF operators on Keras tensors) lives in frontend/tfop.py."""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError
from .registry import Builder, cfg, np_weight, register, require


def emit_relu(b: Builder, layer, x: str, alpha=0.0, threshold=0.0, max_value=None) -> str:
    """The tf-keras relu formula as a Relu op (a plain Activation relu when it is max(x, 0)),
    parameters rounded to float32 as Keras does; UnsupportedLayerError for non-finite ones."""
    vals = [float(np.float32(v)) if v is not None else None for v in (alpha, threshold, max_value)]
    for nm, v in zip(("alpha", "threshold", "max_value"), vals):
        if v is not None and not np.isfinite(v):
            raise UnsupportedLayerError(layer.name, type(layer).__name__, nm, v, ["finite values"])
    alpha, threshold, max_value = vals
    x = b.as_f32(x, layer.name)
    if alpha == 0.0 and threshold == 0.0 and max_value is None:
        return b.emit(ir.Activation, [x], b.shape(x), ir.F32, layer.name, fn="relu")
    return b.emit(ir.Relu, [x], b.shape(x), ir.F32, layer.name, alpha=alpha, theta=threshold,
                  max_value=max_value)


def emit_named(b: Builder, layer, x: str, fn: str) -> str:
    """The activation functions tf-keras names but ir.Activation lacks: relu6 (tf.nn.relu6) and
    leaky_relu (tf.nn.leaky_relu, α = 0.2)."""
    if fn == "relu6":
        return emit_relu(b, layer, x, max_value=6.0)
    if fn == "leaky_relu":
        return emit_relu(b, layer, x, alpha=0.2)
    raise ValueError(fn)


@register(lambda keras, lq: [keras.layers.LeakyReLU])
def leaky_relu(b: Builder, layer, inputs):
    """LeakyReLU(alpha) → Relu: x > 0 ? x : α·x (tf.nn.leaky_relu)."""
    return emit_relu(b, layer, inputs[0], alpha=float(layer.alpha))


@register(lambda keras, lq: [keras.layers.PReLU])
def prelu(b: Builder, layer, inputs):
    """PReLU (any shared_axes) → PRelu with α stored per channel (α constant over the other axes),
    as one value, or as the whole broadcast tensor."""
    x = b.as_f32(inputs[0], layer.name)
    shape = b.shape(x)
    alpha = np_weight(layer.alpha)
    if not np.all(np.isfinite(alpha)):
        raise UnsupportedLayerError(layer.name, "PReLU", "alpha", "non-finite values", ["finite values"])
    full = np.broadcast_to(alpha, shape)
    rows = full.reshape(-1, shape[-1])
    if np.all(rows == rows[0, 0]):
        flat = rows[0, :1]                 # one α for everything
    elif np.all(rows == rows[:1]):
        flat = rows[0]                     # α per channel (shared over the spatial axes)
    else:
        flat = full.reshape(-1)
    return b.emit(ir.PRelu, [x], shape, ir.F32, layer.name, alpha=np.ascontiguousarray(flat, np.float32))


@register(lambda keras, lq: [keras.layers.ZeroPadding2D])
def zero_padding(b: Builder, layer, inputs):
    """ZeroPadding2D (channels_last) → Pad with 0.0 (a bit map is first turned into ±1.0 floats;
    passes/fold_pad.py folds pad + sign into the next binary conv)."""
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    x = b.as_f32(inputs[0], layer.name)
    if len(b.shape(x)) != 3:
        raise UnsupportedLayerError(layer.name, "ZeroPadding2D", "input rank", len(b.shape(x)) + 1, [4])
    (t, bo), (l, r) = layer.padding
    return emit_pad(b, layer, x, (int(t), int(bo), int(l), int(r)), 0.0)


def emit_pad(b: Builder, layer, x: str, pads: tuple, value: float) -> str:
    """A Pad of rank-3 F32 tensor x by pads (top, bottom, left, right) with `value` (the input
    itself when every pad is 0)."""
    if not any(pads):
        return x
    h, w, c = b.shape(x)
    shape = (h + pads[0] + pads[1], w + pads[2] + pads[3], c)
    return b.emit(ir.Pad, [x], shape, ir.F32, layer.name, pads=tuple(pads), value=float(np.float32(value)))


def emit_channel_window(b: Builder, layer, x: str, begin: int, cout: int, value: float = 0.0) -> str:
    """Channels [begin, begin + cout) of F32 tensor x, `value` outside [0, C) (a ChannelWindow:
    channel slice or channel pad); x itself when the window is all of x."""
    shape = b.shape(x)
    if begin == 0 and cout == shape[-1]:
        return x
    return b.emit(ir.ChannelWindow, [x], shape[:-1] + (int(cout),), ir.F32, layer.name, begin=int(begin),
                  value=float(np.float32(value)))


def broadcast_shape(layer, shapes) -> tuple:
    """numpy broadcasting of per-sample shapes (shorter ones padded with 1 on the left, as Keras'
    merge layers expand dims after the batch axis); UnsupportedLayerError when incompatible or
    the result has more than 3 axes (the C kernel's H, W, C)."""
    try:
        out = tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "input shapes", [tuple(s) for s in shapes],
                                    ["broadcast-compatible shapes"]) from None
    if len(out) > 3:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "output rank", len(out) + 1, [2, 3, 4])
    return out


def emit_binary(b: Builder, layer, fn: str, x: str, y: str) -> str:
    """x fn y of two tensors (broadcasting); an unbroadcast add is the plain Add op."""
    x, y = b.as_f32(x, layer.name), b.as_f32(y, layer.name)
    shape = broadcast_shape(layer, [b.shape(x), b.shape(y)])
    if fn == "add" and b.shape(x) == b.shape(y):
        return b.emit(ir.Add, [x, y], shape, ir.F32, layer.name)
    return b.emit(ir.Arith, [x, y], shape, ir.F32, layer.name, fn=fn)


def emit_scalar(b: Builder, layer, fn: str, x: str, c, const_first: bool = False) -> str:
    """x fn c (or c fn x) with c a scalar rounded to float32 as TF converts it."""
    c = float(np.float32(c))
    if not np.isfinite(c):
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "constant", c, ["finite scalars"])
    x = b.as_f32(x, layer.name)
    return b.emit(ir.Arith, [x], b.shape(x), ir.F32, layer.name, fn=fn, const=c, const_first=bool(const_first))


def _merge(fn: str):
    def handler(b: Builder, layer, inputs):
        out = inputs[0]
        for y in inputs[1:]:
            out = emit_binary(b, layer, fn, out, y)
        return out
    handler.__doc__ = f"Keras merge layer: left fold of '{fn}' over the inputs (broadcasting per sample)."
    return handler


multiply = register(lambda keras, lq: [keras.layers.Multiply])(_merge("mul"))
maximum = register(lambda keras, lq: [keras.layers.Maximum])(_merge("max"))
minimum = register(lambda keras, lq: [keras.layers.Minimum])(_merge("min"))


@register(lambda keras, lq: [keras.layers.Subtract])
def subtract(b: Builder, layer, inputs):
    """Subtract of exactly two inputs → x − y (broadcasting per sample)."""
    if len(inputs) != 2:
        raise UnsupportedLayerError(layer.name, "Subtract", "inputs", len(inputs), [2])
    return emit_binary(b, layer, "sub", inputs[0], inputs[1])


@register(lambda keras, lq: [keras.layers.Average])
def average(b: Builder, layer, inputs):
    """Average as Keras computes it: ((x₀ + x₁) + …) / n in float32."""
    out = _merge("add")(b, layer, inputs)
    return emit_scalar(b, layer, "div", out, float(len(inputs)))


@register(lambda keras, lq: [keras.layers.GlobalMaxPooling2D])
def global_maxpool(b: Builder, layer, inputs):
    """GlobalMaxPooling2D (channels_last) → one window over the whole map: BinaryMaxPool2D (AND of
    bits = max of ±1) on a bit map, else MaxPool2D; then a view to (C,) unless keepdims."""
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    x = inputs[0]
    if len(b.shape(x)) != 3:
        raise UnsupportedLayerError(layer.name, "GlobalMaxPooling2D", "input rank", len(b.shape(x)) + 1, [4])
    h, w, c = b.shape(x)
    geo = dict(pool=(h, w), strides=(h, w), pads=(0, 0, 0, 0))
    cls = ir.BinaryMaxPool2D if b.dtype(x) == ir.BITS else ir.MaxPool2D
    out = b.emit(cls, [x], (1, 1, c), b.dtype(x), layer.name, **geo)
    if cfg(layer, "keepdims", False):
        return out
    packing = b.tensors[out].packing
    return b.emit(ir.Reshape, [out], (c,), b.dtype(out), layer.name, packing=packing)
