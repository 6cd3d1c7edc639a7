"""A pad followed by a sign, read by binary convs, becomes those convs' +1 padding.

Pad(x, value v) → Quantize → BinaryConv2D: the padded ring holds v, whose sign is +1 when v ≥ 0
(sign(0) = +1, the Quantize rule bit = v < 0), and Larq's pad_values=1.0 reads +1 outside the
image. So the conv may read sign(x) directly with pads + the Pad's pads and pad_one, exactly, when
it had no padding or +1 padding (a pad_values=0 conv would add 0 outside and ±1 on the ring:
not one rule) and each combined pad is smaller than the kernel (windows keep a tap inside).
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ._util import fresh_name


def _foldable(conv: ir.BinaryConv2D, pad: ir.Pad) -> bool:
    if any(conv.pads) and not conv.pad_one:
        return False
    kh, kw = conv.weights.shape[:2]
    new = tuple(a + b for a, b in zip(conv.pads, pad.pads))
    return new[0] < kh and new[1] < kh and new[2] < kw and new[3] < kw


def fold_pad(g: ir.Graph) -> ir.Graph:
    """For every Pad (value ≥ 0) → Quantize whose readers include foldable BinaryConv2Ds: add a
    Quantize of the Pad's input (before the Pad) and let those convs read it with the combined
    pads and pad_one; the Pad and old Quantize go when nothing else reads them."""
    for pad in g.ops:
        if not isinstance(pad, ir.Pad) or pad.value < 0 or pad.output in g.outputs:
            continue
        for q in g.consumers(pad.output):
            if not isinstance(q, ir.Quantize):
                continue
            convs = [op for op in g.consumers(q.output) if isinstance(op, ir.BinaryConv2D)
                     and op.inputs[0] == q.output and _foldable(op, pad)]
            if not convs:
                continue
            src = g.tensors[pad.inputs[0]]
            name = fresh_name(g, "unpadded_bits")
            bits = ir.Tensor(name, src.shape, ir.BITS, ir.default_packing(src.shape))
            new_q = ir.Quantize(name=f"{q.name}_unpadded", inputs=pad.inputs, output=name, layer=q.layer)
            ops = []
            for op in g.ops:
                if op is pad:
                    ops.append(new_q)
                if op in convs:
                    op = dataclasses.replace(op, inputs=(name,), pad_one=True,
                                             pads=tuple(a + b for a, b in zip(op.pads, pad.pads)))
                ops.append(op)
            return fold_pad(g.replace(ops=tuple(ops), tensors={**g.tensors, name: bits}).prune())
    return g
