"""Small graph-editing helpers shared by the passes (all return new objects)."""
from __future__ import annotations

import dataclasses

from .. import ir


def single_consumer(g: ir.Graph, tensor: str):
    """The only op reading `tensor`, or None if it has 0 or ≥ 2 readers or is a graph output."""
    if tensor in g.outputs:
        return None
    cons = g.consumers(tensor)
    return cons[0] if len(cons) == 1 else None


def rename_inputs(op: ir.Op, old: str, new: str) -> ir.Op:
    return dataclasses.replace(op, inputs=tuple(new if i == old else i for i in op.inputs))


def fresh_name(g: ir.Graph, stem: str) -> str:
    i = len(g.tensors)
    while f"p{i}_{stem}" in g.tensors:
        i += 1
    return f"p{i}_{stem}"
