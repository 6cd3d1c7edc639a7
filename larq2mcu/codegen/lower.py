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
from ..errors import UnsupportedOutputError
from ..ops import LowerCtx, model_hash, opdef
from ..ops.records import Call, Int, Ptr, Step, Sym
from ..variants import Variant, get_variant


@dataclass(frozen=True)
class Output:
    """One model output as the C API names it: its index in model order, the Keras output name,
    `ident` (that name sanitized to an upper-case C identifier, unique among the model's outputs:
    the header's `<NAME>_OUTPUT_<ident>_*` macros), `param` (the `<name>_invoke` parameter), the
    tensor, its shape and float count, its offset in a buffer holding all outputs one after the
    other (`<NAME>_OUTPUT<i>_OFFSET`), and the call copying it from the arena into `param`."""
    index: int
    keras_name: str
    ident: str
    param: str
    tensor: str
    shape: tuple
    numel: int
    offset: int
    call: Call


@dataclass(frozen=True)
class Lowered:
    """The lowered model: graph after passes, its arena plan, the C name, the kernel variant, one
    `Step` per op (in op order) and one `Output` per model output (model order). One output keeps
    the single-output API (`<name>_invoke(input, output, arena)`); `output` is its copy call."""
    graph: ir.Graph
    plan: object
    name: str
    variant: Variant
    steps: tuple
    outputs: tuple          # Output per model output, model order

    @property
    def output(self) -> Call:
        """The first output's copy call (the only one of a single-output model)."""
        return self.outputs[0].call

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


def _output_call(ctx: LowerCtx, g: ir.Graph, i: int, dst: str) -> Call:
    tensor = g.outputs[i]
    out_t = g.tensors[tensor]
    src = ctx.ptr(out_t.name, True)
    if out_t.dtype == ir.BITS:
        groups, c = out_t.packing
        return Call("l2m_dequantize_b32_f32_ref", (Int(groups), Int(c), src, Sym(dst)))
    if out_t.dtype != ir.F32:
        raise UnsupportedOutputError(g.output_name(i), i, f"its tensor has dtype {out_t.dtype}; an output must be "
                                     "float32 or a sign (±1)")
    return Call("memcpy", (Sym(dst), src, Int(4 * out_t.numel, "u")))


def output_idents(names) -> list:
    """Keras output names → unique upper-case C identifiers: every character outside [A-Za-z0-9]
    becomes '_', a leading digit gets a '_' before it, and a name equal (after that) to an
    earlier one gets `_<index>` appended (so 'aux/head' → 'AUX_HEAD')."""
    out: list = []
    for i, n in enumerate(names):
        ident = re.sub(r"[^A-Za-z0-9]", "_", str(n)).upper() or f"OUT{i}"
        if ident[0].isdigit():
            ident = "_" + ident
        while ident in out:
            ident = f"{ident}_{i}"
        out.append(ident)
    # <NAME>_OUTPUT_<A>_LEN must not be another output's <NAME>_OUTPUT_<B> macro (names ending in _LEN …)
    macros = [f"{a}{s}" for a in out for s in ("", "_LEN", "_RANK", "_SHAPE", "_OFFSET")]
    for i, m in enumerate(macros):
        if m in macros[:i]:
            k = i // 5
            raise UnsupportedOutputError(str(names[k]), k, f"its C macro name OUTPUT_{m} clashes with another "
                                         f"output's (identifiers {', '.join(out)}); rename the output layers")
    return out


def _outputs(ctx: LowerCtx, g: ir.Graph) -> tuple:
    if len(g.outputs) == 1:          # the single-output API, unchanged: `output`
        t = g.tensors[g.outputs[0]]
        return (Output(0, g.output_name(0), "", "output", t.name, tuple(t.shape), t.numel, 0,
                       _output_call(ctx, g, 0, "output")),)
    res, offset = [], 0
    idents = output_idents([g.output_name(i) for i in range(len(g.outputs))])
    for i, (tname, ident) in enumerate(zip(g.outputs, idents)):
        t = g.tensors[tname]
        param = f"out_{ident.lower()}"
        res.append(Output(i, g.output_name(i), ident, param, tname, tuple(t.shape), t.numel, offset,
                          _output_call(ctx, g, i, param)))
        offset += t.numel
    return tuple(res)


def lower(g: ir.Graph, plan, name: str, variant="ref") -> Lowered:
    """Lower every op of `g` (a specialised `variant` selects the layer-specialised engines)."""
    ctx = LowerCtx(g, plan, name, get_variant(variant))
    steps = []
    for i, op in enumerate(g.ops):
        s = Step(i, op, f"{type(op).__name__} ({op.layer})")
        opdef(op).lower(ctx, op, s)
        steps.append(s)
    return Lowered(g, plan, name, ctx.variant, tuple(steps), _outputs(ctx, g))


def runtime_kernels() -> frozenset:
    """Every l2m_* function declared in the runtime headers (firmware/runtime/*.h)."""
    found = set()
    for h in paths.runtime_dir().glob("*.h"):
        found.update(re.findall(r"\b(l2m_[a-z0-9_]+)\s*\(", h.read_text()))
    return frozenset(found)


__all__ = ["Lowered", "lower", "runtime_kernels", "Ptr"]
