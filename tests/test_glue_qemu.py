"""Float glue kernels with a Thumb-2 form, on the cores that run it (Cortex-M3, M4, M55 under
QEMU) and on one that runs the C form (Cortex-M0: Thumb-1; Quantize only, its RAM is small).

l2m_quantize_f32_b32_opt (cmp + adc per element): every
channel count's path (1, 16, whole words, any other; 1 to 4 words a group, several groups) over
the float patterns where the bit changes — ±0, subnormals, ±FLT_MIN and their neighbours, ±inf,
NaNs of both signs, ±FLT_MAX — and random patterns give exactly the bits x <= -FLT_MIN of the
_ref contract (numpy here).

l2m_add_f32_f32_opt (vldm / vadd / vstm, 8 elements a pass, with a single-precision FPU): every
length around the passes of 8 (0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 19, 64), in place (out == a, out == b, both) and not, over the same
patterns, gives the bits of l2m_add_f32_f32_ref on the same core (same flush-to-zero and NaN
rules as the core's own adds), NaNs compared as NaNs.

A tiny program (tests/qemu_program.py) embeds the inputs, runs each case and returns every
output word."""
from __future__ import annotations

import numpy as np
import pytest

import qemu_program as Q
from larq2mcu import bits

# (groups, channels): the c == 1, c == 16, whole-word and general paths of the kernel
CASES = [(37, 1), (5, 16), (3, 32), (2, 64), (1, 128), (4, 3), (3, 31), (3, 33), (2, 63), (1, 97)]
# (length, which input the output is): l2m_add_f32_f32 allows out == a and/or out == b
ADDS = [(n, al) for n in (0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 19, 64) for al in ("none", "a", "b", "ab")]
EDGES = np.array([0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x807FFFFF, 0x80800000, 0x80800001,
                  0x00800000, 0x007FFFFF, 0xFF800000, 0x7F800000, 0xFF800001, 0x7F800001, 0xFFC00000,
                  0x7FC00000, 0xFFFFFFFF, 0xBF800000, 0x3F800000, 0xFF7FFFFF, 0x7F7FFFFF], np.uint32)


def _inputs(rng, n):
    """n patterns: the edges in random places among random patterns and small signed floats."""
    u = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    small = rng.normal(0, 1, n).astype(np.float32).view(np.uint32)
    u = np.where(rng.random(n) < 0.5, small, u)
    pick = rng.random(n) < 0.4
    u[pick] = rng.choice(EDGES, int(pick.sum()))
    return u


def _program(rng, add_cases):
    """(decls, calls, output words, expected quantize words, add cases as (offset, length))."""
    decls, calls, expected, at = ['static float fa[128], fb[128], fr[128];'] if add_cases else [], [], [], 0
    for i, (groups, c) in enumerate(CASES):
        u = _inputs(rng, groups * c)
        x = u.view(np.float32).reshape(groups, c)
        with np.errstate(invalid="ignore"):
            want = bits.pack(x <= -np.finfo(np.float32).tiny).reshape(-1)
        decls.append(Q.array(f"x{i}", u))
        calls.append(f"    l2m_quantize_f32_b32_opt({groups}, {c}, (const float *)(const void *)x{i}, o + {at});")
        expected.append(want)
        at += want.size
    adds = []
    for i, (n, alias) in enumerate(add_cases):
        decls.append(Q.array(f"a{i}", _inputs(rng, 2 * n)))
        # ref into fr, opt per `alias` (into a copy of a, of b, or of both); both go out as words
        dst = {"none": "fr + 64", "a": "fa", "b": "fb", "ab": "fa"}[alias]
        bsrc = "fa" if alias == "ab" else "fb"
        calls += [f"    memcpy(fa, a{i}, {4 * n}); memcpy(fb, a{i} + {n}, {4 * n});",
                  f"    l2m_add_f32_f32_ref({n}, fa, {bsrc}, fr);",
                  f"    l2m_add_f32_f32_opt({n}, fa, {bsrc}, {dst});",
                  f"    memcpy(o + {at}, fr, {4 * n}); memcpy(o + {at + n}, {dst}, {4 * n});"]
        adds.append((at, n))
        at += 2 * n
    return decls, calls, at, np.concatenate(expected).astype(np.uint32), adds


@pytest.mark.toolchain
@pytest.mark.parametrize("board", ["qemu_m3", "qemu_m4", "qemu_m55", "qemu_m0"])
def test_glue_on_qemu(tmp_path, board):
    add_cases = [] if board == "qemu_m0" else ADDS   # the C form; and the M0 board's RAM is too small
    decls, calls, n, want, adds = _program(np.random.default_rng(11), add_cases)
    words = Q.run(tmp_path, board, ('<string.h>', '"l2m_kernels.h"', '"l2m_kernels_opt.h"'), decls, calls, n)
    q = words[:want.size]
    bad = np.nonzero(q != want)[0]
    assert bad.size == 0, f"quantize: {bad.size} output words differ, first at word {bad[0]}"
    for (at, n), (_, alias) in zip(adds, add_cases):
        ref, opt = words[at:at + n].view(np.float32), words[at + n:at + 2 * n].view(np.float32)
        same = (ref.view(np.uint32) == opt.view(np.uint32)) | (np.isnan(ref) & np.isnan(opt))
        assert same.all(), f"add n={n} alias={alias}: {np.count_nonzero(~same)} elements differ from _ref"
