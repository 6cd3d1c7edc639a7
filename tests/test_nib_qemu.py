"""The nibble-table engine (l2mi_conv2d_nib, l2m_nib_impl.h) on emulated cores, as generated
code runs it (geometry, padding and output kind as constants): Cortex-M3 and M4 run its Thumb-2
row adds (two table words: 9 to 16 filters) and the C form (1, 3 or 4 words), Cortex-M55 the same
under its MVE build. Per case, both pad values, floats (+ bias) and thresholds: the engine's
output words against l2m_conv2d_packed_b32_*_ref's on the same core, compared there; the test
reads back the number of differing words of each run and one _ref word (so that an empty run
cannot pass).

A tiny program (tests/qemu_program.py) embeds the cases and returns those counts."""
from __future__ import annotations

import numpy as np
import pytest

import qemu_program as Q
from larq2mcu import bits

# (h, w, in_c, out_c, k_h, k_w, stride, same): 16 channels (words read directly, asm on Thumb-2)
# at stride 1 and 2; 3 channels (packed windows); 8 channels x 32 filters (4 words, C form);
# 12 channels x 7 filters (1 word); 28 channels (252 bits); 2x2 stride 2 with 24 filters (3 words)
CASES = [(7, 9, 16, 16, 3, 3, 1, True), (8, 7, 16, 16, 3, 3, 2, True), (9, 9, 16, 12, 3, 3, 1, False),
         (5, 7, 3, 17, 3, 3, 1, False), (6, 6, 8, 32, 3, 3, 1, True), (6, 5, 12, 7, 3, 2, 1, True),
         (7, 7, 28, 8, 3, 3, 1, True), (8, 8, 16, 24, 2, 2, 2, False)]


def _geometry(h, w, c, oc, kh, kw, s, same):
    if same:
        oh, ow = -(-h // s), -(-w // s)
        ph, pw = max((oh - 1) * s + kh - h, 0), max((ow - 1) * s + kw - w, 0)
        return [h, w, c, oh, ow, oc, kh, kw, s, s, ph // 2, pw // 2]
    return [h, w, c, (h - kh) // s + 1, (w - kw) // s + 1, oc, kh, kw, s, s, 0, 0]


def _packed(rng, groups: int, c: int) -> np.ndarray:
    return bits.pack(rng.integers(0, 2, (groups, c)).astype(np.int8) * -2 + 1).reshape(-1).astype(np.uint32)


def _program(rng):
    """(decls, calls, output words): per case and pad, [float diffs, bit diffs, first _ref float]."""
    geoms = [_geometry(*c) for c in CASES]
    nf = max(g[3] * g[4] * g[5] for g in geoms)
    nb = max(g[3] * g[4] * bits.words(g[5]) for g in geoms)
    decls = [f"static float ra[{nf}], ea[{nf}];", f"static uint32_t rb[{nb}], eb[{nb}];",
             "static uint32_t diff(const void *a, const void *b, int n) {",
             "    const uint32_t *x = (const uint32_t *)a, *y = (const uint32_t *)b;",
             "    uint32_t d = 0;", "    for (int i = 0; i < n; ++i) d += x[i] != y[i];", "    return d;", "}"]
    calls, at = [], 0
    for i, ((h, w, c, oc, kh, kw, s, same), g) in enumerate(zip(CASES, geoms)):
        k = kh * kw * c
        decls += [Q.array(f"x{i}", _packed(rng, h * w, c)), Q.array(f"w{i}", _packed(rng, oc, k)),
                  Q.array(f"b{i}", rng.normal(0, 3, oc).astype(np.float32)),
                  Q.array(f"t{i}", rng.integers(-k - 1, k + 2, oc).astype(np.int32))]
        n_f, n_b = g[3] * g[4] * oc, g[3] * g[4] * bits.words(oc)
        for pad in (0, 1):
            gs = ", ".join(map(str, g))
            decls += [
                f"static void c{i}_{pad}(uint32_t *o) {{",
                f"    static const l2m_geom g = {{ {gs} }};",
                f"    const float *b = (const float *)(const void *)b{i};",
                f"    const int32_t *t = (const int32_t *)(const void *)t{i};",
                f"    l2m_conv2d_packed_b32_f32_ref(&g, {pad}, x{i}, w{i}, b, ra);",
                f"    l2mi_conv2d_nib(L2M_MODE_CSA, &g, {pad}, x{i}, w{i}, l2m_out_float(ea, b));",
                f"    l2m_conv2d_packed_b32_b32_ref(&g, {pad}, x{i}, w{i}, t, rb);",
                f"    l2mi_conv2d_nib(L2M_MODE_CSA, &g, {pad}, x{i}, w{i}, l2m_out_bits(eb, t));",
                f"    o[0] = diff(ra, ea, {n_f});", f"    o[1] = diff(rb, eb, {n_b});",
                "    o[2] = *(const uint32_t *)(const void *)ra;", "}"]
            calls.append(f"    c{i}_{pad}(o + {at});")
            at += 3
    return decls, calls, at


@pytest.mark.toolchain
@pytest.mark.parametrize("board", ["qemu_m3", "qemu_m4", "qemu_m55"])
def test_nib_engine_on_qemu(tmp_path, board):
    decls, calls, n = _program(np.random.default_rng(14))
    words = Q.run(tmp_path, board, ('"l2m_nib_impl.h"',), decls, calls, n).reshape(len(CASES), 2, 3)
    for case, per in zip(CASES, words):
        for pad, (df, db, first) in enumerate(per):
            assert first != 0x7FC0DEAD and first != 0, f"{case} pad_one={pad}: _ref wrote nothing"
            assert df == 0, f"{case} pad_one={pad}: {df} float words differ from _ref"
            assert db == 0, f"{case} pad_one={pad}: {db} threshold words differ from _ref"
