"""Move sign quantizers towards the binary dot products that produce their inputs.

Identities (x real, bit = x < 0, sign(0) = +1):
  * sign(reshape(x)) = reshape(sign(x))                       — element order is unchanged;
  * sign(maxpool(x)) = AND-pool(sign bits)                    — max < 0 iff every tap < 0
    (padded taps are ignored on both sides, so 'same' pooling is covered);
  * sign(dequantize(b)) = b                                   — ±1 values keep their sign.
After this pass a binary dot → BN → (reshape | maxpool) → sign chain reads dot → BN → sign,
which fold_threshold can turn into integer thresholds, and a flatten of bits is a free view.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ._util import fresh_name, single_consumer


def _hoist_once(g: ir.Graph):
    for q in g.ops:
        if not isinstance(q, ir.Quantize):
            continue
        src = g.producer(q.inputs[0])
        if isinstance(src, ir.Dequantize):
            return _bypass(g, q, src.inputs[0])
        if isinstance(src, (ir.Reshape, ir.MaxPool2D)) and g.tensors[src.inputs[0]].dtype == ir.F32:
            return _swap(g, q, src)
    return None


def _bypass(g: ir.Graph, q: ir.Quantize, bits: str) -> ir.Graph:
    """Readers of q's output read `bits` instead; q goes away."""
    ops = tuple(dataclasses.replace(op, inputs=tuple(bits if i == q.output else i for i in op.inputs))
                for op in g.ops if op is not q)
    outputs = tuple(bits if o == q.output else o for o in g.outputs)
    return g.replace(ops=ops, outputs=outputs).prune()


def _swap(g: ir.Graph, q: ir.Quantize, src: ir.Op) -> ir.Graph:
    """Quantize(src(x)) → src'(Quantize(x)); src stays if something else reads its F32 output."""
    x = g.tensors[src.inputs[0]]
    new_bits = fresh_name(g, "quantize")
    tensors = dict(g.tensors)
    tensors[new_bits] = ir.Tensor(new_bits, x.shape, ir.BITS, ir.default_packing(x.shape),
                                  ir.Origin(x.origin.layer, "sign") if x.origin and x.origin.transform == "identity"
                                  else None)
    new_q = ir.Quantize(name=f"{q.name}_h", inputs=(x.name,), output=new_bits, layer=q.layer)
    out_t = g.tensors[q.output]
    if isinstance(src, ir.Reshape):
        packing = tensors[new_bits].packing if len(out_t.shape) == 1 else ir.default_packing(out_t.shape)
        tensors[q.output] = dataclasses.replace(out_t, packing=packing)
        moved = ir.Reshape(name=f"{src.name}_b", inputs=(new_bits,), output=q.output, layer=src.layer)
    else:
        moved = ir.BinaryMaxPool2D(name=f"{src.name}_b", inputs=(new_bits,), output=q.output, layer=src.layer,
                                   pool=src.pool, strides=src.strides, pads=src.pads)
    ops = []
    for op in g.ops:
        if op is q:
            continue
        if op is src:
            if single_consumer(g, src.output) is None:
                ops.append(op)
            ops.extend([new_q, moved])
        else:
            ops.append(op)
    return g.replace(ops=tuple(ops), tensors=tensors).prune()


def hoist_quantize(g: ir.Graph) -> ir.Graph:
    """Apply the module's identities until none applies: a Quantize of a Dequantize is bypassed,
    a Quantize of a Reshape or MaxPool2D of an F32 tensor moves before it (becoming a Reshape of
    bits / a BinaryMaxPool2D); each rewrite prunes dead ops."""
    while True:
        nxt = _hoist_once(g)
        if nxt is None:
            return g
        g = nxt
