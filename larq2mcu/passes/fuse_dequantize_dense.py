"""A float Dense reading dequantized bits reads the bits (issue #14: no ±1.0 floats in between).

Dequantize → Dense (float kernel; the Dequantize's output read only by this Dense) ⇒ BitDense on
the Dequantize's bits input. Each product x·w with x = ±1.0 is exact, so the sum is the same
floats (acc + w or acc − w, in input order), the ±1.0 vector (4 bytes per input) is not stored
and no multiply runs. Kernels with ±1 weights are left alone (the frontend makes those binary).
"""
from __future__ import annotations

from .. import ir
from ..layout import weights as wt
from ._util import single_consumer


def fuse_dequantize_dense(g: ir.Graph) -> ir.Graph:
    """Replace every Dequantize → Dense pair (single reader) by one BitDense, pruning the Dequantize."""
    for deq in g.ops:
        if not isinstance(deq, ir.Dequantize):
            continue
        d = single_consumer(g, deq.output)
        if type(d) is not ir.Dense or wt.is_binary(d.kernel):
            continue
        new = ir.BitDense(name=f"{d.name}_b", inputs=deq.inputs, output=d.output, layer=d.layer, kernel=d.kernel,
                          bias=d.bias, threshold=d.threshold, bn=d.bn)
        ops = tuple(new if op is d else op for op in g.ops if op is not deq)
        return fuse_dequantize_dense(g.replace(ops=ops).prune())
    return g
