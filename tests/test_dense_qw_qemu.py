"""The fixed-point dense engine (l2mi_dense_qw, l2m_float_impl.h) on the cores that run its
Thumb-2 row loop (Cortex-M3, M4 under QEMU) and on ones that run the C form (Cortex-M55, whose
MVE build keeps it; Cortex-M0, the cases that fit its flash),
with the sizes as constants as generated code runs it: 1 to 18 input words, groups, tails of
the 6- and 8-output blocks, a second tile (131 outputs), inputs of every density (none set,
half, all) give the floats of l2m_dense_qw_b32_f32_ref on the same core, bit for bit — and
numpy's fixed-point value (layout/fixed.py) too.

A tiny program (tests/qemu_program.py) embeds the cases, runs _ref and the engine on each and
returns every output word."""
from __future__ import annotations

import numpy as np
import pytest

import qemu_program as Q
from larq2mcu import bits
from larq2mcu.layout import fixed

# (groups, c, out_n, density of set input bits)
CASES = [(1, 8, 1, 0.5), (1, 31, 7, 0.5), (1, 33, 9, 1.0), (3, 63, 17, 0.5), (36, 16, 120, 0.5),
         (1, 576, 10, 0.0), (2, 33, 131, 0.5), (1, 64, 6, 0.9), (1, 32, 12, 0.1), (4, 40, 25, 0.5)]


def _program(rng, cases):
    """(decls, calls, output words, [(offset, n, numpy's floats)] per case; the engine's outputs follow _ref's)."""
    decls, fns, calls, spans, at = [], [], [], [], 0
    for i, (groups, c, n, d) in enumerate(cases):
        pm = np.where(rng.random((groups, c)) < d, -1, 1).astype(np.int8)
        fx = fixed.quantize(rng.normal(0, 1, (groups * c, n)).astype(np.float32))
        assert fx is not None
        bias = rng.normal(0, 3, n).astype(np.float32)
        want = (fixed.value(fx, pm.reshape(-1)) + bias).astype(np.float32)
        decls += [Q.array(f"x{i}", bits.pack(pm)), Q.array(f"w{i}", np.asarray(fx.w, np.int32)),
                  Q.array(f"s{i}", np.asarray(fx.wsum, np.int32)), Q.array(f"q{i}", np.asarray(fx.scale, np.float32)),
                  Q.array(f"b{i}", bias)]
        ptrs = (f"const int32_t *w = (const int32_t *)(const void *)w{i}, *s = (const int32_t *)(const void *)s{i};\n"
                f"    const float *q = (const float *)(const void *)q{i}, *b = (const float *)(const void *)b{i};")
        fns.append(f"static void qw{i}(float *ref, float *eng) {{\n    {ptrs}\n"
                   f"    l2m_dense_qw_b32_f32_ref({groups}, {c}, {n}, x{i}, w, s, q, b, ref);\n"
                   f"    l2mi_dense_qw({groups}, {c}, {n}, x{i}, w, s, q, l2m_out_float(eng, b));\n}}")
        calls.append(f"    qw{i}(of + {at}, of + {at + n});")
        spans.append((at, n, want))
        at += 2 * n
    return decls + fns, calls, at, spans


@pytest.mark.toolchain
@pytest.mark.parametrize("board", ["qemu_m3", "qemu_m4", "qemu_m55", "qemu_m0"])
def test_dense_qw_on_qemu(tmp_path, board):
    cases = [k for k in CASES if board != "qemu_m0" or k[0] * k[1] * k[2] <= 4096]   # the M0 board's flash is small
    decls, calls, n, spans = _program(np.random.default_rng(3), cases)
    words = Q.run(tmp_path, board, ('"l2m_float_impl.h"',), decls, calls, n)
    for (at, n, want), case in zip(spans, cases):
        ref, eng = words[at:at + n], words[at + n:at + 2 * n]
        assert np.array_equal(ref, want.view(np.uint32)), f"{case}: _ref differs from layout/fixed.py's value"
        assert np.array_equal(eng, ref), f"{case}: {np.count_nonzero(eng != ref)} of {n} outputs differ from _ref"
