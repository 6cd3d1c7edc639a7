"""The kernel variants, listed once: the CLI choices, boards.yaml validation and the lowering read
this table; an unknown name is an error listing the valid ones. `CPU_VARIANTS` names the variant
for each core.

A variant selects how binary conv/dense layers are computed (every variant is bit-identical to
`ref`, tested in tests/test_kernel_variants.py and tests/test_spec_kernels.py):
  * `ref` — the plain-C reference kernels (l2m_*_ref), one call per op;
  * any other — layer-specialised functions in the generated code that run the always-inline
    engines of firmware/runtime/l2m_*_impl.h with the layer's sizes as constants, the popcount
    flavour given by `mode` (the L2M_MODE_* constant of l2m_popcount_impl.h); `sliced` variants
    also run thresholded / float-output binary layers on the bit-sliced engine where it applies
    (with a count-leading-zeros instruction where the core has one, a de Bruijn multiply where it
    has not: L2M_HW_CLZ, firmware/runtime/l2m_types.h); all but `builtin` run binary convs of at most 9
    window bits (a one-channel 3×3 conv) on the small-window table engine.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import BoardError, InvalidVariantError


@dataclass(frozen=True)
class Variant:
    """One kernel variant: its name, the popcount mode of the specialised engines (None: `_ref`
    calls), whether it uses the bit-sliced engine, and a one-line description."""
    name: str
    mode: str | None        # L2M_MODE_* of the specialised engines; None: plain _ref calls
    sliced: bool            # bit-sliced engine for the layers it fits
    summary: str
    # which engine a sliced variant runs a binary layer on: "auto" (the faster one by the cost
    # model of ops/engine_choice.py; the small-window engine first for float outputs), "sliced",
    # "plain" or "small" wherever it applies (bench/layerchoice.py measures each:
    # dataclasses.replace(get_variant(name), engines=...))
    engines: str = "auto"
    # whether binary convs of at most 9 window bits run the small-window table engine
    # (firmware/runtime/l2m_small_impl.h); off only for `builtin`, the plain-XOR/popcount baseline
    small: bool = True

    @property
    def specialised(self) -> bool:
        """True when binary layers get layer-specialised functions (mode is not None)."""
        return self.mode is not None


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("ref", None, False, "plain-C reference kernels, one call per op (slowest; any C99 target)"),
    Variant("hs", "L2M_MODE_HS", True, "carry-save (Harley-Seal) popcount + the bit-sliced engine (de Bruijn "
            "row selection); cores without clz (M0, rv32imc)"),
    Variant("clz", "L2M_MODE_HS", True, "hs + the bit-sliced engine (needs clz: Cortex-M3 and up, Xtensa)"),
    Variant("usad8", "L2M_MODE_USAD8", True, "USADA8 byte sums + bit-sliced engine (Cortex-M4/M7/M33/M55 with DSP)"),
    Variant("zbb", "L2M_MODE_ZBB", True, "RISC-V Zbb cpop + bit-sliced engine"),
    Variant("hw", "L2M_MODE_HW", False, "__builtin_popcount where the target has a popcount instruction"),
    Variant("builtin", "L2M_MODE_BUILTIN", False, "__builtin_popcount everywhere (baseline for benchmarks)",
            small=False),
)}


def get_variant(name: str, where: str = "kernel variant") -> Variant:
    """The variant called `name`; InvalidVariantError listing the valid names otherwise."""
    if isinstance(name, Variant):
        return name
    v = VARIANTS.get(name)
    if v is None:
        raise InvalidVariantError(f"unknown {where} {name!r}; valid: {', '.join(VARIANTS)}")
    return v


# The variant for each core, as boards.yaml spells the cpu: the variant depends on the instruction
# set, not on the board, so it is stated here once; boards.yaml validation (board/profiles.py)
# refuses a board whose kernel_variant disagrees with its cpu's entry, and `export(cpu=)` /
# `--cpu` read it. A core without an entry can still be a board (its kernel_variant is used).
CPU_VARIANTS: dict[str, str] = {
    "cortex-m0": "hs", "cortex-m0plus": "hs",            # no clz: carry-save popcount
    "cortex-m3": "clz",                                  # clz, no DSP
    "cortex-m4": "usad8", "cortex-m7": "usad8", "cortex-m33": "usad8", "cortex-m55": "usad8",
    "esp32": "clz", "esp32s3": "clz", "lx106": "clz",    # Xtensa NSAU
    "rv32imc": "hs", "rv32imc_zbb": "zbb",
}


def variant_for_cpu(cpu: str) -> str:
    """The kernel variant for `cpu` (cortex-m4, esp32, rv32imc, …; case-insensitive); BoardError
    naming close matches and the known cores otherwise."""
    key = cpu.lower()
    if key in CPU_VARIANTS:
        return CPU_VARIANTS[key]
    import difflib
    close = difflib.get_close_matches(key, list(CPU_VARIANTS), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise BoardError(f"unknown cpu '{cpu}'; {hint}known: {', '.join(CPU_VARIANTS)} (or pass --kernels)")
