"""The kernel variants, listed once: the CLI choices, boards.yaml validation and the lowering read
this table; an unknown name is an error listing the valid ones.

A variant selects how binary conv/dense layers are computed (every variant is bit-identical to
`ref`, tested in tests/test_kernel_variants.py and tests/test_spec_kernels.py):
  * `ref` — the plain-C reference kernels (l2m_*_ref), one call per op;
  * any other — layer-specialised functions in the generated code that run the always-inline
    engines of firmware/runtime/l2m_*_impl.h with the layer's sizes as constants, the popcount
    flavour given by `mode` (the L2M_MODE_* constant of l2m_popcount_impl.h); `sliced` variants
    also run thresholded / float-output binary layers on the bit-sliced engine where it applies
    (it needs a count-leading-zeros instruction).
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidVariantError


@dataclass(frozen=True)
class Variant:
    """One kernel variant: its name, the popcount mode of the specialised engines (None: `_ref`
    calls), whether it uses the bit-sliced engine, and a one-line description."""
    name: str
    mode: str | None        # L2M_MODE_* of the specialised engines; None: plain _ref calls
    sliced: bool            # bit-sliced engine for the layers it fits
    summary: str

    @property
    def specialised(self) -> bool:
        """True when binary layers get layer-specialised functions (mode is not None)."""
        return self.mode is not None


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("ref", None, False, "plain-C reference kernels, one call per op (slowest; any C99 target)"),
    Variant("hs", "L2M_MODE_HS", False, "carry-save (Harley-Seal) popcount, portable; cores without clz (M0, rv32imc)"),
    Variant("clz", "L2M_MODE_HS", True, "hs + the bit-sliced engine (needs clz: Cortex-M3 and up, Xtensa)"),
    Variant("usad8", "L2M_MODE_USAD8", True, "USADA8 byte sums + bit-sliced engine (Cortex-M4/M7/M33/M55 with DSP)"),
    Variant("zbb", "L2M_MODE_ZBB", True, "RISC-V Zbb cpop + bit-sliced engine"),
    Variant("hw", "L2M_MODE_HW", False, "__builtin_popcount where the target has a popcount instruction"),
    Variant("builtin", "L2M_MODE_BUILTIN", False, "__builtin_popcount everywhere (baseline for benchmarks)"),
)}


def get_variant(name: str, where: str = "kernel variant") -> Variant:
    """The variant called `name`; InvalidVariantError listing the valid names otherwise."""
    if isinstance(name, Variant):
        return name
    v = VARIANTS.get(name)
    if v is None:
        raise InvalidVariantError(f"unknown {where} {name!r}; valid: {', '.join(VARIANTS)}")
    return v
