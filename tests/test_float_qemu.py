"""The float conv / dense engines (l2m_float_impl.h) on the cores that run their Thumb-2 + FPU
form (a full block's tap as vldm + 8 vmul + 8 vadd: Cortex-M4, M7, M33 under QEMU) and on the
Cortex-M55, whose MVE build runs the C form vectorised by the compiler, with
each layer's sizes as constants, as generated code runs them: convs of 1, 3 and 8 input channels
and 8, 13, 16 and 3 filters (full blocks, a tail, no full block), 3x3 / 1x1, stride 1 / 2, 'same'
(pad 0 and pad 1.0) / 'valid', and dense layers, on values with infinities, NaNs and subnormals
in them, give the bits of the _ref kernels on the same core (NaNs compared as NaNs).

A tiny program (tests/qemu_program.py) embeds the cases, runs _ref and the engine on each and
returns every output word."""
from __future__ import annotations

import numpy as np
import pytest

import kernel_harness as H
import qemu_program as Q

# (h, w, in_c, out_c, k, stride, padding, pad_value)
CONVS = [(5, 5, 1, 8, 3, 1, "same", 0.0), (6, 5, 3, 16, 3, 2, "same", 0.0), (4, 4, 8, 13, 3, 1, "valid", 0.0),
         (5, 3, 3, 3, 3, 1, "same", 1.0), (3, 3, 8, 16, 1, 1, "valid", 0.0), (7, 6, 3, 16, 3, 2, "valid", 0.0)]
DENSES = [(9, 8), (33, 16), (20, 13), (5, 3)]       # (in_n, out_n)


def _floats(rng, n):
    x = rng.normal(0, 1, n).astype(np.float32)
    pick = rng.random(n) < 0.005          # rare: most windows stay finite
    x[pick] = rng.choice(np.array([np.inf, -np.inf, np.nan, 1e-40, -1e-40, 0.0, -0.0, 3e38], np.float32),
                         int(pick.sum()))
    return x


def _program(rng):
    """(decls, calls, output words, [(offset, length)] of each case's ref outputs; the engine's follow them)."""
    decls, fns, calls, spans, at = [], [], [], [], 0
    for i, (h, w, ic, oc, k, st, pad, pv) in enumerate(CONVS):
        g, _ = H.geom(h, w, ic, oc, k, k, st, st, pad)
        fields = ", ".join(str(getattr(g, f)) for f, _ in H.Geom._fields_)
        x, wt, b = _floats(rng, h * w * ic), _floats(rng, k * k * ic * oc), _floats(rng, oc)
        decls += [Q.array(f"cx{i}", x), Q.array(f"cw{i}", wt), Q.array(f"cb{i}", b)]
        n = g.out_h * g.out_w * oc
        fns.append(f"static void conv{i}(float *ref, float *eng) {{\n"
                   f"    const l2m_geom g = {{ {fields} }};\n"
                   f"    const float *x = (const float *)(const void *)cx{i}, *w = (const float *)(const void *)cw{i};\n"
                   f"    const float *b = (const float *)(const void *)cb{i};\n"
                   f"    l2m_conv2d_f32_f32_ref(&g, {float(pv)!r}f, x, w, b, ref);\n"
                   f"    l2mi_conv_f32(&g, {float(pv)!r}f, x, w, l2m_out_float(eng, b));\n}}")
        calls.append(f"    conv{i}(of + {at}, of + {at + n});")
        spans.append((at, n))
        at += 2 * n
    for i, (n_in, n_out) in enumerate(DENSES):
        x, wt, b = _floats(rng, n_in), _floats(rng, n_in * n_out), _floats(rng, n_out)
        decls += [Q.array(f"dx{i}", x), Q.array(f"dw{i}", wt), Q.array(f"db{i}", b)]
        fns.append(f"static void dense{i}(float *ref, float *eng) {{\n"
                   f"    const float *x = (const float *)(const void *)dx{i}, *w = (const float *)(const void *)dw{i};\n"
                   f"    const float *b = (const float *)(const void *)db{i};\n"
                   f"    l2m_dense_f32_f32_ref({n_in}, {n_out}, x, w, b, ref);\n"
                   f"    l2mi_dense_f32({n_in}, {n_out}, x, w, l2m_out_float(eng, b));\n}}")
        calls.append(f"    dense{i}(of + {at}, of + {at + n_out});")
        spans.append((at, n_out))
        at += 2 * n_out
    return decls + fns, calls, at, spans


@pytest.mark.toolchain
@pytest.mark.parametrize("board", ["qemu_m4", "qemu_m7", "qemu_m33", "qemu_m55"])
def test_float_engines_on_qemu(tmp_path, board):
    decls, calls, n, spans = _program(np.random.default_rng(5))
    words = Q.run(tmp_path, board, ('"l2m_float_impl.h"',), decls, calls, n)
    for (at, n), case in zip(spans, [*CONVS, *DENSES]):
        ref, eng = words[at:at + n], words[at + n:at + 2 * n]
        fr, fe = ref.view(np.float32), eng.view(np.float32)
        same = (ref == eng) | (np.isnan(fr) & np.isnan(fe))
        assert same.all(), f"{case}: {np.count_nonzero(~same)} of {n} outputs differ from _ref"
        assert np.isfinite(fr).any(), f"{case}: no finite output (the case tests nothing)"
