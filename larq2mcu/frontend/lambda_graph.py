"""Keras `Lambda` layers of an in-memory model, by the TensorFlow graph their body traces to.

A Lambda's body is Python, so its config says nothing exact about what it computes. The model is
already in memory (its author ran that code to build it), so the body is traced once with
tf.function on TensorSpecs of the layer's input shapes (batch 1) — which runs only TF's graph
construction, never a computation on data — and the traced graph's ops are read one by one and
lowered into the IR ops that exist: element-wise arithmetic and activations (frontend/elementwise.py),
Pad, Concat, and ChannelWindow for channel slices (tf.split, x[..., a:b]) and channel pads.
Any other graph op (or a variable the body captures) is refused naming the layer, the TF op type
and the supported ones. Model *files* with a Lambda stay refused at load (frontend/safe_load.py).
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError
from . import elementwise as ew
from .registry import Builder, register

_BINARY = {"AddV2": "add", "Add": "add", "Sub": "sub", "Mul": "mul", "RealDiv": "div", "Maximum": "max",
           "Minimum": "min"}
_ACTIVATION = {"Sigmoid": "sigmoid", "Tanh": "tanh"}
_PASS = ("Identity", "StopGradient")
SUPPORTED = sorted(set(_BINARY) | set(_ACTIVATION) | set(_PASS) | {
    "Placeholder", "Const", "Neg", "Relu", "Relu6", "LeakyRelu", "Pad", "PadV2", "ConcatV2", "Split", "SplitV",
    "StridedSlice", "Slice"})


class _Graph:
    """The values of one traced Lambda body: graph tensor name → ('t', IR tensor) or ('c', array)."""

    def __init__(self, b: Builder, layer):
        self.b, self.layer, self.vals = b, layer, {}

    def refuse(self, attribute, value, supported, hint=None):
        """UnsupportedLayerError naming the Lambda layer."""
        raise UnsupportedLayerError(self.layer.name, "Lambda", attribute, value, supported, hint=hint)

    def get(self, t):
        """The value of graph tensor t."""
        return self.vals[t.name]

    def tensor(self, t, op) -> str:
        """The IR tensor of graph tensor t (refused when t is a constant)."""
        kind, v = self.get(t)
        if kind != "t":
            self.refuse(f"{op.type} operand", "a constant", ["a tensor computed from the layer's inputs"])
        return v

    def const(self, t, op) -> np.ndarray:
        """The constant value of graph tensor t (refused when t depends on the inputs)."""
        kind, v = self.get(t)
        if kind != "c":
            self.refuse(f"{op.type} argument", "a tensor", ["a constant"])
        return v

    def rank(self, t) -> int:
        """The full rank of graph tensor t (batch axis included)."""
        return len(t.shape)

    def channel_axis(self, op, axis, rank) -> None:
        """Refuse unless `axis` names the last axis of a rank-`rank` tensor."""
        a = int(np.asarray(axis).reshape(-1)[0]) if np.asarray(axis).size == 1 else None
        if a is None or a not in (-1, rank - 1):
            self.refuse(f"{op.type} axis", a, [-1, rank - 1], hint="only the channel (last) axis")


def _trace(layer, node):
    """The concrete function of layer.call on TensorSpecs (batch 1) of the node's inputs, and the
    flat list of the node's Keras input tensors in the traced function's input order."""
    import tensorflow as tf
    struct = node.call_args[0] if node.call_args else node.keras_inputs
    flat = tf.nest.flatten(struct)
    specs = [tf.TensorSpec((1,) + tuple(t.shape[1:]), t.dtype) for t in flat]

    def body(*xs):
        return layer.call(tf.nest.pack_sequence_as(struct, list(xs)))

    try:
        cf = tf.function(body, autograph=False).get_concrete_function(*specs)
    except Exception as e:  # the body may raise anything while it is traced
        raise UnsupportedLayerError(layer.name, "Lambda", "trace", f"{type(e).__name__}: {' '.join(str(e).split())}",
                                    ["a body TensorFlow can trace on the layer's input shapes"]) from None
    return cf, flat


@register(lambda keras, lq: [keras.layers.Lambda])
def lambda_layer(b: Builder, layer, inputs):
    """Lambda → the IR ops of its traced TF graph (see the module docstring); a list of IR tensors
    when the body returns several (tf.split). UnsupportedLayerError for any graph op not in
    SUPPORTED, a captured variable, a non-float32 tensor or a batch-mixing axis."""
    node = b.node
    cf, flat = _trace(layer, node)
    g = _Graph(b, layer)
    if cf.captured_inputs:
        g.refuse("captured tensors", len(cf.captured_inputs), ["none (a body of TF ops on its inputs)"],
                 hint="a Lambda that reads a variable or an outside tensor")
    by_id = {id(t): name for t, name in zip(node.keras_inputs, inputs)}
    placeholders = [t for t in cf.inputs]
    for ph, kt in zip(placeholders, flat):
        if id(kt) not in by_id:
            g.refuse("input", repr(kt), ["Keras tensors of the model"])
        g.vals[ph.name] = ("t", by_id[id(kt)])
    for op in cf.graph.get_operations():
        if op.type == "Placeholder":
            continue
        if op.type == "NoOp":
            continue
        _lower(g, op)
    outs = [g.get(t) for t in tf_flatten(cf.structured_outputs)]
    names = []
    for kind, v in outs:
        if kind != "t":
            g.refuse("output", "a constant", ["a tensor computed from the layer's inputs"])
        names.append(v)
    return names if isinstance(cf.structured_outputs, (list, tuple)) else names[0]


def tf_flatten(s):
    """tf.nest.flatten (imported lazily: TF is loaded by the caller)."""
    import tensorflow as tf
    return tf.nest.flatten(s)


def _lower(g: _Graph, op) -> None:
    """Record the value of each output of graph op `op` (emitting IR ops into g.b)."""
    b, layer, t = g.b, g.layer, op.type
    for o in op.outputs:
        if o.dtype.name not in ("float32", "int32", "int64") or (o.dtype.name != "float32" and t != "Const"):
            g.refuse(f"{t} output dtype", o.dtype.name, ["float32 (int32 constants as arguments)"])
    if t == "Const":
        import tensorflow as tf
        g.vals[op.outputs[0].name] = ("c", tf.make_ndarray(op.get_attr("value")))
        return
    if t in _PASS:
        g.vals[op.outputs[0].name] = g.get(op.inputs[0])
        return
    for o in op.outputs:           # every non-constant value keeps the batch axis of 1 in front
        if len(o.shape) < 2 or o.shape[0] != 1 or not o.shape.is_fully_defined():
            g.refuse(f"{t} output shape", tuple(o.shape), ["(batch, ...) with the batch axis untouched"])
    out = op.outputs[0].name
    if t in _BINARY:
        g.vals[out] = ("t", _binary(g, op, _BINARY[t]))
    elif t == "Neg":
        g.vals[out] = ("t", ew.emit_scalar(b, layer, "mul", g.tensor(op.inputs[0], op), -1.0))
    elif t == "Relu":
        g.vals[out] = ("t", ew.emit_relu(b, layer, g.tensor(op.inputs[0], op)))
    elif t == "Relu6":
        g.vals[out] = ("t", ew.emit_relu(b, layer, g.tensor(op.inputs[0], op), max_value=6.0))
    elif t == "LeakyRelu":
        g.vals[out] = ("t", ew.emit_relu(b, layer, g.tensor(op.inputs[0], op), alpha=float(op.get_attr("alpha"))))
    elif t in _ACTIVATION:
        x = b.as_f32(g.tensor(op.inputs[0], op), layer.name)
        g.vals[out] = ("t", b.emit(ir.Activation, [x], b.shape(x), ir.F32, layer.name, fn=_ACTIVATION[t]))
    elif t in ("Pad", "PadV2"):
        g.vals[out] = ("t", _pad(g, op))
    elif t == "ConcatV2":
        g.vals[out] = ("t", _concat(g, op))
    elif t in ("Split", "SplitV"):
        x_in, sizes = _split_args(g, op)
        x = b.as_f32(g.tensor(x_in, op), layer.name)
        begin = 0
        for o, n in zip(op.outputs, sizes):
            g.vals[o.name] = ("t", _window(g, x, begin, n))
            begin += n
    elif t in ("StridedSlice", "Slice"):
        g.vals[out] = ("t", _slice(g, op))
    else:
        g.refuse("TF op", t, SUPPORTED, hint="the Lambda body traced to an op larq2mcu has no exact export for")


def _binary(g: _Graph, op, fn: str) -> str:
    a, c = op.inputs[0], op.inputs[1]
    (ka, va), (kc, vc) = g.get(a), g.get(c)
    if ka == "t" and kc == "t":
        if g.rank(a) != g.rank(c):
            g.refuse(f"{op.type} operand ranks", [g.rank(a), g.rank(c)], ["equal ranks"],
                     hint="TF broadcasting of different ranks would align the batch axis with a feature axis")
        return ew.emit_binary(g.b, g.layer, fn, va, vc)
    if ka == "c" and kc == "c":
        g.refuse(f"{op.type} operands", "two constants", ["at least one tensor"])
    k = vc if ka == "t" else va
    k = np.asarray(k)
    if k.size != 1 or k.dtype.kind != "f":
        g.refuse(f"{op.type} constant", f"shape {k.shape}, dtype {k.dtype}", ["a float32 scalar"])
    if ka == "t":
        return ew.emit_scalar(g.b, g.layer, fn, va, float(k.reshape(-1)[0]))
    return ew.emit_scalar(g.b, g.layer, fn, vc, float(k.reshape(-1)[0]), const_first=True)


def _window(g: _Graph, x: str, begin: int, cout: int, value: float = 0.0) -> str:
    return ew.emit_channel_window(g.b, g.layer, x, begin, cout, value)


def _pad(g: _Graph, op) -> str:
    x = g.b.as_f32(g.tensor(op.inputs[0], op), g.layer.name)
    p = g.const(op.inputs[1], op)
    value = float(np.asarray(g.const(op.inputs[2], op)).reshape(-1)[0]) if op.type == "PadV2" else 0.0
    rank = g.rank(op.inputs[0])
    if p.shape != (rank, 2) or p[0].any() or (p < 0).any() or rank not in (2, 4):
        g.refuse("Pad paddings", p.tolist(), ["[[0, 0], ..., [front, back]] of non-negative ints on a rank-2 or "
                                              "rank-4 tensor (batch not padded)"])
    if rank == 4:
        x = ew.emit_pad(g.b, g.layer, x, tuple(int(v) for v in p[1:3].reshape(-1)), value)
    front, back = int(p[-1, 0]), int(p[-1, 1])
    return _window(g, x, -front, g.b.shape(x)[-1] + front + back, value)


def _concat(g: _Graph, op) -> str:
    *xs, axis = op.inputs
    rank = g.rank(xs[0])
    g.channel_axis(op, g.const(axis, op), rank)
    names = [g.tensor(t, op) for t in xs]
    b = g.b
    if len({b.shape(t)[:-1] for t in names}) != 1:
        g.refuse("ConcatV2 input shapes", [b.shape(t) for t in names], ["equal except the last axis"])
    shape = b.shape(names[0])[:-1] + (sum(b.shape(t)[-1] for t in names),)
    if len(names) == 1:
        return names[0]
    if all(b.dtype(t) == ir.BITS and b.tensors[t].packing == ir.default_packing(b.shape(t)) for t in names):
        return b.emit(ir.Concat, names, shape, ir.BITS, g.layer.name)
    return b.emit(ir.Concat, [b.as_f32(t, g.layer.name) for t in names], shape, ir.F32, g.layer.name)


def _split_args(g: _Graph, op):
    """(input graph tensor, channel sizes) of a Split (axis, value) or SplitV (value, sizes, axis)."""
    if op.type == "Split":
        axis, x = op.inputs
        n = int(op.get_attr("num_split"))
        g.channel_axis(op, g.const(axis, op), g.rank(x))
        return x, [int(x.shape[-1]) // n] * n
    x, sizes, axis = op.inputs
    g.channel_axis(op, g.const(axis, op), g.rank(x))
    return x, [int(o.shape[-1]) for o in op.outputs]


def _slice(g: _Graph, op) -> str:
    """A StridedSlice / Slice that keeps every axis but the last whole and takes a contiguous run of
    channels: found by running that very TF op (its attributes, its constant arguments) on an
    array of element indices — TF's own slicing rules, masks included, decide what it selects."""
    import tensorflow as tf
    x = op.inputs[0]
    shape = tuple(int(d) for d in x.shape)
    idx = tf.constant(np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape))
    args = [g.const(t, op) for t in op.inputs[1:]]
    attrs = {k: op.get_attr(k) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                         "shrink_axis_mask")} if op.type == "StridedSlice" else {}
    try:
        if op.type == "StridedSlice":
            sel = tf.raw_ops.StridedSlice(input=idx, begin=args[0], end=args[1], strides=args[2], **attrs).numpy()
        else:
            sel = tf.raw_ops.Slice(input=idx, begin=args[0], size=args[1]).numpy()
    except Exception as e:  # TF refuses the arguments on this shape
        g.refuse(f"{op.type} arguments", f"{type(e).__name__}: {e}", ["a valid slice"])
    full = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    ok = sel.ndim == len(shape) and sel.shape[:-1] == shape[:-1] and sel.shape[-1] >= 1
    begin = int(sel.reshape(-1)[0]) if ok else 0
    if ok and not np.array_equal(sel, full[..., begin:begin + sel.shape[-1]]):
        ok = False
    if not ok:
        g.refuse(f"{op.type} selection", f"shape {tuple(sel.shape)} of input {shape}",
                 ["a contiguous run of channels, every other axis kept whole"])
    return _window(g, g.b.as_f32(g.tensor(x, op), g.layer.name), begin, sel.shape[-1])
