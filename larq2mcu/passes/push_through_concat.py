"""A per-channel float op after a float Concat runs on each member instead: op(Concat(xᵢ)) →
Concat(opᵢ(xᵢ)).

BatchNorm (its mean/scale/offset sliced to the member's channels), MaxPool2D (pooling is per
channel, with the same window, strides and padding) and element-wise Activation/Relu compute each
output element from the same input elements with the same float32 operations whether or not the
channels around them are concatenated, so the result is bit-identical. Fires only when the
Concat's one reader is the op (the float concatenation then disappears); applied until none is
left, it moves the Concat down a chain — BinaryDenseNet's transition BN → MaxPool → ReLU → 1×1
conv becomes per-member BN → MaxPool → ReLU and a Concat of the pooled (4× smaller) maps in
front of the conv, so no full-size float concatenation is ever materialised.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ._util import fresh_name, single_consumer

_ELEMENTWISE = ("linear", "relu", "sigmoid", "tanh")        # Activation fns without softmax


def _movable(op) -> bool:
    if isinstance(op, (ir.BatchNorm, ir.MaxPool2D, ir.Relu)):
        return True
    return isinstance(op, ir.Activation) and op.fn in _ELEMENTWISE


def _match(g: ir.Graph, op):
    if not _movable(op) or op.output in g.outputs:
        return None
    cat = g.producer(op.inputs[0])
    if not isinstance(cat, ir.Concat) or g.tensors[cat.output].dtype != ir.F32 or len(cat.inputs) < 2:
        return None
    if single_consumer(g, cat.output) is not op:
        return None
    return cat


def _part(op, i: int, sl: slice, x: str, y: str, name: str):
    if isinstance(op, ir.BatchNorm):
        part = op.parts[i] if op.parts is not None and len(op.parts) > i else None
        return dataclasses.replace(op, name=name, inputs=(x,), output=y, mean=op.mean[sl], scale=op.scale[sl],
                                   offset=op.offset[sl], parts=None,
                                   probe=part.probe if part else None, probe_lo=part.probe_lo if part else 0,
                                   float_threshold=part.float_threshold if part else None)
    return dataclasses.replace(op, name=name, inputs=(x,), output=y)


def _push_one(g: ir.Graph, op, cat: ir.Concat) -> ir.Graph:
    tensors, new_ops, outs, start = dict(g.tensors), [], [], 0
    out_shape = g.tensors[op.output].shape
    for i, x in enumerate(cat.inputs):
        c = g.tensors[x].shape[-1]
        y = fresh_name(ir.Graph(tensors=tensors), f"{type(op).__name__.lower()}part")
        tensors[y] = ir.Tensor(y, (*out_shape[:-1], c), ir.F32)
        new_ops.append(_part(op, i, slice(start, start + c), x, y, f"{op.name}_part{i}"))
        outs.append(y)
        start += c
    new_ops.append(ir.Concat(name=f"{cat.name}_after_{op.name}", inputs=tuple(outs), output=op.output,
                             layer=cat.layer))
    ops = []
    for o in g.ops:
        if o is op:
            ops.extend(new_ops)            # every member is computed before op's old position
        elif o is not cat:
            ops.append(o)
    return g.replace(ops=tuple(ops), tensors=tensors).prune()


def push_through_concat(g: ir.Graph) -> ir.Graph:
    """Move every per-channel float op that alone reads a float Concat in front of it (module
    doc), until none is left."""
    while True:
        m = next(((op, cat) for op in g.ops for cat in [_match(g, op)] if cat is not None), None)
        if m is None:
            return g
        g = _push_one(g, *m)
