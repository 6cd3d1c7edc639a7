"""The op table (see base.py): importing this package registers every op kind's entry."""
from __future__ import annotations

import hashlib

import numpy as np

from .. import ir
from . import affine, dot, elementwise, pool, quantize, step  # noqa: F401  (register the entries)
from . import depthwise  # noqa: F401,E402  (grouped / dilated / depthwise convs)
from . import glue  # noqa: F401,E402  (Pad, Relu, PRelu, Arith)
from .base import OPS, Cost, LowerCtx, OpDef, opdef

__all__ = ["OPS", "OpDef", "Cost", "LowerCtx", "opdef", "model_hash"]


def model_hash(g: ir.Graph) -> str:
    """sha256 (first 16 hex digits) of the lowered graph: per op its kind, its wiring (input and
    output tensor names) and the attributes its kind lists in `hash_fields` (arrays by dtype, shape
    and bytes; a None `hash_optional` attribute is left out), and the output tensor's shape, dtype
    and packing; with several outputs also the output tensors and names."""
    h = hashlib.sha256()
    for op in g.ops:
        h.update(type(op).__name__.encode())
        for k in sorted(set(opdef(op).hash_fields) | {"inputs", "output"}):
            v = getattr(op, k)
            if v is None and k in opdef(op).hash_optional:
                continue
            if isinstance(v, np.ndarray):
                h.update(k.encode() + str(v.dtype).encode() + str(v.shape).encode() + v.tobytes())
            elif isinstance(v, (ir.Threshold, ir.FloatThreshold)):
                h.update(k.encode() + v.tau.tobytes() + getattr(v, "mode", np.zeros(0)).tobytes())
            elif isinstance(v, ir.FoldedBatchNorm):
                h.update(k.encode() + v.mean.tobytes() + v.scale.tobytes() + v.offset.tobytes())
            else:
                h.update(f"{k}={v!r}".encode())
        t = g.tensors[op.output]
        h.update(f"{t.shape}{t.dtype}{t.packing}".encode())
    if len(g.outputs) > 1:           # which tensors leave, under which names (one output: the last op's)
        h.update(f"outputs={g.outputs!r}{g.output_names!r}".encode())
    return h.hexdigest()[:16]
