"""TFOpLambda: the layers tf-keras records when TF operators are written on Keras tensors
(`x + y`, `x * 0.5`, `tf.pad(x, ...)`, `tf.nn.relu(x)`, ...). Recognised by the function name
tf-keras stores (get_config()['function']) and its call arguments (node.call_args/call_kwargs,
bound to the TF signature by hand), never by executing it; scalars are rounded to float32 as TF
converts them. Anything else is refused naming the function and the supported ones."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedLayerError
from . import elementwise as ew
from .registry import Builder, register

_BIN = ("x", "y", "name")
# function name → (kind, parameter names of the TF function in positional order)
FUNCTIONS = {
    "__operators__.add": ("add", _BIN), "math.add": ("add", _BIN), "math.add_v2": ("add", _BIN),
    "__operators__.sub": ("sub", _BIN), "math.subtract": ("sub", _BIN),
    "__operators__.mul": ("mul", _BIN), "math.multiply": ("mul", _BIN),
    "__operators__.truediv": ("div", _BIN), "math.truediv": ("div", _BIN), "math.divide": ("div", _BIN),
    "math.maximum": ("max", _BIN), "math.minimum": ("min", _BIN),
    "math.negative": ("neg", ("x", "name")),
    "nn.relu": ("relu", ("features", "name")), "nn.relu6": ("relu6", ("features", "name")),
    "nn.leaky_relu": ("leaky", ("features", "alpha", "name")),
    "clip_by_value": ("clip", ("t", "clip_value_min", "clip_value_max", "name")),
    "compat.v1.pad": ("pad", ("tensor", "paddings", "mode", "name", "constant_values")),
    "pad": ("pad", ("tensor", "paddings", "mode", "constant_values", "name")),
}


class _Call:
    """The bound arguments of one TFOpLambda call: Keras tensors resolved to IR tensors."""

    def __init__(self, b: Builder, layer, inputs, params):
        node = b.node
        self.b, self.layer, self.fn = b, layer, layer.get_config().get("function")
        args, kwargs = list(node.call_args), dict(node.call_kwargs)
        if len(args) > len(params):
            self.refuse("arguments", len(args), [f"at most {len(params)}"])
        self.values = dict(zip(params, args))
        for k, v in kwargs.items():
            if k not in params or k in self.values:
                self.refuse("keyword argument", k, [p for p in params if p != "name"])
            self.values[k] = v
        self.keras_inputs, self.inputs = list(node.keras_inputs), list(inputs)

    def refuse(self, attribute, value, supported, hint=None):
        """Raise UnsupportedLayerError naming the TF function."""
        raise UnsupportedLayerError(self.layer.name, f"TFOpLambda({self.fn})", attribute, value, supported,
                                    hint=hint)

    def tensor(self, v):
        """The IR tensor of Keras tensor v, or None when v is not one of the call's Keras inputs."""
        for t, name in zip(self.keras_inputs, self.inputs):
            if t is v:
                return name
        return None

    def scalar(self, key, default=None):
        """Argument `key` as a finite Python float (a number, 0-d numpy array or constant tensor)."""
        v = self.values.get(key, default)
        if self.tensor(v) is not None or _is_symbolic(v):
            self.refuse(key, "a tensor", ["a constant scalar"])
        try:
            a = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
        except Exception:  # any object TF would not turn into a constant
            a = np.asarray(None, dtype=object)
        if a.ndim != 0 or a.dtype.kind not in "biuf" or not np.isfinite(float(a)):
            self.refuse(key, _short(v), ["a finite constant scalar"])
        return float(a)

    def operand(self, key):
        """('tensor', IR name) or ('const', float) for argument `key`."""
        t = self.tensor(self.values.get(key))
        return ("tensor", t) if t is not None else ("const", self.scalar(key))


def _is_symbolic(v) -> bool:
    return type(v).__name__ == "KerasTensor" or isinstance(v, (list, tuple)) and any(map(_is_symbolic, v))


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


