"""Activation, ReLU, Softmax layers and the `activation=` attribute of conv/dense layers."""
from __future__ import annotations

from .. import ir
from ..errors import UnsupportedLayerError
from ..errors import UnsupportedQuantizerError
from .quantizers import SIGN_QUANTIZERS, is_sign
from .registry import Builder, cfg, register

SUPPORTED = ("linear", "relu", "sigmoid", "tanh", "softmax")
NAMED = ("relu6", "leaky_relu")     # tf-keras activations that become a Relu op (frontend/elementwise.py)


def activation_name(layer, fn) -> str:
    """Name of a Keras activation function, 'sign' for a larq sign quantizer; else raise."""
    if fn is None:
        return "linear"
    if is_sign(fn):
        return "sign"
    name = getattr(fn, "__name__", str(fn))
    if name in SUPPORTED or name in NAMED:
        return name
    raise UnsupportedLayerError(layer.name, type(layer).__name__, "activation", name,
                                list(SUPPORTED) + list(NAMED) + ["ste_sign", "approx_sign", "swish_sign"])


def _apply(b: Builder, layer, x: str, fn: str) -> str:
    if fn == "linear":
        return x
    if fn == "sign":
        return b.as_bits(x, layer.name)
    if fn in NAMED:
        from .elementwise import emit_named
        return emit_named(b, layer, x, fn)
    xf = b.as_f32(x, layer.name)
    return b.emit(ir.Activation, [xf], b.shape(xf), ir.F32, layer.name, fn=fn)


@register(lambda keras, lq: [keras.layers.Activation])
def activation(b: Builder, layer, inputs):
    """Keras Activation: its function applied to the input (linear: the input itself; a larq sign:
    b.as_bits); UnsupportedLayerError for a function outside SUPPORTED."""
    return _apply(b, layer, inputs[0], activation_name(layer, layer.activation))


@register(lambda keras, lq: [keras.layers.ReLU])
def relu(b: Builder, layer, inputs):
    """Keras ReLU → Activation relu, or with max_value / negative_slope / threshold a Relu op
    computing the tf-keras formula step by step (frontend/elementwise.py emit_relu)."""
    from .elementwise import emit_relu
    mv = cfg(layer, "max_value", None)
    return emit_relu(b, layer, inputs[0], alpha=float(cfg(layer, "negative_slope", 0.0)),
                     threshold=float(cfg(layer, "threshold", 0.0)), max_value=None if mv is None else float(mv))


@register(lambda keras, lq: [keras.layers.Softmax])
def softmax(b: Builder, layer, inputs):
    """Keras Softmax → Activation softmax over the last axis; UnsupportedLayerError for another axis."""
    axis = cfg(layer, "axis", -1)
    rank = len(b.shape(inputs[0]))
    if axis not in (-1, rank):
        raise UnsupportedLayerError(layer.name, "Softmax", "axis", axis, [-1])
    return _apply(b, layer, inputs[0], "softmax")


@register(lambda keras, lq: [lq.quantizers.SteSign, lq.quantizers.ApproxSign, lq.quantizers.SwishSign])
def sign_layer(b: Builder, layer, inputs):
    """A sign quantizer used as a layer (e.g. the input image binarized)."""
    return b.as_bits(inputs[0], layer.name)


@register(lambda keras, lq: [lq.quantizers.SteTern, lq.quantizers.DoReFa, lq.quantizers.MagnitudeAwareSign,
                             lq.quantizers.SteHeaviside, lq.quantizers.NoOp], supported=False)
def other_quantizer_layer(b: Builder, layer, inputs):
    """Non-sign quantizers change forward values; reject them instead of mis-exporting."""
    raise UnsupportedQuantizerError(
        layer.name, type(layer).__name__, "quantizer", type(layer).__name__, list(SIGN_QUANTIZERS),
        hint="Only sign quantizers have an exact bitwise export")
