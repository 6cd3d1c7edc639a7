"""Pack a flattened few-channel bit map densely.

hoist_quantize turns sign(Flatten(x)) into Flatten(sign(x)), and a Flatten of bits keeps its
source's packing (H·W, C) so that it is a free view. With C < 32 (or any C not a multiple of 32)
that packing wastes words: each pixel starts a new 32-bit word, so a (28, 28, 1) map flattened into
a binary dense costs 784 words per output unit instead of ⌈784/32⌉ = 25, and every reader of the
vector (the dense weights: out · words) pays for it.

A bit vector of shape (N,) with packing (g, c) uses g·⌈c/32⌉ words; packed densely, (1, N), it
uses ⌈N/32⌉. When the first is larger, this pass gives the vector the dense packing, by the
cheaper of two rewrites (both keep every logical bit, so reference outputs are unchanged):
  * un-hoist: Reshape(Quantize(x)) with x float and the quantized map read only by the Reshape
    becomes Quantize(Reshape(x)): the float Reshape is a view, the Quantize writes ⌈N/32⌉ words
    once — no extra buffer, no extra pass over the bits;
  * repack: otherwise (the bits come from a folded threshold, a binary max pool, …) the Reshape
    gets the dense output packing, which the codegen lowers to l2m_repack_b32_ref. That costs one
    buffer of ⌈N/32⌉ words, so it is done only when the words saved in the readers' weights
    exceed it.
Graph outputs keep their packing (it is part of the generated API).
"""
from __future__ import annotations

import dataclasses

from .. import bits as _bits
from .. import ir
from ._util import fresh_name, single_consumer


def _words(packing: tuple) -> int:
    groups, c = packing
    return groups * _bits.words(c)


def _weight_words_saved(g: ir.Graph, t: str, old: int, new: int) -> int:
    """Words of constant data the readers of `t` save when its packing shrinks from old to new
    words: a binary dense stores (words of its input) per output unit."""
    saved = 0
    for op in g.consumers(t):
        if isinstance(op, ir.BinaryDense):
            saved += int(op.weights.shape[-1]) * (old - new)
    return saved


def _unhoist(g: ir.Graph, r: ir.Reshape, q: ir.Quantize) -> ir.Graph:
    """Reshape(Quantize(x)) → Quantize(Reshape_f32(x)), the output getting the dense packing."""
    out_t = g.tensors[r.output]
    flat = fresh_name(g, "flat")
    tensors = dict(g.tensors)
    tensors[flat] = ir.Tensor(flat, out_t.shape, ir.F32)
    tensors[r.output] = dataclasses.replace(out_t, packing=ir.default_packing(out_t.shape))
    new_r = ir.Reshape(name=f"{r.name}_f", inputs=q.inputs, output=flat, layer=r.layer)
    new_q = ir.Quantize(name=f"{q.name}_d", inputs=(flat,), output=r.output, layer=q.layer)
    ops = []
    for op in g.ops:
        if op is q:
            continue
        ops.extend([new_r, new_q] if op is r else [op])
    return g.replace(ops=tuple(ops), tensors=tensors).prune()


def _repack(g: ir.Graph, r: ir.Reshape) -> ir.Graph:
    out_t = g.tensors[r.output]
    tensors = dict(g.tensors)
    tensors[r.output] = dataclasses.replace(out_t, packing=ir.default_packing(out_t.shape))
    return g.replace(tensors=tensors)


def _rewrite_once(g: ir.Graph):
    for r in g.ops:
        if not isinstance(r, ir.Reshape) or r.output in g.outputs:
            continue
        t = g.tensors[r.output]
        if t.dtype != ir.BITS or len(t.shape) != 1:
            continue
        old, new = _words(t.packing), _words(ir.default_packing(t.shape))
        if old <= new:
            continue
        q = g.producer(r.inputs[0])
        if (isinstance(q, ir.Quantize) and g.tensors[q.inputs[0]].dtype == ir.F32
                and single_consumer(g, r.inputs[0]) is r):
            return _unhoist(g, r, q)
        if _weight_words_saved(g, r.output, old, new) > new:
            return _repack(g, r)
    return None


def flatten_packing(g: ir.Graph) -> ir.Graph:
    """Give each non-output 1-D bit vector made by a Reshape the dense packing (1, N) where its
    current packing (g, c) takes more words (g·⌈c/32⌉ > ⌈N/32⌉): un-hoist the Quantize when it
    quantizes a float map read only by the Reshape, else repack when the weight words saved exceed
    the ⌈N/32⌉-word buffer the repack needs."""
    while True:
        nxt = _rewrite_once(g)
        if nxt is None:
            return g
        g = nxt
