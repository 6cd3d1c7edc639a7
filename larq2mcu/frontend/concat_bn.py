"""Per-input thresholds of a BatchNormalization that follows a float Concatenate.

BN is per channel, so on y = Concat(x₀, x₁, …) it is the concatenation of BN slices, one per
input: BN(y)[..., c₀+j] = BNᵢ(xᵢ)[..., j]. When input i is a binary dot's output (through max
pools) its channels' BN outputs are probed exactly as `layers._probe` does for a direct BN —
this very Keras layer evaluated on every feasible accumulator, the other channels held at 0 (they
do not influence the slice: the layer is per channel) — and for a float conv/dense input the exact
float thresholds are found by bisection on the same layer (float_threshold.py), sliced. The result
is `ir.BatchNorm.parts` (one `ir.BnPart` or None per Concat input); passes/split_concat_bn.py uses
it to move BN + sign in front of the Concat, so the concatenation is of bit maps.
"""
from __future__ import annotations

import numpy as np

from .. import ir
from .float_threshold import float_thresholds
from .registry import Builder


def _dot_through_pools(b: Builder, t: str):
    op = b.producer(t)
    while isinstance(op, ir.MaxPool2D):
        op = b.producer(op.inputs[0])
    return op


def members(b: Builder, x: str) -> list:
    """The tensors a float Concat output `x` joins, nested float Concats expanded (DenseNet's
    Concat(Concat(…), y)): the inputs passes/flatten_concat.py gives the Concat."""
    op = b.producer(x)
    if not isinstance(op, ir.Concat) or b.dtype(x) != ir.F32:
        return [x]
    return [m for t in op.inputs for m in members(b, t)]


def part_probes(b: Builder, layer, x: str, rank: int):
    """Tuple of ir.BnPart | None per member of the Concat producing `x` (its inputs, nested float
    Concats expanded: `members`), or None when `x` is not a float Concat's output or no member
    has a binary/float dot producer."""
    cat = b.producer(x)
    if not isinstance(cat, ir.Concat) or b.dtype(x) != ir.F32:
        return None
    c_all = b.shape(x)[-1]
    parts, start, fthr = [], 0, None
    for t in members(b, x):
        c = b.shape(t)[-1]
        op = _dot_through_pools(b, t)
        part = None
        if isinstance(op, (ir.BinaryConv2D, ir.BinaryDense)) and op.weights.shape[-1] == c:
            k = int(np.prod(op.weights.shape[:-1]))
            acc = np.arange(-k, k + 1, dtype=np.float32)[:, None] * np.ones((1, c), np.float32)
            if op.bias is not None:
                acc = (acc + op.bias.astype(np.float32)).astype(np.float32)
            full = np.zeros((2 * k + 1, c_all), np.float32)
            full[:, start:start + c] = acc
            y = np.asarray(layer(full.reshape((2 * k + 1,) + (1,) * (rank - 1) + (c_all,)), training=False))
            part = ir.BnPart(probe=y.reshape(2 * k + 1, c_all)[:, start:start + c].astype(np.float32), probe_lo=-k)
        elif isinstance(op, (ir.Conv2D, ir.Dense)):
            if fthr is None:
                fthr = float_thresholds(layer, c_all, rank) or False
            if fthr:
                tau, mode = fthr
                part = ir.BnPart(float_threshold=ir.FloatThreshold(tau[start:start + c].copy(),
                                                                   mode[start:start + c].copy()))
        parts.append(part)
        start += c
    return tuple(parts) if any(p is not None for p in parts) else None
