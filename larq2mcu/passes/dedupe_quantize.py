"""Common-subexpression elimination for Quantize: one tensor quantized by several consumers
(e.g. a shortcut feeding two QuantConv2D layers) is packed once."""
from __future__ import annotations

import dataclasses

from .. import ir


def dedupe_quantize(g: ir.Graph) -> ir.Graph:
    """Drop every Quantize of a tensor already quantized earlier (unless its output is a graph
    output); its readers read the first Quantize's output. Returns the pruned graph."""
    first: dict = {}       # input tensor → output of the first Quantize of it
    alias: dict = {}       # dropped Quantize output → kept one
    ops = []
    for op in g.ops:
        op = dataclasses.replace(op, inputs=tuple(alias.get(i, i) for i in op.inputs))
        if isinstance(op, ir.Quantize):
            if op.inputs[0] in first and op.output not in g.outputs:
                alias[op.output] = first[op.inputs[0]]
                continue
            first[op.inputs[0]] = op.output
        ops.append(op)
    return g.replace(ops=tuple(ops)).prune()
