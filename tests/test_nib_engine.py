"""Issue 14: the nibble-table engine (firmware/runtime/l2m_nib_impl.h, l2mi_conv2d_nib) gives the
bits and floats of the packed _ref kernels (l2m_conv2d_packed_b32_{b32,f32}_ref), bit for bit.

Instantiated as generated code does (geometry, padding and output kind as compile-time constants)
and with the geometry read at run time, compiled by gcc and clang (-Werror -Wpedantic), on random
data. Cases: 16 channels (nibbles read from the input words), 3 and 5 channels (nibbles straddle
taps: the window is packed first), 1 to 32 filters (1 to 4 table words a row, a last row only
partly used), 252 window bits (byte counters near their limit), stride 2, same/valid, both pad
values (zero-padded border windows take the masked XOR path), and layers over the limits (table,
window bits, filters), which fall back to l2mi_conv2d_packed.
"""
from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np
import pytest

import engine_libs
from larq2mcu import bits

MODES = {"csa": "L2M_MODE_CSA", "builtin": "L2M_MODE_BUILTIN"}   # the fallback paths' popcounts
# (h, w, in_c, out_c, k_h, k_w, stride, same)
NIB = [(7, 9, 16, 16, 3, 3, 1, True),      # Bi-Real-style block (2 table words)
       (13, 13, 16, 16, 3, 3, 1, False),   # the seed CNN's second conv
       (8, 7, 16, 16, 3, 3, 2, True),      # stride 2, even image: TF's uneven same padding
       (6, 6, 8, 32, 3, 3, 1, True),       # 32 filters, 18 nibbles: the table's 1152 words exactly
       (5, 7, 3, 17, 3, 3, 1, False),      # 27 bits: nibbles across taps, 3 table words, 1 of the last used
       (7, 5, 5, 16, 3, 3, 1, True),       # 5 channels: packed windows inside too
       (5, 5, 1, 9, 3, 3, 2, True),        # one channel (9 bits, 3 nibbles, the last 1 bit)
       (6, 5, 12, 7, 3, 2, 1, True),       # 3x2 window, 7 filters
       (7, 7, 28, 8, 3, 3, 1, True),       # 252 bits: byte counters up to 252
       (8, 8, 16, 24, 2, 2, 2, False),     # 2x2 stride 2 valid, 3 table words
       (4, 4, 4, 1, 1, 1, 1, False),       # one filter, one nibble
       (6, 7, 16, 32, 3, 3, 2, True),      # over the table (2304 words): l2mi_conv2d_packed
       (5, 6, 31, 9, 3, 3, 1, True),       # 279 bits: over the byte counters
       (5, 5, 4, 33, 3, 3, 1, True)]       # 33 filters: over L2MI_NIB_Q


