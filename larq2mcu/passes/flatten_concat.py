"""Concat(Concat(a, b), c) → Concat(a, b, c) for float maps (DenseNet's growing concatenation).

Along the last axis a Concat of a Concat is the Concat of the inner inputs in order: the same
values at the same places, moved once instead of twice — exact. The inner Concat stays while
something else reads it (and disappears with prune() when nothing does). What it buys: in a
dense block every Concat is read by the next one and by its own BN + sign; after this pass the
next one reads the members instead, so split_concat_bn can move each BN + sign in front of its
Concat and no growing float concatenation is kept alive (docs/ZOO.md: BinaryDenseNet).
Bit-map Concats are left alone (their inputs' packings matter; concat_packing sets them).
"""
from __future__ import annotations

import dataclasses

from .. import ir


def _flat(g: ir.Graph, t: str) -> list:
    op = g.producer(t)
    if isinstance(op, ir.Concat) and g.tensors[t].dtype == ir.F32 and t not in g.outputs:
        return [m for i in op.inputs for m in _flat(g, i)]
    return [t]


def flatten_concat(g: ir.Graph) -> ir.Graph:
    """Give every float Concat the members of the float Concats it reads as its own inputs."""
    ops, changed = [], False
    for op in g.ops:
        if isinstance(op, ir.Concat) and g.tensors[op.output].dtype == ir.F32:
            flat = tuple(m for t in op.inputs for m in _flat(g, t))
            if flat != op.inputs:
                op, changed = dataclasses.replace(op, inputs=flat), True
        ops.append(op)
    return g.replace(ops=tuple(ops)).prune() if changed else g
