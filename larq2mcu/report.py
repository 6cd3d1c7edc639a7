"""Per-layer table of an export: op, output shape, bit width, weight bytes, arena bytes, MACs,
and the totals against their bounds (packed weights vs ⌈bits/8⌉, arena vs the planner's bound)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ir
from .codegen.lower import Lowering
from .planner import is_view


@dataclass(frozen=True)
class Row:
    index: int
    op: str
    layer: str
    shape: tuple
    bits: int
    weight_bytes: int
    arena_bytes: int
    binary_macs: int
    float_macs: int
    weight_bits: int = 0       # bits per stored weight: 1 (packed), 32 (float), 0 (no weights)


def macs(g: ir.Graph, op: ir.Op) -> tuple:
    """(binary MACs, float MACs) of one op."""
    out = g.tensors[op.output]
    if isinstance(op, ir.BinaryConv2D):
        return out.numel * int(np.prod(op.weights.shape[:3])), 0
    if isinstance(op, ir.BinaryDense):
        return int(op.weights.size), 0
    if isinstance(op, ir.Conv2D):
        return 0, out.numel * int(np.prod(op.kernel.shape[:3]))
    if isinstance(op, ir.Dense):
        return 0, int(op.kernel.size)
    return 0, 0


def rows(g: ir.Graph, plan, name: str) -> list:
    steps = Lowering(g, plan, name).lower()
    res = []
    for s in steps:
        op = s.op
        t = g.tensors[op.output]
        b, f = macs(g, op)
        packed = isinstance(op, (ir.BinaryConv2D, ir.BinaryDense)) or (
            isinstance(op, (ir.Conv2D, ir.Dense)) and bool(np.all(np.abs(op.kernel) == 1.0)))
        wbytes = sum(a.nbytes for a in s.arrays)
        res.append(Row(s.index, type(op).__name__, op.layer, t.shape, 1 if t.dtype == ir.BITS else 32,
                       wbytes, 0 if is_view(g, op) else t.nbytes, b, f,
                       1 if packed else (32 if wbytes else 0)))
    return res


def binary_weight_bits(g: ir.Graph) -> int:
    """1-bit weights: binary layers, and ±1 kernels of float-input layers (stored as bits too)."""
    n = sum(int(op.weights.size) for op in g.ops if isinstance(op, (ir.BinaryConv2D, ir.BinaryDense)))
    return n + sum(int(op.kernel.size) for op in g.ops
                   if isinstance(op, (ir.Conv2D, ir.Dense)) and np.all(np.abs(op.kernel) == 1.0))


def format_table(g: ir.Graph, plan, name: str, extra: dict | None = None) -> str:
    rs = rows(g, plan, name)
    head = ("#", "op", "layer", "output", "bits", "weight B", "arena B", "binary MACs", "float MACs")
    body = [(str(r.index), r.op, r.layer, "x".join(map(str, r.shape)) or "scalar", str(r.bits),
             f"{r.weight_bytes:,}", f"{r.arena_bytes:,}", f"{r.binary_macs:,}", f"{r.float_macs:,}") for r in rs]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    right = {0, 4, 5, 6, 7, 8}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [f"larq2mcu export '{name}'", line(head), line(["-" * w for w in widths])]
    out += [line(b) for b in body]
    wb = sum(r.weight_bytes for r in rs)
    bits_bound = (binary_weight_bits(g) + 7) // 8
    packed = sum(r.weight_bytes for r in rs if r.op in ("BinaryConv2D", "BinaryDense"))
    thr = sum(4 * int(op.threshold.tau.size) for op in g.ops
              if isinstance(op, (ir.BinaryConv2D, ir.BinaryDense)) and op.threshold is not None)
    out.append("")
    out.append(f"weights (flash): {wb:,} B total; binary layers {packed:,} B incl. {thr:,} B thresholds "
               f"(binary weight bound ceil(bits/8) = {bits_bound:,} B)")
    out.append(f"arena (RAM): {plan.arena_size:,} B (planner lower bound {plan.lower_bound:,} B)")
    out.append(f"binary MACs: {sum(r.binary_macs for r in rs):,}   float MACs: {sum(r.float_macs for r in rs):,}")
    for k, v in (extra or {}).items():
        out.append(f"{k}: {v}")
    return "\n".join(out)
