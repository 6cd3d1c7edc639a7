"""Move a BatchNormalization + sign that follow a float Concat in front of it, per input.

BN is per channel and sign is element-wise, so with y = Concat(x₀, …, xₙ₋₁) along channels
    sign(BN(y)) = Concat(sign(BN₀(x₀)), …, sign(BNₙ₋₁(xₙ₋₁)))
exactly, BNᵢ the channel slice [cᵢ, cᵢ + Cᵢ) of BN's mean/scale/offset: the same float32
arithmetic on the same values. BNᵢ carries the frontend's exact per-input probe / float threshold
(`BatchNorm.parts`, frontend/concat_bn.py), so fold_threshold then turns each xᵢ's producer into
a thresholded dot and the Concat joins bit maps (32× less arena than the float concatenation).
Fires only when every Concat input has a part (a binary or float dot producer) and the float
Concat has no other reader than this BN, whose only reader is the sign: otherwise the float map
stays live anyway and nothing would be saved, and an input that is itself bits (a Dequantize) is
left float. In BinaryDenseNet's blocks the next Concat also reads each Concat; flatten_concat
(which runs first) makes it read the members instead, so the pass fires there too.
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ._util import fresh_name, single_consumer


def _match(g: ir.Graph, bn: ir.BatchNorm):
    cat = g.producer(bn.inputs[0])
    if bn.parts is None or not isinstance(cat, ir.Concat) or single_consumer(g, cat.output) is not bn:
        return None
    q = single_consumer(g, bn.output)
    if not isinstance(q, ir.Quantize) or len(bn.parts) != len(cat.inputs) or any(p is None for p in bn.parts):
        return None
    # the parts are per member of the Keras concatenation (nested Concats expanded, as
    # flatten_concat does): each must cover exactly its input's channels
    if any(_channels(p) != g.tensors[t].shape[-1] for p, t in zip(bn.parts, cat.inputs)):
        return None
    return cat, q


def _channels(part: ir.BnPart) -> int:
    if part.probe is not None:
        return int(part.probe.shape[1])
    return int(len(part.float_threshold.tau))


def _split_one(g: ir.Graph, bn: ir.BatchNorm, cat: ir.Concat, q: ir.Quantize) -> ir.Graph:
    tensors, new_ops, bits_in, start = dict(g.tensors), [], [], 0
    for i, (t, part) in enumerate(zip(cat.inputs, bn.parts)):
        shape = g.tensors[t].shape
        c = shape[-1]
        sl = slice(start, start + c)
        f = fresh_name(ir.Graph(tensors=tensors), "bnpart")
        tensors[f] = ir.Tensor(f, shape, ir.F32)
        new_ops.append(ir.BatchNorm(name=f"{bn.name}_part{i}", inputs=(t,), output=f, layer=bn.layer,
                                    mean=bn.mean[sl], scale=bn.scale[sl], offset=bn.offset[sl],
                                    probe=part.probe, probe_lo=part.probe_lo,
                                    float_threshold=part.float_threshold))
        s = fresh_name(ir.Graph(tensors=tensors), "signpart")
        tensors[s] = ir.Tensor(s, shape, ir.BITS, ir.default_packing(shape))
        new_ops.append(ir.Quantize(name=f"{q.name}_part{i}", inputs=(f,), output=s, layer=q.layer))
        bits_in.append(s)
        start += c
    out = g.tensors[q.output]
    tensors[q.output] = dataclasses.replace(out, packing=ir.default_packing(out.shape))
    new_ops.append(ir.Concat(name=f"{cat.name}_bits", inputs=tuple(bits_in), output=q.output, layer=cat.layer))
    ops = []
    for op in g.ops:
        if op is q:
            ops.extend(new_ops)            # every input is computed before q's old position
        elif op is not bn and op is not cat:
            ops.append(op)
    return g.replace(ops=tuple(ops), tensors=tensors).prune()


def split_concat_bn(g: ir.Graph) -> ir.Graph:
    """Rewrite every float Concat → BatchNorm (with per-input parts) → Quantize chain into
    per-input BatchNorm → Quantize and a bit-map Concat (module doc), until none is left."""
    while True:
        m = next(((op, *r) for op in g.ops if isinstance(op, ir.BatchNorm) for r in [_match(g, op)] if r), None)
        if m is None:
            return g
        g = _split_one(g, *m)
