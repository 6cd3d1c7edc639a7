"""Per-variant instructions per 32-bit word of the binary inner loop, on each emulated board.

Contract: `per_word(board, workdir)` builds a tiny program whose `net_invoke` calls the runtime's
micro-benchmark hook `l2m_opt_xor_popcount(mode, a, w, n)` (firmware/runtime/l2m_bench_hooks.c:
popcount(a ^ w) over n contiguous words with a variant's inner loop; mode 0 hs, 1 usad8, 2 zbb,
3 hw, 4 builtin) for n = 64 and n = 256, counts each call exactly (trace.count) and returns
{variant: (count(256) − count(64)) / 192}: call and loop-setup overhead cancels, callees such as
libgcc's __popcountsi2 are included — the same definition as shared/notes §4's table.
"sliced": the bit-sliced engine (l2m_opt_sliced_dense: a dense layer of n words and 32 filters,
input density 1/2, n = 32 and 128 — its stack copy holds 128 words) per 32 binary MACs — the
work one word of one filter stands for in the other columns: (count(128) − count(32)) / (96 · 32).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from larq2mcu.layout.sliced import planes_count
from larq2mcu.paths import runtime_dir

MODES = ("hs", "usad8", "zbb", "hw", "builtin")
SIZES = (64, 256)
SLICED_SIZES = (32, 128)      # the dense input's stack copy holds at most 128 words
# shared/notes/embedded-toolchains.md §4 (-O2, plugin mark mode), for comparison in RESULTS.md.
NOTES = {"qemu_m0": {"builtin": 29, "SWAR": 26, "LUT8": 24, "Harley–Seal": 14},
         "qemu_m4": {"builtin": 20, "SWAR": 17, "LUT8": 17, "Harley–Seal": 9.5},
         "qemu_m7": {"builtin": 20, "SWAR": 17, "LUT8": 17, "Harley–Seal": 9.6},
         "qemu_m33": {"builtin": 20, "SWAR": 17, "LUT8": 17, "Harley–Seal": 9.5},
         "qemu_m55": {"builtin": 20, "SWAR": 16, "LUT8": 16, "Harley–Seal": 9.5},
         "qemu_rv32": {"builtin": 29, "SWAR": 22, "LUT8": 24, "Harley–Seal": 9.75},
         "qemu_rv32_zbb": {"builtin": 8, "SWAR": 8, "LUT8": 24, "Harley–Seal": 8},
         "qemu_lx106": {"builtin": 27, "SWAR": 22, "LUT8": 22, "Harley–Seal": 12.1}}


def write_program(out: Path) -> None:
    """A model-shaped folder (net.h, net.c, net_weights.h + runtime) for targets.build."""
    out.mkdir(parents=True, exist_ok=True)
    for f in runtime_dir().iterdir():
        if f.suffix in (".c", ".h"):
            shutil.copy(f, out / f.name)
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**32, size=(2, max(SIZES)), dtype=np.uint64)
    arr = lambda v: ",".join(f"0x{int(x):08x}u" for x in v)  # noqa: E731
    calls = [f"    acc += l2m_opt_xor_popcount({m}, A, B, {n});" for m in range(len(MODES)) for n in SIZES]
    # the bit-sliced engine: n words x 32 filters; rows and planes are random (the count does not
    # depend on their values), the input has density 1/2, its worst case
    n_max = max(SLICED_SIZES)
    rows = rng.integers(0, 2**32, size=32 * n_max + 8, dtype=np.uint64)
    rows[-8:] = 0
    planes = rng.integers(0, 2**32, size=4 * planes_count(32 * n_max), dtype=np.uint64)
    calls += [f"    l2m_opt_sliced_dense({n}, A, R, P, &o); acc += (int32_t)(o & 1u);" for n in SLICED_SIZES]
    (out / "net.h").write_text(
        "#ifndef NET_H\n#define NET_H\n#include <stdint.h>\n#define NET_ARENA_SIZE 8\n"
        "#define NET_INPUT_LEN 1\n#define NET_OUTPUT_LEN 1\n#define NET_NUM_OPS 1\n"
        "int net_invoke(const float *input, float *output, void *arena);\n"
        "int net_invoke_partial(const float *input, void *arena, int32_t n_ops);\n#endif\n")
    (out / "net_weights.h").write_text("/* micro-benchmark: no weights */\n")
    (out / "net.c").write_text("\n".join([
        "/* bench/microbench.py: per-word cost of each variant's XOR+popcount inner loop. */",
        '#include "l2m_kernels_opt.h"', '#include "net.h"',
        f"static const uint32_t A[{max(SIZES)}] = {{{arr(words[0])}}};",
        f"static const uint32_t B[{max(SIZES)}] = {{{arr(words[1])}}};",
        f"static const uint32_t R[{rows.size}] = {{{arr(rows)}}};",
        f"static const uint32_t P[{planes.size}] = {{{arr(planes)}}};",
        "int net_invoke(const float *input, float *output, void *arena) {",
        "    int32_t acc = 0;", "    uint32_t o = 0;", "    (void)input; (void)arena;", *calls,
        "    output[0] = (float)acc;", "    return 0;", "}",
        "/* the harness's per-layer timing: one layer, nothing to stop at */",
        "int net_invoke_partial(const float *input, void *arena, int32_t n_ops) {",
        "    (void)input; (void)arena; (void)n_ops;", "    return 0;", "}", ""]))


def per_word(board, workdir: Path) -> dict:
    """See the module docstring; {"skipped": why} when the board cannot build or run it."""
    from larq2mcu import board as targets
    from larq2mcu.errors import Larq2McuError as L2MError

    from larq2mcu.board import counter as trace
    src = Path(workdir) / "src"
    write_program(src)
    try:
        elf = targets.build(src, board, np.zeros((1, 1), np.float32), None, Path(workdir) / "build")
    except L2MError as e:
        return {"skipped": str(e)[:200]}
    c = trace.count(elf, board, "net")
    n = [k for f, k in c.calls if f == "l2m_opt_xor_popcount"]
    sl = [k for f, k in c.calls if f == "l2m_opt_sliced_dense"]
    if len(n) != len(MODES) * len(SIZES) or len(sl) != len(SLICED_SIZES):
        return {"skipped": f"expected {len(MODES) * len(SIZES)} + {len(SLICED_SIZES)} hook calls, saw {len(n)} + "
                           f"{len(sl)}: {c.calls[:12]}"}
    span = SIZES[1] - SIZES[0]
    out = {m: round((n[2 * i + 1] - n[2 * i]) / span, 3) for i, m in enumerate(MODES)}
    out["sliced"] = round((sl[1] - sl[0]) / ((SLICED_SIZES[1] - SLICED_SIZES[0]) * 32), 3)   # per 32 BMACs
    return out