def _geometry(h, w, c, oc, kh, kw, s, same):
    if same:
        oh, ow = -(-h // s), -(-w // s)
        ph, pw = max((oh - 1) * s + kh - h, 0), max((ow - 1) * s + kw - w, 0)
        return [h, w, c, oh, ow, oc, kh, kw, s, s, ph // 2, pw // 2]
    return [h, w, c, (h - kh) // s + 1, (w - kw) // s + 1, oc, kh, kw, s, s, 0, 0]


def _source() -> str:
    out = ['#include "l2m_nib_impl.h"', ""]
    for i, case in enumerate(NIB):
        g = ", ".join(map(str, _geometry(*case)))
        for mn, mode in MODES.items():
            for pad in (0, 1):
                out += [
                    f"void spec_b_{i}_{mn}_{pad}(const uint32_t *in, const uint32_t *w, const int32_t *p, uint32_t *o) {{",
                    f"    const l2m_geom g = {{ {g} }};", f"    l2mi_conv2d_nib_table({mode}, &g, {pad}, in, w, l2m_out_bits(o, p));",
                    "}",
                    f"void spec_f_{i}_{mn}_{pad}(const uint32_t *in, const uint32_t *w, const float *p, float *o) {{",
                    f"    const l2m_geom g = {{ {g} }};", f"    l2mi_conv2d_nib_table({mode}, &g, {pad}, in, w, l2m_out_float(o, p));",
                    "}"]
    for mn, mode in MODES.items():          # geometry read at run time
        out += [f"void dyn_f_{mn}(const l2m_geom *g, int32_t pad, const uint32_t *in, const uint32_t *w, "
                "const float *p, float *o) {", f"    l2mi_conv2d_nib_table({mode}, g, pad, in, w, l2m_out_float(o, p));", "}"]
    out += ["void entry_f(const l2m_geom *g, int32_t pad, const uint32_t *in, const uint32_t *w, const float *p, "
            "float *o) {", "    l2mi_conv2d_nib(L2M_MODE_CSA, g, pad, in, w, l2m_out_float(o, p));", "}",
            "int entry_is_table(void) { return L2MI_NIB_IS_TABLE; }"]
    out += ["void dyn_fits(const l2m_geom *g, int32_t kind, int32_t *r) {",
            "    *r = l2mi_nib_fits(g, l2m_out_none((l2m_out_kind)kind));", "}"]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    return engine_libs.build(tmp_path_factory.mktemp("nib"), "l2m_nib_test", _source())


def _p(a):
    return None if a is None else a.ctypes.data_as(ctypes.c_void_p)


def _packed(rng, groups: int, c: int) -> np.ndarray:
    return bits.pack(rng.integers(0, 2, (groups, c)).astype(np.int8) * -2 + 1).reshape(-1).astype(np.uint32)


@pytest.mark.parametrize("i", range(len(NIB)), ids=lambda i: "x".join(map(str, NIB[i])))
def test_nib_engine_matches_packed_ref(libs, i):
    """Thresholds (past both ends of the accumulator too), floats with a bias and without one
    (NULL), compile-time and run-time geometry, both pad values; floats compared as bit patterns."""
    h, w, c, oc, kh, kw, s, same = NIB[i]
    rng = np.random.default_rng(1400 + i)
    k = kh * kw * c
    x, wt = _packed(rng, h * w, c), _packed(rng, oc, k)      # window bits (ky*k_w + kx)*in_c + c
    thr = rng.integers(-k - 1, k + 2, oc).astype(np.int32)
    bias = rng.normal(0, 3, oc).astype(np.float32)
    geom = _geometry(*NIB[i])
    g = (ctypes.c_int32 * 12)(*geom)
    n_b, n_f = geom[3] * geom[4] * bits.words(oc), geom[3] * geom[4] * oc
    for cc, lib in libs.items():
        for pad in (0, 1):
            lead = (ctypes.byref(g), ctypes.c_int32(pad), _p(x), _p(wt))
            cases = {"thresholds": ("b", n_b, _p(thr), "l2m_conv2d_packed_b32_b32_ref"),
                     "floats": ("f", n_f, _p(bias), "l2m_conv2d_packed_b32_f32_ref"),
                     "floats without bias": ("f", n_f, None, "l2m_conv2d_packed_b32_f32_ref")}
            want = {what: engine_libs.call(lib, ref, n, np.uint32, *lead, arg)
                    for what, (_, n, arg, ref) in cases.items()}
            for mn in MODES:
                for what, (out, n, arg, _) in cases.items():
                    got = engine_libs.call(lib, f"spec_{out}_{i}_{mn}_{pad}", n, np.uint32, _p(x), _p(wt), arg)
                    assert np.array_equal(got, want[what]), f"{cc} {mn} pad_one={pad} {what}"
                got = engine_libs.call(lib, f"dyn_f_{mn}", n_f, np.uint32, *lead, _p(bias))
                assert np.array_equal(got, want["floats"]), f"{cc} {mn} pad_one={pad} run-time geometry"


def test_nib_limits_agree(libs):
    """ops/dot.py's NIB_TAB / NIB_Q / NIB_K are the C header's, and nib_fits (what the lowering
    asks) is the engine's own l2mi_nib_fits, so no layer it picks silently falls back."""
    from larq2mcu.ops import dot
    hdr = (Path(dot.__file__).resolve().parents[2] / "firmware/runtime/l2m_nib_impl.h").read_text()
    for name, val in (("TAB", dot.NIB_TAB), ("Q", dot.NIB_Q), ("K", dot.NIB_K)):
        assert int(re.search(rf"#define L2MI_NIB_{name} (\d+)", hdr)[1]) == val, name
    lib = next(iter(libs.values()))
    for kh, kw, c, oc in [(3, 3, 16, 16), (3, 3, 16, 24), (3, 3, 16, 25), (3, 3, 16, 32), (3, 3, 8, 32),
                          (3, 3, 28, 8), (3, 3, 29, 8), (3, 3, 4, 33), (1, 1, 1, 1), (5, 5, 8, 8), (5, 5, 10, 8)]:
        g = (ctypes.c_int32 * 12)(8, 8, c, 8 - kh + 1, 8 - kw + 1, oc, kh, kw, 1, 1, 0, 0)
        for kind in (0, 2):                                   # L2M_OUT_BITS, L2M_OUT_FLOAT
            r = ctypes.c_int32()
            lib.dyn_fits(ctypes.byref(g), ctypes.c_int32(kind), ctypes.byref(r))
            assert dot.nib_fits(kh * kw * c, oc) == bool(r.value), (kh, kw, c, oc, kind)


def test_nib_entry_point_is_the_table_on_hosts(libs):
    """l2mi_conv2d_nib, what generated code calls, runs the table engine on hosts (so that the
    host tests and the fuzz campaign exercise it): L2MI_NIB_IS_TABLE is 1 here, and its floats are
    the packed _ref kernel's."""
    h, w, c, oc, kh, kw, s, same = NIB[0]
    rng = np.random.default_rng(1499)
    x, wt = _packed(rng, h * w, c), _packed(rng, oc, kh * kw * c)
    bias = rng.normal(0, 3, oc).astype(np.float32)
    geom = _geometry(*NIB[0])
    g = (ctypes.c_int32 * 12)(*geom)
    n_f = geom[3] * geom[4] * oc
    for lib in libs.values():
        lead = (ctypes.byref(g), ctypes.c_int32(1), _p(x), _p(wt))
        want = engine_libs.call(lib, "l2m_conv2d_packed_b32_f32_ref", n_f, np.uint32, *lead, _p(bias))
        assert np.array_equal(engine_libs.call(lib, "entry_f", n_f, np.uint32, *lead, _p(bias)), want)
        assert lib.entry_is_table() == 1
