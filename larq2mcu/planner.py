"""Static arena plan: every intermediate tensor gets a byte offset in one arena.

Lifetimes: a tensor is live from the op that produces it to the last op that reads it (graph
outputs until the end). Views — reshapes that keep the data layout (F32, or BITS with unchanged
packing) — share their source's buffer, so the source's lifetime is extended over the view's.
The model input is read in place from the caller's buffer and takes no arena space.
Element-wise ops whose kernels allow `out == in` (op table entries with `in_place`:
BatchNorm, Activation, Add — see l2m_kernels.h) write over their input when that input is read by nothing later.

Placement is greedy by size (largest first, as TFLM's GreedyMemoryPlanner): each buffer goes at
the lowest 8-byte-aligned offset that does not overlap any already placed buffer whose lifetime
intersects its own. `lower_bound` = max over op steps of the bytes live at that step: no plan
for this op order can be smaller.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import ir
from .ops import opdef

ALIGN = 8


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _alias_in_place(g: ir.Graph, alias: dict, external: set) -> None:
    """Let in-place-capable ops reuse the buffer of an input that dies at them."""
    last_read: dict = {}
    for step, op in enumerate(g.ops):
        for t in op.inputs:
            last_read[alias[t]] = step
    for t in g.outputs:
        last_read[alias[t]] = len(g.ops)
    for step, op in enumerate(g.ops):
        if not opdef(op).in_place or g.tensors[op.output].dtype != ir.F32:
            continue
        for t in op.inputs[:1] if not isinstance(op, ir.Add) else op.inputs:
            owner = alias[t]
            same_size = g.tensors[owner].nbytes == g.tensors[op.output].nbytes
            if owner not in external and same_size and last_read.get(owner) == step:
                alias_out = alias[op.output]
                for k, v in alias.items():          # the output and its views move over
                    if v == alias_out:
                        alias[k] = owner
                last_read[owner] = max(step, last_read.get(alias_out, step))
                break


@dataclass(frozen=True)
class Plan:
    """The arena plan of a graph: byte offsets of buffer owners, the alias map (views and
    in-place outputs → owner), owner lifetimes in op steps (graph outputs: last = len(ops)),
    `arena_size` (bytes) and `lower_bound` (max bytes live at one step; arena_size ≥ lower_bound)."""
    offsets: dict = field(default_factory=dict)    # buffer-owning tensor → offset
    alias: dict = field(default_factory=dict)      # every tensor → tensor owning its buffer
    lifetimes: dict = field(default_factory=dict)  # owner → (first step, last step)
    arena_size: int = 0
    lower_bound: int = 0

    def offset(self, tensor: str):
        """Byte offset of `tensor` in the arena, or None when it lives in the input buffer."""
        return self.offsets.get(self.alias.get(tensor, tensor))


def plan(g: ir.Graph) -> Plan:
    """Plan `g`'s arena as the module docstring describes: alias views and in-place outputs, take
    lifetimes, place each owner greedily (largest first) at the lowest free 8-byte-aligned offset."""
    alias = {t: t for t in g.tensors}
    for op in g.ops:
        if ir.is_view(g, op):
            alias[op.output] = alias[op.inputs[0]]
    external = {alias[t] for t in g.inputs}
    _alias_in_place(g, alias, external)
    end = len(g.ops)
    life: dict = {}
    for step, op in enumerate(g.ops):
        owner = alias[op.output]
        if owner not in external:
            first, last = life.get(owner, (step, step))
            life[owner] = (min(first, step), max(last, step))
        for t in op.inputs:
            o = alias[t]
            if o in life:
                life[o] = (life[o][0], max(life[o][1], step))
    for t in g.outputs:
        o = alias[t]
        if o in life:
            life[o] = (life[o][0], end)
    sizes = {t: _align(g.tensors[t].nbytes) for t in life}
    placed: list = []     # (offset, size, first, last)
    offsets = {}
    for t in sorted(life, key=lambda t: (-sizes[t], life[t][0], t)):
        first, last = life[t]
        conflicts = sorted((o, s) for o, s, f, l in placed if not (l < first or last < f))
        off = 0
        for o, s in conflicts:
            if off + sizes[t] <= o:
                break
            off = max(off, o + s)
        offsets[t] = off
        placed.append((off, sizes[t], first, last))
    arena = max((offsets[t] + sizes[t] for t in offsets), default=0)
    bound = max((sum(sizes[t] for t, (f, l) in life.items() if f <= s <= l) for s in range(end + 1)), default=0)
    return Plan(offsets=offsets, alias=alias, lifetimes=life, arena_size=arena, lower_bound=bound)
