"""Fold a float BatchNorm into the float epilogue of the dot product that produces its input.

Pattern: dot → BatchNorm, the dot's F32 output read only by the BatchNorm (and not a graph
output), the dot a BinaryConv2D / BinaryDense without output scale or Conv2D / Dense, none with a
threshold. The dot gets `bn` (ir.FoldedBatchNorm) and writes the BatchNorm's output tensor; the
BatchNorm op and the intermediate tensor disappear.

Exact by construction, not by analysis: the epilogue computes per element
    x = sum + bias            (as before; + 0.0f without bias)
    y = (x − mean)·scale + offset
with the same float32 operations in the same order as l2m_batchnorm_f32_ref did on x (l2m_out_value
in firmware/runtime/l2m_types.h; the builds use -ffp-contract=off, so no multiply-add is fused), so
every y is bit-identical to the unfused export. What it saves is the second pass over the tensor
(a load, a store and the loop per element) and the tensor's round trip through the arena. The _ref
variant has no epilogue for it: its lowering calls l2m_batchnorm_f32_ref in place after the dot
(the unfused kernels, unchanged).

A BatchNorm followed by a sign never gets here: fold_threshold (earlier in the pipeline) has made it
a threshold. A dot with an output scale (±α kernels) keeps its separate scale-and-bias kernel and
its BatchNorm.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ._util import single_consumer

_DOTS = (ir.BinaryConv2D, ir.BinaryDense, ir.Conv2D, ir.Dense)


def _fusable(g: ir.Graph, bn: ir.Op):
    """The dot feeding BatchNorm `bn` if it can take bn into its epilogue, else None."""
    dot = g.producer(bn.inputs[0])
    if type(dot) not in _DOTS or dot.threshold is not None or dot.bn is not None:
        return None
    if getattr(dot, "scale", None) is not None or g.tensors[dot.output].dtype != ir.F32:
        return None
    return dot if single_consumer(g, dot.output) is bn else None


def fuse_batchnorm(g: ir.Graph) -> ir.Graph:
    """Fold every BatchNorm whose input comes from a fusable dot (module docstring) into that dot,
    one at a time until none is left; each rewrite prunes the dead tensor."""
    for bn in g.ops:
        if not isinstance(bn, ir.BatchNorm):
            continue
        dot = _fusable(g, bn)
        if dot is None:
            continue
        folded = ir.FoldedBatchNorm(mean=bn.mean, scale=bn.scale, offset=bn.offset)
        new = dataclasses.replace(dot, output=bn.output, bn=folded)
        ops = tuple(new if op is dot else op for op in g.ops if op is not bn)
        return fuse_batchnorm(g.replace(ops=ops).prune())
    return g
