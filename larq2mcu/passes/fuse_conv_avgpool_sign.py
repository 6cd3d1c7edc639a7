"""Binary conv (float output, bias) → AvgPool2D → sign, computed in integers (docs/MATH.md §12).

The conv's outputs are acc_i + b with acc_i exact integers; the pool averages the n taps inside
the image, and sign(mean) (0 → +1) is −1 exactly when S + n·b < 0, S = Σ acc_i, i.e. when
S < ⌈−n·b⌉ (S an integer). So the conv writes its accumulators without the bias (exact integers
in float32: |acc| ≤ window bits < 2²⁴) and ir.SumPoolSign sums them in integers against
tau[n − 1, c] = ⌈−n·b_c⌉ — no float add anywhere, which cores without an FPU pay a library call
for. The result is the sign of the exact value; Keras rounds acc_i + b and the sum in float32, so
the two can differ only where the exact value is within that rounding of 0 (a rounding flip,
rounding.py), as any float order can.

Applies to a BinaryConv2D without threshold, BatchNorm or output scale whose output is read only
by an AvgPool2D read only by a Quantize, with finite biases that are 0 or of magnitude ≥ 2⁻⁶⁰ (no
sum of them comes near the subnormals TF flushes to 0) and pool taps × window bits < 2²⁴ (the
kernel's float sums stay exact). The conv output becomes a fresh tensor
with no Keras origin (its values are no longer the layer's).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import ir
from ._util import fresh_name, single_consumer

_TINY = 2.0 ** -60


def _tau(bias, taps: int, k: int) -> np.ndarray | None:
    """int32 [taps, C]: ⌈−n·b_c⌉ for n = 1..taps, clamped to [−n·k − 1, n·k + 1] (|S| ≤ n·k, so the
    clamp decides the same); None where a bias is not finite or is a nonzero below _TINY."""
    b = np.asarray(bias, np.float32).astype(np.float64)
    if not np.all(np.isfinite(b)) or np.any((b != 0) & (np.abs(b) < _TINY)):
        return None
    n = np.arange(1, taps + 1, dtype=np.float64)[:, None]
    lim = n * k + 1
    # −n·b is exact in float64 (n·b needs at most 24 + 10 bits), so is its ceiling
    return np.clip(np.ceil(-n * b[None, :]), -lim, lim).astype(np.int32)


def _match(g: ir.Graph, conv):
    """(pool, quantize, tau) when conv heads the pattern (module docstring), else None."""
    if not (isinstance(conv, ir.BinaryConv2D) and conv.threshold is None and conv.bn is None
            and conv.scale is None and g.tensors[conv.output].dtype == ir.F32):
        return None
    pool = single_consumer(g, conv.output)
    if not isinstance(pool, ir.AvgPool2D):
        return None
    q = single_consumer(g, pool.output)
    if not isinstance(q, ir.Quantize):
        return None
    k = int(np.prod(conv.weights.shape[:3]))
    taps = pool.pool[0] * pool.pool[1]
    if taps * k >= 2 ** 24:        # the kernel's contract: window sums of |acc| below 2^24
        return None
    c = conv.weights.shape[-1]
    bias = conv.bias if conv.bias is not None else np.zeros(c, np.float32)
    tau = _tau(bias, taps, k)
    return None if tau is None else (pool, q, tau)


def fuse_conv_avgpool_sign(g: ir.Graph) -> ir.Graph:
    """Rewrite every conv → avgpool → sign chain of the module docstring into the conv without
    its bias (into a fresh tensor) and one SumPoolSign writing the sign's bits."""
    for conv in g.ops:
        m = _match(g, conv)
        if m is None:
            continue
        pool, q, tau = m
        acc = fresh_name(g, "acc")
        tensors = dict(g.tensors)
        tensors[acc] = ir.Tensor(acc, g.tensors[conv.output].shape, ir.F32)
        new_conv = dataclasses.replace(conv, bias=None, output=acc)
        new_pool = ir.SumPoolSign(name=f"{pool.name}_s", inputs=(acc,), output=q.output, layer=pool.layer,
                                  pool=pool.pool, strides=pool.strides, pads=pool.pads, tau=tau)
        ops = []
        for op in g.ops:
            if op is conv:
                ops += [new_conv, new_pool]
            elif op not in (pool, q):
                ops.append(op)
        return fuse_conv_avgpool_sign(g.replace(ops=tuple(ops), tensors=tensors).prune())
    return g
