"""Average pooling of ±1 values followed by a sign, computed on bits (docs/MATH.md §4).

avg = (p − m)/n over the n taps inside the image (Keras counts only those), and the float sum of
±1 values is exact, so sign(avg) (0 → +1) is bit = (2m > n) with m = popcount of the window.
Pattern: Dequantize → AvgPool2D → Quantize (each intermediate read only by the next).
"""
from __future__ import annotations

from .. import ir
from ._util import single_consumer


def fold_binary_avgpool(g: ir.Graph) -> ir.Graph:
    """Replace every Dequantize → AvgPool2D → Quantize chain (single readers) by one
    BinaryAvgPool2D on the Dequantize's bits input, until none is left; each rewrite prunes dead ops."""
    for deq in g.ops:
        if not isinstance(deq, ir.Dequantize):
            continue
        pool = single_consumer(g, deq.output)
        if not isinstance(pool, ir.AvgPool2D):
            continue
        q = single_consumer(g, pool.output)
        if not isinstance(q, ir.Quantize):
            continue
        new = ir.BinaryAvgPool2D(name=f"{pool.name}_b", inputs=deq.inputs, output=q.output, layer=pool.layer,
                                 pool=pool.pool, strides=pool.strides, pads=pool.pads)
        ops = []
        for op in g.ops:
            if op is deq:
                ops.append(new)
            elif op not in (pool, q):
                ops.append(op)
        return fold_binary_avgpool(g.replace(ops=tuple(ops)).prune())
    return g
