"""Activation, ReLU, Softmax layers and the `activation=` attribute of conv/dense layers."""
from __future__ import annotations

from .. import ir
from ..errors import UnsupportedLayerError
from . import quantizers
from .registry import Builder, cfg, register

SUPPORTED = ("linear", "relu", "sigmoid", "tanh", "softmax")
NAMED = ("relu6", "leaky_relu")     # tf-keras activations that become a Relu op (frontend/elementwise.py)


def activation_name(layer, fn) -> str:
    """Name of a Keras activation function, 'sign' for a larq sign quantizer; else raise."""
    if fn is None:
        return "linear"
    name = getattr(fn, "__name__", str(fn))
    keras_fn = getattr(fn, "__module__", "").startswith(("keras", "tf_keras", "tensorflow"))
    if (name in SUPPORTED or name in NAMED) and keras_fn:
        return name
    f = quantizers.found(fn)
    if quantizers.is_sign(fn):
        return "sign"
    if f.kind in ("step", "clip", "identity"):
        return "quantizer"
    raise UnsupportedLayerError(layer.name, type(layer).__name__, "activation", name,
                                list(SUPPORTED) + list(NAMED) + quantizers.SUPPORTED,
                                hint=f"evaluated on float32 probes, {f.why}")


def apply_activation(b: Builder, layer, x: str, fn) -> str:
    """Emit activation function `fn` (a Keras activation or any quantizer) on tensor `x`."""
    return _apply(b, layer, x, activation_name(layer, fn), fn)


def _apply(b: Builder, layer, x: str, fn: str, obj=None) -> str:
    if fn == "linear":
        return x
    if fn == "sign":
        return b.as_bits(x, layer.name)
    if fn == "quantizer":
        return quantizers.apply(b, layer, x, obj, "activation")
    if fn in NAMED:
        from .elementwise import emit_named
        return emit_named(b, layer, x, fn)
    xf = b.as_f32(x, layer.name)
    return b.emit(ir.Activation, [xf], b.shape(xf), ir.F32, layer.name, fn=fn)


@register(lambda keras, lq: [keras.layers.Activation])
def activation(b: Builder, layer, inputs):
    """Keras Activation: its function applied to the input (linear: the input itself; a larq sign:
    b.as_bits); UnsupportedLayerError for a function outside SUPPORTED."""
    return apply_activation(b, layer, inputs[0], layer.activation)


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


@register(lambda keras, lq: [lq.quantizers.SteSign, lq.quantizers.ApproxSign, lq.quantizers.SwishSign,
                             lq.quantizers.SteTern, lq.quantizers.DoReFa, lq.quantizers.SteHeaviside,
                             lq.quantizers.NoOp])
def quantizer_layer(b: Builder, layer, inputs):
    """A larq quantizer used as a layer (e.g. the input image binarized): what its evaluation shows
    it computes (frontend/quantizers.py); UnsupportedQuantizerError when that has no exact export
    (e.g. SteTern(ternary_weight_networks=True), which is not element-wise)."""
    return quantizers.apply(b, layer, inputs[0], layer, "quantizer")


@register(lambda keras, lq: [lq.quantizers.MagnitudeAwareSign], supported=False)
def reducing_quantizer_layer(b: Builder, layer, inputs):
    """MagnitudeAwareSign as a layer: sign(x)·mean|x| over the tensor is not element-wise (refused by
    its evaluation, with what it showed). As a kernel quantizer it is supported (scaled binary)."""
    return quantizers.apply(b, layer, inputs[0], layer, "quantizer")
