"""numpy oracle: executes an IR graph on a batch, op by op, on *logical* values.

BITS tensors are int8 arrays of ±1 with the tensor's logical shape (never packed words), so the
oracle is independent of the bit tricks it checks: binary convolutions are plain integer
convolutions of ±1 values with explicit padding (0 for pad_values=0.0, +1 for 1.0).
F32 tensors are float32 arrays. Every C kernel is tested against the function here; each op
kind's oracle is defined with the rest of its entry in larq2mcu/ops (re-exported below).
"""
from __future__ import annotations

import numpy as np

from . import ir
from .ops import opdef
from .ops.dot import (binary_conv_acc, binary_dense_acc, conv2d_f32, conv2d_w1_grouped,  # noqa: F401
                      float_threshold_bits)
from .ops.elementwise import activation  # noqa: F401
from .ops.pool import avgpool_f32, binary_avgpool, binary_maxpool, maxpool_f32  # noqa: F401


def run_op(op: ir.Op, args: list, out_t: ir.Tensor) -> np.ndarray:
    """Apply one op to batched logical inputs."""
    return opdef(op).reference(op, args, out_t)


def run(graph: ir.Graph, x: np.ndarray, keep_all: bool = False):
    """Run `graph` on batch `x` (N, *input shape). Returns the output array (a list of them, one
    per output in model order, for a graph with several outputs), or with `keep_all` a dict of
    every tensor's logical value."""
    vals = {graph.inputs[0]: np.asarray(x, np.float32)}
    for op in graph.ops:
        vals[op.output] = run_op(op, [vals[i] for i in op.inputs], graph.tensors[op.output])
    if keep_all:
        return vals
    outs = [np.asarray(vals[t], np.float32) for t in graph.outputs]
    return outs[0] if len(outs) == 1 else outs
