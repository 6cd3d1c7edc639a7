"""Give every input of a bit-map concatenation the default packing.

l2m_bitcopy copies runs of `in_c` bits per output pixel, so each BITS input of a Concat must be
packed as (pixels, channels). hoist_quantize can leave a flattened bit vector with its source's
per-pixel packing (a free view for binary dense layers); before a Concat such an input gets an
explicit Reshape to the same shape with the default packing, which the codegen lowers to a
repack (same logical bits, new word layout).
"""
from __future__ import annotations

import dataclasses

from .. import ir
from ._util import fresh_name


def concat_packing(g: ir.Graph) -> ir.Graph:
    """Insert a repacking Reshape before each input of a BITS Concat whose packing is not
    `ir.default_packing` of its shape; other ops and tensors are unchanged."""
    tensors, ops = dict(g.tensors), []
    for op in g.ops:
        if isinstance(op, ir.Concat) and g.tensors[op.output].dtype == ir.BITS:
            new_inputs = []
            for t in op.inputs:
                tt = tensors[t]
                if tt.packing != ir.default_packing(tt.shape):
                    name = fresh_name(ir.Graph(tensors=tensors), "repack")
                    tensors[name] = ir.Tensor(name, tt.shape, ir.BITS, ir.default_packing(tt.shape))
                    ops.append(ir.Reshape(name=f"{op.name}_repack{len(new_inputs)}", inputs=(t,), output=name,
                                          layer=op.layer))
                    t = name
                new_inputs.append(t)
            op = dataclasses.replace(op, inputs=tuple(new_inputs))
        ops.append(op)
    return g.replace(ops=tuple(ops), tensors=tensors)
