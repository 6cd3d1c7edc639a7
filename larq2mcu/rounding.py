"""Float64 values and float32 rounding-error bounds for every tensor of an IR graph.

`propagate(graph, x)` runs the (frontend, un-optimised) graph on batch `x` in float64 and returns
{tensor: (v, e)}: v ≈ the exact real-arithmetic value of each element (float64, relative error
~1e-16) and e ≥ 0 a bound on |computed − exact| that holds for ANY float32 implementation that
evaluates the same formula with round-to-nearest operations in any summation order (Keras/TF and
the exported C are two such). The bounds (u = 2⁻²⁴, γₙ = n·u/(1 − n·u), Higham ch. 3):

  * dot product y = Σᵢ xᵢwᵢ + b over n terms, inputs carrying errors eₓ:
        e_y = Σ|wᵢ|eₓᵢ + γₙ₊₁·(Σ|xᵢ||wᵢ| + Σ|wᵢ|eₓᵢ + |b|)
    and e_y = 0 when every xᵢ, wᵢ, b is an integer, eₓ = 0 and Σ|xᵢwᵢ| + |b| < 2²⁴ (all partial
    sums are then exact in float32, in any order);
  * batch norm y = γ(x − μ)/√(σ²+ε) + β, computed by Keras as x·s + (β − μ·s) with s from rsqrt
    and by the C as (x − μ)·s + β: both stay within
        e_y = |s|·eₓ + 12u·(|s|(|x| + |μ|) + |β| + |y|)
    (≤ 4 roundings each, plus ≤ 8u relative error of s from a fast rsqrt + Newton step);
  * binary dot + bias: exact integer, one float32 rounding of the bias add;
  * max/avg pooling, global average: max of errors / mean of errors + γₙ·mean|x|;
  * activations: relu 1-Lipschitz; tanh, sigmoid, softmax (libm / expf implementations differ):
    Lipschitz factor plus 32u relative;
  * Add: Σ errors + (k − 1)·u·Σ|xᵢ|.

A sign of an element can legitimately differ between two such implementations only when
|v| ≤ e (both lie within e of the exact value v). Callers use that as the "rounding flip" test.
Bits tensors carry e = 0. Their value is the float64 sign of v unless the caller passes the bits
both sides actually computed (`fixed`): C and Keras can agree on a sign that the float64 value
puts on the other side (an exactly-zero dot that both round to the same ±ε), and every later
value must then follow what they computed, not the float64 sign (fuzz seed 2041006592).
"""
from __future__ import annotations

import numpy as np

from . import ir
from .ops import opdef
from .ops._bounds import U  # noqa: F401  (the unit roundoff, for callers)


def propagate(graph: ir.Graph, x: np.ndarray, fixed: dict | None = None) -> dict:
    """{tensor: (v float64, e float64)} for every tensor of `graph` on batch x (see module doc);
    each op kind's bound is its op-table entry's `bounds`. `fixed` {tensor: values of shape
    (batch, *shape)} replaces the computed values of those tensors (with e = 0)."""
    fixed = fixed or {}
    x = np.asarray(x, np.float32).astype(np.float64)
    vals = {graph.inputs[0]: (x, np.zeros_like(x))}
    for op in graph.ops:
        args = [vals[i] for i in op.inputs]
        out_shape = (args[0][0].shape[0],) + tuple(graph.tensors[op.output].shape)
        vals[op.output] = opdef(op).bounds(op, args, out_shape)
        if op.output in fixed:
            v = np.asarray(fixed[op.output], np.float64).reshape(out_shape)
            vals[op.output] = (v, np.zeros_like(v))
    return vals
