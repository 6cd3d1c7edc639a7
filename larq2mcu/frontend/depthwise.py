"""Handlers for the grouped, dilated, depthwise and separable convolutions.

  (Quant)Conv2D with groups > 1 or dilation_rate > 1 (called from frontend/dot.py's conv2d),
  (Quant)DepthwiseConv2D (kernel (kh, kw, Cin, M) → groups = Cin, (kh, kw, 1, Cin·M)),
  (Quant)SeparableConv2D = depthwise (its own depthwise_quantizer, no bias) then a 1×1 conv on
  the depthwise conv's float output (pointwise_quantizer, the layer's bias and activation).

Quantizers decide the op as in frontend/dot.py: input sign + kernel sign → BinaryGroupConv2D
(integer dot, F32 out, BN + sign folded into thresholds by passes/fold_threshold.py); otherwise a
float GroupConv2D on ±1.0 or float values. A group count 1 without dilation becomes the plain
BinaryConv2D / Conv2D. Larq's pad_values pad the (quantized) input of the layer.
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError
from . import quantizers
from .weighted import finish, layer_bias, nonzero, quantized_input
from .registry import Builder, cfg, register, require










def _kernel(layer, attribute: str, quantizer: str):
    """(kernel as int8 ±1 and True when its quantizer computes a plain sign; else the float32
    kernel Keras multiplies by — ±α·sign with a per-channel α included — and False). The group
    conv ops carry no output scale, so a scaled sign kernel takes the float path (exact)."""
    kq = quantizers.kernel(layer, attribute, quantizer)
    if kq.binary and kq.scale is None:
        return kq.signs, True
    if kq.binary:
        return (kq.signs.astype(np.float32) * kq.scale).astype(np.float32), False
    return kq.values, False


def _geometry(b: Builder, layer, x: str):
    """Pads and output size of the layer's (dilated) window: Keras 'same' pads the effective
    kernel (k − 1)·d + 1. UnsupportedLayerError for other data formats, paddings, ranks."""
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    require(layer, "padding", cfg(layer, "padding"), ["valid", "same"])
    if len(b.shape(x)) != 3:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "input rank", len(b.shape(x)) + 1, [4])
    h, w, _ = b.shape(x)
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    dh, dw = (int(d) for d in layer.dilation_rate)
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    pads = (ir.same_pads(h, eh, sh) + ir.same_pads(w, ew, sw)) if layer.padding == "same" else (0, 0, 0, 0)
    oh, ow = ir.conv_out_size(h, eh, sh, pads[0], pads[1]), ir.conv_out_size(w, ew, sw, pads[2], pads[3])
    if oh < 1 or ow < 1:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "output shape", (oh, ow), "≥ 1",
                                    hint="the window is larger than the padded input")
    return dict(strides=(int(sh), int(sw)), pads=pads, dilation=(dh, dw)), (oh, ow)


def _emit(b: Builder, layer, x: str, kernel, kbin: bool, groups: int, geo: dict, out_hw, bias,
          in_quant: bool) -> str:
    """The conv of `kernel` (kh, kw, Cin/groups, Cout) on x: binary when input and kernel are
    binarised, else float; the plain conv ops when groups = 1, no dilation and a 2-D map
    (`out_hw` of length 1: a 1-D conv on a (W, C) tensor, always a group-conv op)."""
    cout = kernel.shape[-1]
    pad_value = float(getattr(layer, "pad_values", 0.0)) if layer.padding == "same" else 0.0
    plain = groups == 1 and geo["dilation"] == (1, 1) and len(out_hw) == 2
    shape = tuple(out_hw) + (cout,)
    if in_quant and kbin:
        require(layer, "pad_values", pad_value, [0.0, 1.0])
        xb = b.as_bits(x, layer.name)
        if plain:
            return b.emit(ir.BinaryConv2D, [xb], shape, ir.F32, layer.name, weights=kernel, strides=geo["strides"],
                          pads=geo["pads"], pad_one=pad_value == 1.0, bias=bias)
        return b.emit(ir.BinaryGroupConv2D, [xb], shape, ir.F32, layer.name, weights=kernel, groups=groups,
                      pad_one=pad_value == 1.0, bias=bias, **geo)
    if in_quant:
        x = b.as_f32(b.as_bits(x, layer.name), layer.name)
    xf = b.as_f32(x, layer.name)
    k = kernel.astype(np.float32)
    if plain:
        return b.emit(ir.Conv2D, [xf], shape, ir.F32, layer.name, kernel=k, strides=geo["strides"], pads=geo["pads"],
                      pad_value=pad_value, bias=bias)
    return b.emit(ir.GroupConv2D, [xf], shape, ir.F32, layer.name, kernel=k, groups=groups, pad_value=pad_value,
                  bias=bias, **geo)


def grouped_conv2d(b: Builder, layer, inputs):
    """(Quant)Conv2D with groups > 1 and/or dilation_rate > 1 → BinaryGroupConv2D / GroupConv2D
    (Keras' grouped kernel (kh, kw, Cin/groups, filters); group g = filters slice g)."""
    x = inputs[0]
    geo, out_hw = _geometry(b, layer, x)
    groups = int(cfg(layer, "groups", 1))
    nonzero(layer, "filters", layer.filters)
    kernel, kbin = _kernel(layer, "kernel", "kernel_quantizer")
    x = quantized_input(b, layer, x)
    out = _emit(b, layer, x, kernel, kbin, groups, geo, out_hw, layer_bias(layer), b.dtype(x) == ir.BITS)
    return finish(b, layer, out)


def _depthwise_kernel(layer):
    k, kbin = _kernel(layer, "depthwise_kernel", "depthwise_quantizer")
    kh, kw, cin, m = k.shape
    return k.reshape(kh, kw, 1, cin * m), kbin, int(cin)


@register(lambda keras, lq: [lq.layers.QuantDepthwiseConv2D, keras.layers.DepthwiseConv2D])
def depthwise_conv2d(b: Builder, layer, inputs):
    """(Quant)DepthwiseConv2D (any depth_multiplier, strides, dilation, valid/same, bias,
    activation) → a group conv with groups = Cin; output channel c·M + m reads input channel c."""
    x = inputs[0]
    geo, out_hw = _geometry(b, layer, x)
    nonzero(layer, "depth_multiplier", layer.depth_multiplier)
    kernel, kbin, cin = _depthwise_kernel(layer)
    x = quantized_input(b, layer, x)
    out = _emit(b, layer, x, kernel, kbin, cin, geo, out_hw, layer_bias(layer), b.dtype(x) == ir.BITS)
    return finish(b, layer, out)


@register(lambda keras, lq: [lq.layers.QuantSeparableConv2D, keras.layers.SeparableConv2D])
def separable_conv2d(b: Builder, layer, inputs):
    """(Quant)SeparableConv2D → depthwise group conv (input_quantizer, depthwise_quantizer, the
    layer's strides / padding / dilation / pad_values, no bias) then a 1×1 conv of its float
    output (pointwise_quantizer, bias, activation)."""
    x = inputs[0]
    geo, out_hw = _geometry(b, layer, x)
    nonzero(layer, "filters", layer.filters)
    kernel, kbin, cin = _depthwise_kernel(layer)
    x = quantized_input(b, layer, x)
    mid = _emit(b, layer, x, kernel, kbin, cin, geo, out_hw, None, b.dtype(x) == ir.BITS)
    pk, _ = _kernel(layer, "pointwise_kernel", "pointwise_quantizer")
    out = b.emit(ir.Conv2D, [mid], tuple(out_hw) + (pk.shape[-1],), ir.F32, layer.name,
                 kernel=pk.astype(np.float32), strides=(1, 1), pads=(0, 0, 0, 0), pad_value=0.0, bias=layer_bias(layer))
    return finish(b, layer, out)


@register(lambda keras, lq: [lq.layers.QuantConv1D, keras.layers.Conv1D])
def conv1d(b: Builder, layer, inputs):
    """(Quant)Conv1D on a (W, C) map → BinaryGroupConv2D / GroupConv2D over it as a (1, W, C) map:
    valid / same / causal (left pad (k − 1)·d), strides, dilation, groups, bias, activation.
    The group-conv ops take the (W, C) tensor as is (H = 1), so BN + sign after it folds."""
    require(layer, "data_format", cfg(layer, "data_format"), ["channels_last"])
    require(layer, "padding", cfg(layer, "padding"), ["valid", "same", "causal"])
    x = inputs[0]
    if len(b.shape(x)) != 2:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "input rank", len(b.shape(x)) + 1, [3])
    w, cin = b.shape(x)
    (k,), (s,), (d,) = layer.kernel_size, layer.strides, layer.dilation_rate
    eff = (k - 1) * d + 1
    pads = {"same": (0, 0) + ir.same_pads(w, eff, s), "causal": (0, 0, eff - 1, 0)}.get(layer.padding, (0, 0, 0, 0))
    ow = ir.conv_out_size(w, eff, s, pads[2], pads[3])
    if ow < 1:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, "output shape", (ow,), "≥ 1",
                                    hint="the window is larger than the padded input")
    nonzero(layer, "filters", layer.filters)
    kernel, kbin = _kernel(layer, "kernel", "kernel_quantizer")
    geo = dict(strides=(1, int(s)), pads=pads, dilation=(1, int(d)))
    x = quantized_input(b, layer, x)
    out = _emit(b, layer, x, kernel[None], kbin, int(cfg(layer, "groups", 1)), geo, (ow,), layer_bias(layer),
                b.dtype(x) == ir.BITS)
    return finish(b, layer, out)
