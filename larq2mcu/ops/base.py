"""The op table: one `OpDef` per IR op kind, holding everything the tool needs of that kind.

    reference(op, args, out_t) -> array     numpy oracle on logical values (BITS as int8 ±1)
    lower(ctx, op, step)                    which kernel / engine, which arguments and arrays
                                            (typed records of ops/records.py, no C text)
    cost(g, op) -> Cost                     binary and float multiply-accumulates
    bounds(op, args, out_shape) -> (v, e)   float64 value and float32 rounding-error bound
                                            (derivations in larq2mcu/rounding.py)
    hash_fields                             attributes that enter the model hash
    hash_optional                           of those, the ones that enter it only when not None
                                            (added later: older models keep their hash)
    in_place                                the kernel allows out == in (the planner may alias)

Adding an op kind = one ir.Op dataclass, one `register(OpDef(...))` in a module of this package,
its kernel in firmware/runtime, its tests; tests/test_ops.py fails if any kind lacks a part.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import ir
from ..variants import Variant
from .records import Array, Geom, Ptr, Ref, Step


@dataclass(frozen=True)
class Cost:
    """Multiply-accumulates of one op: binary (±1 × ±1, XOR/popcount) and float. A conv counts
    output elements × kh·kw·Cin, a dense kernel.size; ops without a dot product count 0."""
    binary_macs: int = 0
    float_macs: int = 0


@dataclass(frozen=True)
class OpDef:
    """The op-table entry of one IR op kind (the fields are described in the module docstring)."""
    kind: type
    reference: Callable
    lower: Callable
    cost: Callable
    bounds: Callable
    hash_fields: tuple
    in_place: bool = False
    hash_optional: tuple = ()


OPS: dict = {}


def register(d: OpDef) -> OpDef:
    """Add `d` to OPS and return it. ValueError if its kind is already registered or its
    hash_fields differ from the kind's attributes (all dataclass fields but name/inputs/output/layer)."""
    if d.kind in OPS:
        raise ValueError(f"op kind {d.kind.__name__} registered twice")
    fields = {f.name for f in dataclasses.fields(d.kind)} - {"name", "inputs", "output", "layer"}
    if set(d.hash_fields) != fields:
        raise ValueError(f"{d.kind.__name__}: hash_fields {sorted(d.hash_fields)} != attributes {sorted(fields)}")
    OPS[d.kind] = d
    return d


def opdef(op) -> OpDef:
    """The entry of op's exact kind (a subclass is a different kind)."""
    d = OPS.get(type(op) if not isinstance(op, type) else op)
    if d is None:
        name = (op if isinstance(op, type) else type(op)).__name__
        raise NotImplementedError(f"op kind {name} has no entry in the op table (larq2mcu/ops)")
    return d


def no_cost(g, op) -> Cost:
    """The `cost` of ops without multiply-accumulates: Cost(0, 0)."""
    return Cost()


class LowerCtx:
    """What an op's `lower` needs: the graph, the arena plan, the model name and the variant;
    helpers that turn tensors into buffer pointers and arrays into weight-struct members."""

    def __init__(self, g: ir.Graph, plan, name: str, variant: Variant):
        self.g, self.plan, self.name, self.variant = g, plan, name, variant

    def tensor(self, t: str) -> ir.Tensor:
        """The graph's tensor called `t`."""
        return self.g.tensors[t]

    def ptr(self, t: str, const: bool) -> Ptr:
        """Pointer argument for tensor `t`: its arena offset (None: the caller's input buffer),
        `float` for F32 or `uint32_t` for BITS."""
        tt = self.g.tensors[t]
        return Ptr(self.plan.offset(t), "float" if tt.dtype == ir.F32 else "uint32_t", const)

    def io(self, op) -> tuple:
        """(const pointer to op's first input, pointer to its output)."""
        return self.ptr(op.inputs[0], True), self.ptr(op.output, False)

    @staticmethod
    def array(step: Step, suffix: str, ctype: str, values) -> Ref:
        """Append constant array `op<index>_<suffix>` of C type `ctype` to `step` and return a Ref to it."""
        a = Array(f"op{step.index}_{suffix}", ctype, np.asarray(values))
        step.arrays.append(a)
        return Ref(a.name)

    def geom(self, step: Step, values: tuple) -> Geom:
        """Set step.geom to `values` (the 12 l2m_geom fields, as ints) and return the Geom of the
        static `<model>_g<index>`."""
        step.geom = tuple(int(v) for v in values)
        return Geom(f"{self.name}_g{step.index}")


def geom_values(in_shape, out_shape, k, strides, pads) -> tuple:
    """The 12 l2m_geom fields: in h, w, c; out h, w, c; k_h, k_w; strides; pad top, left."""
    h, w, c = in_shape
    oh, ow, oc = out_shape
    return tuple(int(v) for v in (h, w, c, oh, ow, oc, k[0], k[1], strides[0], strides[1], pads[0], pads[2]))
