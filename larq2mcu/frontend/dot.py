"""Handlers for the layers with weights: QuantConv2D, Conv2D, QuantDense, Dense.

Each becomes, depending on its quantizers:
  input sign + kernel sign  → [Quantize] → BinaryConv2D / BinaryDense (integer dot, F32 out)
  input sign + float kernel → Quantize → Dequantize → float Conv2D / Dense
  float input + kernel sign → float Conv2D / Dense with the ±1 kernel (first-layer style)
  no quantizers             → float Conv2D / Dense
and a non-linear `activation` becomes a separate Activation op (fusion is the passes' job).
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError
from .activations import _apply, activation_name
from .quantizers import classify
from .registry import Builder, cfg, np_weight, register, require


def _binary_kernel(layer) -> np.ndarray:
    """The kernel as the layer's own kernel quantizer computes it (exactly ±1)."""
    latent = np_weight(layer.kernel)
    # A constant, not the variable: the quantizer's custom gradient rejects variables here.
    q = np.asarray(layer.kernel_quantizer(latent))
    if not np.all(np.abs(q) == 1.0):
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "kernel", "non-finite weights",
                                    ["finite latent weights"])
    return q.astype(np.int8)


def _quantizers(layer):
    iq = classify(layer, "input_quantizer") if hasattr(layer, "input_quantizer") else False
    kq = classify(layer, "kernel_quantizer") if hasattr(layer, "kernel_quantizer") else False
    return iq, kq


def _bias(layer):
    return np_weight(layer.bias) if getattr(layer, "use_bias", False) and layer.bias is not None else None


def _finish(b: Builder, layer, out: str) -> str:
    fn = activation_name(layer, layer.activation)
    if fn == "linear":
        return out
    if fn == "sign":
        return b.as_bits(out, layer.name)
    return _apply(b, layer, out, fn)


def _nonzero(layer, attribute: str, n) -> None:
    """A layer with no outputs would become a zero-size C array (not C99)."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, attribute, n, "≥ 1",
                                    hint="a layer with no outputs cannot be exported (zero-size array)")


@register(lambda keras, lq: [lq.layers.QuantConv2D, keras.layers.Conv2D])
def conv2d(b: Builder, layer, inputs):
    """(Quant)Conv2D → BinaryConv2D when input and kernel are binarised, else a float Conv2D (stride,
    valid/same pads; UnsupportedLayerError for other data formats, dilations, groups, ranks)."""
    cls = type(layer).__name__
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    require(layer, "dilation_rate", tuple(cfg(layer, "dilation_rate")), [(1, 1)])
    require(layer, "groups", cfg(layer, "groups", 1), [1])
    require(layer, "padding", cfg(layer, "padding"), ["valid", "same"])
    x = inputs[0]
    if len(b.shape(x)) != 3:
        raise UnsupportedLayerError(layer.name, cls, "input rank", len(b.shape(x)) + 1, [4])
    h, w, cin = b.shape(x)
    kh, kw = layer.kernel_size
    sh, sw = layer.strides
    if layer.padding == "same":
        pads = ir.same_pads(h, kh, sh) + ir.same_pads(w, kw, sw)
    else:
        pads = (0, 0, 0, 0)
    oh = ir.conv_out_size(h, kh, sh, pads[0], pads[1])
    ow = ir.conv_out_size(w, kw, sw, pads[2], pads[3])
    cout = layer.filters
    _nonzero(layer, "filters", cout)
    pad_value = float(getattr(layer, "pad_values", 0.0)) if layer.padding == "same" else 0.0
    iq, kq = _quantizers(layer)
    bias = _bias(layer)
    if iq and kq:
        require(layer, "pad_values", pad_value, [0.0, 1.0])
        xb = b.as_bits(x, layer.name)
        out = b.emit(ir.BinaryConv2D, [xb], (oh, ow, cout), ir.F32, layer.name,
                     weights=_binary_kernel(layer), strides=(sh, sw), pads=pads,
                     pad_one=(pad_value == 1.0), bias=bias)
    else:
        if iq:
            x = b.as_f32(b.as_bits(x, layer.name), layer.name)
        kernel = _binary_kernel(layer).astype(np.float32) if kq else np_weight(layer.kernel)
        out = b.emit(ir.Conv2D, [b.as_f32(x, layer.name)], (oh, ow, cout), ir.F32, layer.name,
                     kernel=kernel, strides=(sh, sw), pads=pads, pad_value=pad_value, bias=bias)
    return _finish(b, layer, out)


@register(lambda keras, lq: [lq.layers.QuantDense, keras.layers.Dense])
def dense(b: Builder, layer, inputs):
    """(Quant)Dense on a rank-1 input → BinaryDense when input and kernel are binarised, else a float
    Dense; UnsupportedLayerError for a higher-rank input."""
    x = inputs[0]
    if len(b.shape(x)) != 1:
        raise UnsupportedLayerError(
            layer.name, type(layer).__name__, "input rank", len(b.shape(x)) + 1, [2],
            hint="Dense on a feature map (rank > 2) is not supported; add a Flatten before it")
    iq, kq = _quantizers(layer)
    bias = _bias(layer)
    units = layer.units
    _nonzero(layer, "units", units)
    if iq and kq:
        out = b.emit(ir.BinaryDense, [b.as_bits(x, layer.name)], (units,), ir.F32, layer.name,
                     weights=_binary_kernel(layer), bias=bias)
    else:
        if iq:
            x = b.as_bits(x, layer.name)
        kernel = _binary_kernel(layer).astype(np.float32) if kq else np_weight(layer.kernel)
        out = b.emit(ir.Dense, [b.as_f32(x, layer.name)], (units,), ir.F32, layer.name,
                     kernel=kernel, bias=bias)
    return _finish(b, layer, out)
