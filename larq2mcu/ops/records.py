"""Typed records of generated code: what an op's lowering decides (which kernel, which
arguments, which constant arrays), with no C text — templates/model.c.j2 spells them out.

Arguments of a call (`kind` tells the template how to render each):
  Ptr   a tensor's buffer: (const) float* / uint32_t* at an arena offset, or the caller's input
  Ref   a constant array of the weights struct (W->name)
  Int   an integer constant;  Flt  a float constant (exact C99 hex literal)
  Sym   an identifier: NULL, L2M_ACT_RELU, L2M_MODE_HS, or a parameter name in a specialised function
  Geom  the address of a geometry: a file-scope static (name) or, in a specialised function, its local `g`
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class Ptr:
    """A tensor buffer argument: `(const) ctype *` at arena byte `offset`, or the caller's input."""
    kind: ClassVar[str] = "ptr"
    offset: int | None        # None: the caller's input buffer
    ctype: str                # float | uint32_t
    const: bool


@dataclass(frozen=True)
class Ref:
    """A constant array argument: the member W->name of the weights struct."""
    kind: ClassVar[str] = "ref"
    name: str


@dataclass(frozen=True)
class Int:
    """An integer literal argument, with an optional C suffix ("u" for a size_t argument)."""
    kind: ClassVar[str] = "int"
    value: int
    suffix: str = ""          # "u": an unsigned literal (a size_t argument)


@dataclass(frozen=True)
class Flt:
    """A float literal argument, rendered as an exact C99 hex literal."""
    kind: ClassVar[str] = "flt"
    value: float


@dataclass(frozen=True)
class Sym:
    """An identifier argument rendered verbatim (NULL, an L2M_* constant, a parameter name)."""
    kind: ClassVar[str] = "sym"
    name: str


NULL = Sym("NULL")


@dataclass(frozen=True)
class Geom:
    """The address of an l2m_geom: `&name` of a file-scope static, or the local `g` of a specialised function."""
    kind: ClassVar[str] = "geom"
    name: str                 # "g" inside a specialised function


@dataclass(frozen=True)
class Call:
    """`fn(args...);` as a statement, or `fn(args...)` as an argument (the engines' output
    descriptors, e.g. l2m_out_bits(out, thr) of firmware/runtime/l2m_types.h)."""
    kind: ClassVar[str] = "call"
    fn: str
    args: tuple


@dataclass(frozen=True)
class Param:
    """A pointer parameter of a specialised function: `const <ctype> *<name>`."""
    ctype: str
    name: str
    const: bool = True


@dataclass(frozen=True)
class SpecFn:
    """A layer-specialised function `static L2M_NOINLINE void <name>(<params>)` whose body
    defines `const l2m_geom g = {geom}` (convs) and calls `engine(args)`; the step calls it with
    `call_args` (the same pointers, in the order of `params`). `assume`: (param, is NULL) for
    optional pointers, stated in the body (L2M_ASSUME) so the engine's NULL tests fold."""
    name: str
    params: tuple
    geom: tuple | None
    engine: str
    args: tuple
    assume: tuple = ()


@dataclass
class Array:
    """One constant array of <name>_weights.c (a member of <name>_weights_t)."""
    name: str
    ctype: str                # uint32_t | int32_t | int8_t | float
    values: np.ndarray

    @property
    def length(self) -> int:
        """Number of elements (values.size)."""
        return int(np.asarray(self.values).size)

    @property
    def nbytes(self) -> int:
        """Bytes of storage: 1 per int8_t element, 4 per element of the other ctypes."""
        return (1 if self.ctype == "int8_t" else 4) * self.length


@dataclass
class Step:
    """What one IR op becomes: calls in <name>_invoke_partial, constant arrays, a static geometry
    (`geom`: the 12 l2m_geom fields), an optional specialised function, a note (views)."""
    index: int
    op: object
    comment: str
    calls: list = field(default_factory=list)
    arrays: list = field(default_factory=list)
    geom: tuple | None = None
    spec: SpecFn | None = None
    note: str | None = None

    @property
    def weight_bytes(self) -> int:
        """Bytes of this step's constant arrays (Σ Array.nbytes)."""
        return sum(a.nbytes for a in self.arrays)
