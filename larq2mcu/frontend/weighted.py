"""What every handler of a layer with weights does around its dot (frontend/dot.py and
frontend/depthwise.py): the input through its quantizer, the bias, the activation after, and the
refusal of zero-size layers."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedLayerError
from . import quantizers
from .activations import apply_activation
from .registry import Builder, np_weight


def quantized_input(b: Builder, layer, x: str) -> str:
    """The layer's input after its input quantizer (bits for a sign, floats otherwise)."""
    return quantizers.apply(b, layer, x, getattr(layer, "input_quantizer", None), "input_quantizer")


def layer_bias(layer):
    """The layer's bias as float32, or None when it has none."""
    return np_weight(layer.bias) if getattr(layer, "use_bias", False) and layer.bias is not None else None


def finish(b: Builder, layer, out: str) -> str:
    """The layer's `activation` applied to the dot's output (frontend/activations.py)."""
    return apply_activation(b, layer, out, layer.activation)


def nonzero(layer, attribute: str, n) -> None:
    """A layer with no outputs would become a zero-size C array (not C99): refuse it."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, attribute, n, "≥ 1",
                                    hint="a layer with no outputs cannot be exported (zero-size array)")