@register(lambda keras, lq: [_tfop_class(keras)])
def tfop_lambda(b: Builder, layer, inputs):
    """TFOpLambda → Add/Arith/Relu/Activation/Pad for the functions in FUNCTIONS (tensor ⊕ tensor
    of equal rank, tensor ⊕ scalar, scalar ⊕ tensor; clip = min then max as TF computes it; pad
    mode CONSTANT on H, W and channels); UnsupportedLayerError otherwise."""
    fn = layer.get_config().get("function")
    if fn not in FUNCTIONS:
        raise UnsupportedLayerError(layer.name, "TFOpLambda", "function", fn, sorted(FUNCTIONS),
                                    hint="only TF operators with an exact export are recognised")
    kind, params = FUNCTIONS[fn]
    c = _Call(b, layer, inputs, params)
    outs = b.node.outputs if isinstance(b.node.outputs, (list, tuple)) else [b.node.outputs]
    if len(outs) != 1 or getattr(outs[0].dtype, "name", str(outs[0].dtype)) != "float32":
        c.refuse("output dtype", str(getattr(outs[0], "dtype", "?")), ["float32"])
    if kind in ("add", "sub", "mul", "div", "max", "min"):
        return _binary(c, kind)
    first = "x" if kind == "neg" else "t" if kind == "clip" else "tensor" if kind == "pad" else "features"
    x = c.tensor(c.values.get(first))
    if x is None:
        c.refuse(first, _short(c.values.get(first)), ["a Keras tensor"])
    if kind == "neg":
        return ew.emit_scalar(b, layer, "mul", x, -1.0)
    if kind == "relu":
        return ew.emit_relu(b, layer, x)
    if kind == "relu6":
        return ew.emit_relu(b, layer, x, max_value=6.0)
    if kind == "leaky":
        return ew.emit_relu(b, layer, x, alpha=c.scalar("alpha", 0.2))
    if kind == "clip":
        lo, hi = c.scalar("clip_value_min"), c.scalar("clip_value_max")
        # tf.clip_by_value: t_min = minimum(t, max); maximum(t_min, min)
        return ew.emit_scalar(b, layer, "max", ew.emit_scalar(b, layer, "min", x, hi), lo)
    return _pad(c, x)


def _binary(c: _Call, kind: str) -> str:
    (ka, a), (kb, bb) = c.operand("x"), c.operand("y")
    if ka == "const" and kb == "const":
        c.refuse("operands", "two constants", ["at least one Keras tensor"])
    if ka == "tensor" and kb == "tensor":
        ra, rb = len(c.b.shape(a)), len(c.b.shape(bb))
        if ra != rb:
            c.refuse("operand ranks", [ra + 1, rb + 1], ["equal ranks"],
                     hint="TF broadcasting of different ranks would align the batch axis with a feature axis")
        return ew.emit_binary(c.b, c.layer, kind, a, bb)
    if ka == "tensor":
        return ew.emit_scalar(c.b, c.layer, kind, a, bb)
    return ew.emit_scalar(c.b, c.layer, kind, bb, a, const_first=True)


def _pad(c: _Call, x: str) -> str:
    mode = c.values.get("mode", "CONSTANT")
    if not isinstance(mode, str) or mode.upper() != "CONSTANT":
        c.refuse("mode", mode, ["CONSTANT"])
    value = c.scalar("constant_values", 0)
    p = c.values.get("paddings")
    if _is_symbolic(p):
        c.refuse("paddings", "a tensor", ["constant [[0, 0], [top, bottom], [left, right], [0, 0]]"])
    try:
        p = np.asarray(p.numpy() if hasattr(p, "numpy") else p)
    except Exception:  # an object numpy cannot read as a table of integers
        p = np.zeros(0)
    rank = len(c.b.shape(x)) + 1
    ok = p.shape == (rank, 2) and p.dtype.kind in "iu" and rank == 4 and not p[0].any() and (p >= 0).all()
    if not ok:
        c.refuse("paddings", _short(p.tolist()), ["[[0, 0], [top, bottom], [left, right], [front, back]] of "
                                                  "non-negative ints on a rank-4 tensor"])
    y = ew.emit_pad(c.b, c.layer, c.b.as_f32(x, c.layer.name), tuple(int(v) for v in p[1:3].reshape(-1)), value)
    front, back = int(p[3, 0]), int(p[3, 1])       # channel pads: a ChannelWindow starting before channel 0
    return ew.emit_channel_window(c.b, c.layer, y, -front, c.b.shape(y)[-1] + front + back, value)


def _tfop_class(keras):
    """The class tf-keras records TF operators as (not exported under keras.layers)."""
    try:
        from tf_keras.src.layers.core.tf_op_layer import TFOpLambda
        return TFOpLambda
    except ImportError:                     # another tf-keras layout: ask a recorded operator
        return type((keras.Input((1,)) + 1.0)._keras_history.layer)
