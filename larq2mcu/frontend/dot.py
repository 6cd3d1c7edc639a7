"""Handlers for the layers with weights: QuantConv2D, Conv2D, QuantDense, Dense.

Each becomes, depending on its quantizers (classified by evaluation, frontend/quantizers.py):
  binary input + ±α_c kernel → [Quantize] → BinaryConv2D / BinaryDense (integer dot, F32 out,
                               output scale α_c unless every α_c = 1)
  binary input + float kernel → Quantize → Dequantize → float Conv2D / Dense
  float input (none, step, clip quantizer) → float Conv2D / Dense with the kernel Keras uses
                               (±α_c·1 or q(W) itself; ±1 kernels are stored as bits)
and a non-linear `activation` becomes a separate Activation op (fusion is the passes' job).
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError
from . import quantizers
from .depthwise import grouped_conv2d
from .weighted import finish, layer_bias, nonzero, quantized_input
from .registry import Builder, cfg, register, require




def _float_kernel(kq) -> np.ndarray:
    """The float32 kernel Keras multiplies by: ±α·sign or q(W) itself."""
    if not kq.binary:
        return kq.values
    k = kq.signs.astype(np.float32)
    return k if kq.scale is None else (k * kq.scale).astype(np.float32)








@register(lambda keras, lq: [lq.layers.QuantConv2D, keras.layers.Conv2D])
def conv2d(b: Builder, layer, inputs):
    """(Quant)Conv2D → BinaryConv2D when input and kernel are binarised, else a float Conv2D (stride,
    valid/same pads; groups > 1 or dilation > 1: frontend/depthwise.py; UnsupportedLayerError for other
    data formats and ranks)."""
    cls = type(layer).__name__
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    if tuple(cfg(layer, "dilation_rate")) != (1, 1) or cfg(layer, "groups", 1) != 1:
        return grouped_conv2d(b, layer, inputs)
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
    nonzero(layer, "filters", cout)
    pad_value = float(getattr(layer, "pad_values", 0.0)) if layer.padding == "same" else 0.0
    x = quantized_input(b, layer, x)
    kq = quantizers.kernel(layer)
    bias = layer_bias(layer)
    if b.dtype(x) == ir.BITS and kq.binary:
        require(layer, "pad_values", pad_value, [0.0, 1.0])
        out = b.emit(ir.BinaryConv2D, [x], (oh, ow, cout), ir.F32, layer.name,
                     weights=kq.signs, strides=(sh, sw), pads=pads,
                     pad_one=(pad_value == 1.0), bias=bias, scale=kq.scale)
    else:
        out = b.emit(ir.Conv2D, [b.as_f32(x, layer.name)], (oh, ow, cout), ir.F32, layer.name,
                     kernel=_float_kernel(kq), strides=(sh, sw), pads=pads, pad_value=pad_value, bias=bias)
    return finish(b, layer, out)


@register(lambda keras, lq: [lq.layers.QuantDense, keras.layers.Dense])
def dense(b: Builder, layer, inputs):
    """(Quant)Dense on a rank-1 input → BinaryDense when input and kernel are binarised, else a float
    Dense; UnsupportedLayerError for a higher-rank input."""
    x = inputs[0]
    if len(b.shape(x)) != 1:
        raise UnsupportedLayerError(
            layer.name, type(layer).__name__, "input rank", len(b.shape(x)) + 1, [2],
            hint="Dense on a feature map (rank > 2) is not supported; add a Flatten before it")
    units = layer.units
    nonzero(layer, "units", units)
    x = quantized_input(b, layer, x)
    kq = quantizers.kernel(layer)
    bias = layer_bias(layer)
    if b.dtype(x) == ir.BITS and kq.binary:
        out = b.emit(ir.BinaryDense, [x], (units,), ir.F32, layer.name,
                     weights=kq.signs, bias=bias, scale=kq.scale)
    else:
        out = b.emit(ir.Dense, [b.as_f32(x, layer.name)], (units,), ir.F32, layer.name,
                     kernel=_float_kernel(kq), bias=bias)
    return finish(b, layer, out)
