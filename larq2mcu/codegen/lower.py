"""Lower once: IR + arena plan + variant → the `Lowered` record that everything downstream reads.

Each op is lowered by its op-table entry (larq2mcu/ops) into a `Step`: kernel calls, constant
arrays, geometry and a layer-specialised function, as typed records. The record is the single
source of truth for the generated files (templates), the header's size macros, the text and HTML
reports, the manifest and the board-fit check — so they cannot disagree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .. import ir, paths
from ..ops import LowerCtx, model_hash, opdef
from ..ops.records import Call, Int, Ptr, Step, Sym
from ..variants import Variant, get_variant


@dataclass(frozen=True)
class Lowered:
    """The lowered model: graph after passes, its arena plan, the C name, the kernel variant, one
    `Step` per op (in op order) and the call that copies the output tensor to the caller's buffer."""
    graph: ir.Graph
    plan: object
    name: str
    variant: Variant
    steps: tuple
    output: Call            # copies the output tensor into the caller's `output` buffer

    @property
    def arrays(self) -> list:
        """All constant arrays of <name>_weights.c, in step order."""
        return [a for s in self.steps for a in s.arrays]

    @property
    def weight_bytes(self) -> int:
        """Bytes of constant data (flash) as written to <name>_weights.c."""
        return sum(s.weight_bytes for s in self.steps)

    @property
    def model_hash(self) -> str:
        """`ops.model_hash` of the lowered graph (16 hex digits)."""
        return model_hash(self.graph)


def _output_call(ctx: LowerCtx, g: ir.Graph) -> Call:
    out_t = g.tensors[g.outputs[0]]
    src = ctx.ptr(out_t.name, True)
    if out_t.dtype == ir.BITS:
        groups, c = out_t.packing
        return Call("l2m_dequantize_b32_f32_ref", (Int(groups), Int(c), src, Sym("output")))
    return Call("memcpy", (Sym("output"), src, Int(4 * out_t.numel, "u")))


def lower(g: ir.Graph, plan, name: str, variant="ref") -> Lowered:
    """Lower every op of `g` (a specialised `variant` selects the layer-specialised engines)."""
    ctx = LowerCtx(g, plan, name, get_variant(variant))
    steps = []
    for i, op in enumerate(g.ops):
        s = Step(i, op, f"{type(op).__name__} ({op.layer})")
        opdef(op).lower(ctx, op, s)
        steps.append(s)
    return Lowered(g, plan, name, ctx.variant, tuple(steps), _output_call(ctx, g))


def runtime_kernels() -> frozenset:
    """Every l2m_* function declared in the runtime headers (firmware/runtime/*.h)."""
    found = set()
    for h in paths.runtime_dir().glob("*.h"):
        found.update(re.findall(r"\b(l2m_[a-z0-9_]+)\s*\(", h.read_text()))
    return frozenset(found)


__all__ = ["Lowered", "lower", "runtime_kernels", "Ptr"]
