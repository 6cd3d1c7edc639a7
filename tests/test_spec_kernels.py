"""Issue 4: the layer-specialized kernels of generated code (the l2m_binary_impl.h,
l2m_float_impl.h and l2m_w1_impl.h engines instantiated with a layer's geometry, padding and
output kind as compile-time constants, as templates/model.c.j2 emits them) are bit-identical to
the _ref kernels.

One C file holds one function per (case, mode, padding, output kind), exactly in the generated
form (`const l2m_geom g = {...}; l2mi_conv2d(MODE, &g, PAD, ...)`), plus the same engines with the
geometry read at run time; it is compiled with gcc and clang (-Werror, as the host build) next to
the runtime and driven through ctypes against the _ref kernels on random data. Sizes cover the
word boundaries (1, 3, 31, 32, 33, 63, 64, 128 channels), odd images, stride 2, same/valid, both
pad values, windows larger than the on-stack border copy (> 64 words) and w1 windows larger than
its tap table (> 48 taps). ISA-specific modes (USADA8, Zbb) are covered on QEMU by
test_kernel_variants.py, whose exported models now run these functions.
"""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import engine_libs
from larq2mcu import bits

MODES = {"csa": "L2M_MODE_CSA", "builtin": "L2M_MODE_BUILTIN"}   # the two host code paths
# (h, w, in_c, out_c, k, stride, same)
CONV = [(5, 7, 1, 3, 3, 1, True), (6, 5, 3, 33, 3, 2, True), (7, 7, 31, 32, 3, 1, False),
        (5, 6, 32, 31, 3, 1, True), (4, 5, 33, 64, 2, 2, False), (5, 5, 63, 1, 3, 1, True),
        (6, 7, 64, 63, 3, 2, False), (4, 4, 128, 65, 3, 1, True), (3, 5, 3, 128, 1, 1, False),
        (9, 8, 64, 32, 5, 1, True), (1, 1, 64, 10, 1, 1, False), (7, 9, 32, 16, 3, 2, True),
        (5, 4, 257, 9, 3, 1, True)]                          # 9 words x 9 taps: past the border copy
DENSE = [(1, 1, 1), (1, 33, 64), (1, 63, 7), (49, 64, 128), (9, 3, 31), (25, 33, 65), (1, 1000, 3)]
# (h, w, in_c, out_c, k, stride, same): w1 convs (float input)
W1 = [(7, 5, 1, 33, 3, 1, True), (7, 5, 3, 32, 3, 2, False), (8, 6, 31, 5, 1, 1, False),
      (6, 7, 3, 16, 5, 2, True), (9, 9, 2, 7, 3, 1, True), (5, 5, 1, 3, 2, 1, False),
      (6, 6, 33, 4, 3, 1, True)]                             # 297 taps: past the tap table
# few-channel convs, window bits packed densely: (h, w, in_c, out_c, k_h, k_w, stride, same) —
# taps straddling words (3, 10, 31 channels), one word (1 channel 3x3), 16 channels (2 taps a
# word), 31 of the 32 words of the on-stack window (7x7x20)
PACKED = [(7, 6, 1, 33, 3, 3, 1, True), (8, 7, 1, 32, 5, 5, 2, True), (6, 9, 3, 17, 3, 3, 1, False),
          (9, 5, 2, 64, 3, 5, 2, False), (5, 5, 16, 8, 2, 2, 1, True), (6, 6, 10, 5, 1, 3, 1, True),
          (7, 7, 1, 3, 7, 7, 1, True), (7, 9, 16, 16, 3, 3, 1, True), (6, 7, 16, 40, 3, 3, 2, True),
          (5, 6, 31, 9, 3, 3, 1, True), (9, 8, 20, 7, 7, 7, 1, True), (5, 7, 24, 33, 3, 2, 2, False)]
# small-window engine (l2m_small_impl.h, windows of at most 9 bits): (h, w, in_c, out_c, k_h, k_w,
# stride, same) — 32 float filters (the table's 320 words exactly), 33 (floats over the table:
# the packed engine), stride 2, one filter, 1x3 over 3 channels, 1x1 over 9, 8 bits with 63 and 128
# filters (bits: 2 and 4 table rows), a 1-bit window, a 3x3 image of border windows only
SMALL = [(7, 6, 1, 32, 3, 3, 1, True), (7, 6, 1, 33, 3, 3, 1, True), (9, 7, 1, 16, 3, 3, 2, True),
         (8, 5, 1, 1, 3, 3, 1, False), (5, 9, 3, 3, 1, 3, 1, True), (6, 7, 9, 31, 1, 1, 1, False),
         (5, 5, 2, 63, 2, 2, 2, True), (4, 6, 2, 128, 2, 2, 1, True), (7, 7, 1, 64, 1, 1, 1, False),
         (3, 3, 1, 5, 3, 3, 1, True)]
# float-input conv engines: name → (engine, weight type); the ref kernels are l2m_conv2d_<name>_*_ref
FCONV = {"w1_f32": ("l2mi_conv_w1", "uint32_t"), "f32": ("l2mi_conv_f32", "float")}
FDENSE = [(1, 1), (3, 8), (31, 9), (64, 17), (200, 10)]     # float dense (in_n, out_n)


def _geometry_hw(h, w, c, oc, kh, kw, s, same):
    """Like engine_libs.geometry, for a kh x kw window (TensorFlow's 'same' padding split)."""
    if same:
        oh, ow = -(-h // s), -(-w // s)
        ph, pw = max((oh - 1) * s + kh - h, 0), max((ow - 1) * s + kw - w, 0)
        return [h, w, c, oh, ow, oc, kh, kw, s, s, ph // 2, pw // 2]
    return [h, w, c, (h - kh) // s + 1, (w - kw) // s + 1, oc, kh, kw, s, s, 0, 0]


def _source() -> str:
    out = ['#include <stddef.h>', '#include "l2m_binary_impl.h"', '#include "l2m_small_impl.h"', '#include "l2m_float_impl.h"',
           '#include "l2m_w1_impl.h"', ""]
    for ci, case in enumerate(CONV):
        g = ", ".join(map(str, engine_libs.geometry(*case)))
        for mn, mode in MODES.items():
            for pad in (0, 1):
                out += [
                    f"void spec_conv_b_{ci}_{mn}_{pad}(const uint32_t *in, const uint32_t *w, const int32_t *p, uint32_t *o) {{",
                    f"    const l2m_geom g = {{ {g} }};", f"    l2mi_conv2d({mode}, &g, {pad}, in, w, l2m_out_bits(o, p));", "}",
                    f"void spec_conv_f_{ci}_{mn}_{pad}(const uint32_t *in, const uint32_t *w, const float *p, float *o) {{",
                    f"    const l2m_geom g = {{ {g} }};", f"    l2mi_conv2d({mode}, &g, {pad}, in, w, l2m_out_float(o, p));", "}"]
    for ri, case in enumerate(PACKED):
        g = ", ".join(map(str, _geometry_hw(*case)))
        for mn, mode in MODES.items():
            for pad in (0, 1):
                out += [
                    f"void spec_packed_b_{ri}_{mn}_{pad}(const uint32_t *in, const uint32_t *w, const int32_t *p, uint32_t *o) {{",
                    f"    const l2m_geom g = {{ {g} }};", f"    l2mi_conv2d_packed({mode}, &g, {pad}, in, w, l2m_out_bits(o, p));",
                    "}",
                    f"void spec_packed_f_{ri}_{mn}_{pad}(const uint32_t *in, const uint32_t *w, const float *p, float *o) {{",
                    f"    const l2m_geom g = {{ {g} }};", f"    l2mi_conv2d_packed({mode}, &g, {pad}, in, w, l2m_out_float(o, p));",
                    "}"]
    for si, case in enumerate(SMALL):
        g = ", ".join(map(str, _geometry_hw(*case)))
        for mn, mode in MODES.items():
            for pad in (0, 1):
                out += [
                    f"void spec_small_b_{si}_{mn}_{pad}(const uint32_t *in, const uint32_t *w, const int32_t *p, uint32_t *o) {{",
                    f"    const l2m_geom g = {{ {g} }};", f"    l2mi_conv2d_small({mode}, &g, {pad}, in, w, l2m_out_bits(o, p));",
                    "}",
                    f"void spec_small_f_{si}_{mn}_{pad}(const uint32_t *in, const uint32_t *w, const float *p, float *o) {{",
                    f"    const l2m_geom g = {{ {g} }};", f"    l2mi_conv2d_small({mode}, &g, {pad}, in, w, l2m_out_float(o, p));",
                    "}"]
    for mn, mode in MODES.items():          # the small-window engine with the geometry read at run time
        out += [f"void dyn_small_f_{mn}(const l2m_geom *g, int32_t pad, const uint32_t *in, const uint32_t *w, "
                "const float *p, float *o) {", f"    l2mi_conv2d_small({mode}, g, pad, in, w, l2m_out_float(o, p));", "}"]
    out += ["void dyn_small_fits(const l2m_geom *g, int32_t kind, int32_t *r) {",
            "    *r = l2mi_small_fits(g, l2m_out_none((l2m_out_kind)kind));", "}"]
    for mn, mode in MODES.items():          # the packed engine with the geometry read at run time
        out += [f"void dyn_packed_b_{mn}(const l2m_geom *g, int32_t pad, const uint32_t *in, const uint32_t *w, "
                "const int32_t *p, uint32_t *o) {", f"    l2mi_conv2d_packed({mode}, g, pad, in, w, l2m_out_bits(o, p));", "}"]
    for di, (groups, c, n) in enumerate(DENSE):
        for mn, mode in MODES.items():
            out += [
                f"void spec_dense_b_{di}_{mn}(const uint32_t *in, const uint32_t *w, const int32_t *p, uint32_t *o) {{",
                f"    l2mi_dense({mode}, {groups}, {c}, {n}, in, w, l2m_out_bits(o, p));", "}",
                f"void spec_dense_f_{di}_{mn}(const uint32_t *in, const uint32_t *w, const float *p, float *o) {{",
                f"    l2mi_dense({mode}, {groups}, {c}, {n}, in, w, l2m_out_float(o, p));", "}"]
    for eng, (fn, wtype) in FCONV.items():   # float-input convs: 1-bit or float weights
        for wi, case in enumerate(W1):
            g = ", ".join(map(str, engine_libs.geometry(*case)))
            for pv in ("0.0f", "1.0f"):
                tag = pv[0]
                out += [
                    f"void spec_{eng}_b_{wi}_{tag}(const float *in, const {wtype} *w, const float *b, const float *t, "
                    "const int8_t *m, uint32_t *o) {",
                    f"    const l2m_geom g = {{ {g} }};", f"    {fn}(&g, {pv}, in, w, l2m_out_bits_float(o, b, t, m));", "}",
                    f"void spec_{eng}_f_{wi}_{tag}(const float *in, const {wtype} *w, const float *b, float *o) {{",
                    f"    const l2m_geom g = {{ {g} }};", f"    {fn}(&g, {pv}, in, w, l2m_out_float(o, b));", "}"]
        out += [f"/* {fn} with the geometry known only at run time */",
                f"void dyn_{eng}_b(const l2m_geom *g, float pv, const float *in, const {wtype} *w, const float *b, "
                "const float *t, const int8_t *m, uint32_t *o) {",
                f"    {fn}(g, pv, in, w, l2m_out_bits_float(o, b, t, m));", "}",
                f"void dyn_{eng}_f(const l2m_geom *g, float pv, const float *in, const {wtype} *w, const float *b, "
                "float *o) {", f"    {fn}(g, pv, in, w, l2m_out_float(o, b));", "}"]
    for di, (n_in, n_out) in enumerate(FDENSE):
        out += [f"void spec_fd_b_{di}(const float *in, const float *w, const float *b, const float *t, "
                "const int8_t *m, uint32_t *o) {",
                f"    l2mi_dense_f32({n_in}, {n_out}, in, w, l2m_out_bits_float(o, b, t, m));", "}",
                f"void spec_fd_f_{di}(const float *in, const float *w, const float *b, float *o) {{",
                f"    l2mi_dense_f32({n_in}, {n_out}, in, w, l2m_out_float(o, b));", "}"]
    out.append("")
    return "\n".join(out)


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    return engine_libs.build(tmp_path_factory.mktemp("spec"), "l2m_spec_test", _source())


def _p(a):
    return None if a is None else a.ctypes.data_as(ctypes.c_void_p)


def _call(lib, name, n_out, dtype, *args):
    out = np.full(n_out + 4, 0x7FC0DEAD, np.uint32)          # garbage + guard words
    fn = getattr(lib, name)
    fn.restype = None
    fn(*args, _p(out))
    assert (out[n_out:] == 0x7FC0DEAD).all(), f"{name} wrote past its output"
    return out[:n_out].view(dtype).copy()


def _packed(rng, groups: int, c: int) -> np.ndarray:
    return bits.pack(rng.integers(0, 2, (groups, c)).astype(np.int8) * -2 + 1).reshape(-1).astype(np.uint32)


@pytest.mark.parametrize("ci", range(len(CONV)), ids=lambda i: "x".join(map(str, CONV[i])))
def test_spec_conv_matches_ref(libs, ci):
    h, w, c, oc, k, s, same = CONV[ci]
    geom = engine_libs.geometry(*CONV[ci])
    g = (ctypes.c_int32 * 12)(*geom)
    rng = np.random.default_rng(100 + ci)
    x, wt = _packed(rng, h * w, c), _packed(rng, oc * k * k, c)
    thr = rng.integers(-k * k * c, k * k * c + 2, oc).astype(np.int32)
    bias = rng.normal(0, 3, oc).astype(np.float32)
    n_b, n_f = geom[3] * geom[4] * bits.words(oc), geom[3] * geom[4] * oc
    for cc, lib in libs.items():
        for pad in (0, 1):
            want_b = _call(lib, "l2m_conv2d_b32_b32_ref", n_b, np.uint32, ctypes.byref(g), ctypes.c_int32(pad),
                           _p(x), _p(wt), _p(thr))
            want_f = _call(lib, "l2m_conv2d_b32_f32_ref", n_f, np.uint32, ctypes.byref(g), ctypes.c_int32(pad),
                           _p(x), _p(wt), _p(bias))
            want_n = _call(lib, "l2m_conv2d_b32_f32_ref", n_f, np.uint32, ctypes.byref(g), ctypes.c_int32(pad),
                           _p(x), _p(wt), None)
            for mn in MODES:
                got = _call(lib, f"spec_conv_b_{ci}_{mn}_{pad}", n_b, np.uint32, _p(x), _p(wt), _p(thr))
                assert np.array_equal(got, want_b), f"{cc} {mn} pad_one={pad} thresholds"
                got = _call(lib, f"spec_conv_f_{ci}_{mn}_{pad}", n_f, np.uint32, _p(x), _p(wt), _p(bias))
                assert np.array_equal(got, want_f), f"{cc} {mn} pad_one={pad} floats"
                # no bias (NULL): the engines skip the + 0.0f, which must not change a bit
                got = _call(lib, f"spec_conv_f_{ci}_{mn}_{pad}", n_f, np.uint32, _p(x), _p(wt), None)
                assert np.array_equal(got, want_n), f"{cc} {mn} pad_one={pad} floats without bias"


def _check_packed_engine(libs, name: str, idx: int, geom: list, x, wt, thr, bias, dyn: str) -> None:
    """spec_<name>_{b,f}_<idx>_<mode>_<pad> (geometry as constants) and dyn_<name>_<dyn>_<mode>
    (run-time geometry; dyn = b or f) against the packed _ref kernels, as bit patterns: thresholds,
    floats with a bias and without one (NULL: the engines skip the + 0.0f, which must not change a
    bit)."""
    g = (ctypes.c_int32 * 12)(*geom)
    n_b, n_f = geom[3] * geom[4] * bits.words(geom[5]), geom[3] * geom[4] * geom[5]
    for cc, lib in libs.items():
        for pad in (0, 1):
            lead = (ctypes.byref(g), ctypes.c_int32(pad), _p(x), _p(wt))
            cases = {"thresholds": ("b", n_b, _p(thr), "l2m_conv2d_packed_b32_b32_ref"),
                     "floats": ("f", n_f, _p(bias), "l2m_conv2d_packed_b32_f32_ref"),
                     "floats without bias": ("f", n_f, None, "l2m_conv2d_packed_b32_f32_ref")}
            want = {what: _call(lib, ref, n, np.uint32, *lead, arg) for what, (_, n, arg, ref) in cases.items()}
            for mn in MODES:
                for what, (out, n, arg, _) in cases.items():
                    got = _call(lib, f"spec_{name}_{out}_{idx}_{mn}_{pad}", n, np.uint32, _p(x), _p(wt), arg)
                    assert np.array_equal(got, want[what]), f"{cc} {mn} pad_one={pad} {what}"
                what = "thresholds" if dyn == "b" else "floats"
                _, n, arg, _ = cases[what]
                got = _call(lib, f"dyn_{name}_{dyn}_{mn}", n, np.uint32, *lead, arg)
                assert np.array_equal(got, want[what]), f"{cc} {mn} pad_one={pad} run-time geometry"


@pytest.mark.parametrize("ri", range(len(PACKED)), ids=lambda i: "x".join(map(str, PACKED[i])))
def test_spec_packed_conv_matches_ref(libs, ri):
    h, w, c, oc, kh, kw, s, same = PACKED[ri]
    rng = np.random.default_rng(600 + ri)
    x = _packed(rng, h * w, c)
    wt = _packed(rng, oc, kh * kw * c)                    # window bits (ky*k_w + kx)*in_c + c
    thr = rng.integers(-kh * kw * c, kh * kw * c + 2, oc).astype(np.int32)
    bias = rng.normal(0, 3, oc).astype(np.float32)
    _check_packed_engine(libs, "packed", ri, _geometry_hw(*PACKED[ri]), x, wt, thr, bias, "b")


@pytest.mark.parametrize("si", range(len(SMALL)), ids=lambda i: "x".join(map(str, SMALL[i])))
def test_spec_small_window_conv_matches_ref(libs, si):
    """The small-window table engine: bits and floats identical to the packed _ref kernels, both
    pad values (the zero-padded border windows take the masked path), compile-time and run-time
    geometry; floats compared as bit patterns."""
    h, w, c, oc, kh, kw, s, same = SMALL[si]
    rng = np.random.default_rng(900 + si)
    x, wt = _packed(rng, h * w, c), _packed(rng, oc, kh * kw * c)
    k = kh * kw * c
    thr = rng.integers(-k - 1, k + 2, oc).astype(np.int32)    # past both ends: all 0 / all 1 bits too
    bias = rng.normal(0, 3, oc).astype(np.float32)
    _check_packed_engine(libs, "small", si, _geometry_hw(*SMALL[si]), x, wt, thr, bias, "f")


def test_small_window_limits_agree(libs):
    """ops/dot.py's SMALL_K / SMALL_TAB are the C header's, and the lowering's choice is the
    engine's own l2mi_small_fits (so no layer it picks silently falls back)."""
    import re
    from pathlib import Path

    from larq2mcu import ir
    from larq2mcu.ops import dot
    from larq2mcu.variants import get_variant
    hdr = (Path(dot.__file__).resolve().parents[2] / "firmware/runtime/l2m_small_impl.h").read_text()
    assert int(re.search(r"#define L2MI_SMALL_K (\d+)", hdr)[1]) == dot.SMALL_K
    assert int(re.search(r"#define L2MI_SMALL_TAB (\d+)", hdr)[1]) == dot.SMALL_TAB
    lib = next(iter(libs.values()))
    for kh, kw, c, oc in [(3, 3, 1, 32), (3, 3, 1, 33), (1, 1, 9, 31), (1, 1, 10, 2), (2, 2, 2, 63), (1, 1, 1, 160),
                          (1, 1, 1, 161), (3, 3, 1, 1024), (3, 3, 1, 1025)]:
        wts = np.ones((kh, kw, c, oc), np.int8)
        for kind, thr in ((2, None), (0, ir.Threshold(tau=np.zeros(oc, np.int32)))):   # L2M_OUT_FLOAT, _BITS
            op = ir.BinaryConv2D(name="c", inputs=("x",), output="y", layer="c", weights=wts, strides=(1, 1),
                                 pads=(0, 0, 0, 0), pad_one=False, threshold=thr)
            g = (ctypes.c_int32 * 12)(8, 8, c, 8 - kh + 1, 8 - kw + 1, oc, kh, kw, 1, 1, 0, 0)
            r = ctypes.c_int32()
            lib.dyn_small_fits(ctypes.byref(g), ctypes.c_int32(kind), ctypes.byref(r))
            assert dot.small_ok(get_variant("usad8"), op, True) == bool(r.value), (kh, kw, c, oc, kind)
            assert not dot.small_ok(get_variant("builtin"), op, True) and not dot.small_ok(get_variant("ref"), op, True)


@pytest.mark.parametrize("di", range(len(DENSE)), ids=lambda i: "x".join(map(str, DENSE[i])))
def test_spec_dense_matches_ref(libs, di):
    groups, c, n = DENSE[di]
    rng = np.random.default_rng(200 + di)
    x, wt = _packed(rng, groups, c), _packed(rng, n * groups, c)
    thr = rng.integers(-groups * c, groups * c + 2, n).astype(np.int32)
    bias = rng.normal(0, 3, n).astype(np.float32)
    i32 = ctypes.c_int32
    for cc, lib in libs.items():
        want_b = _call(lib, "l2m_dense_b32_b32_ref", bits.words(n), np.uint32, i32(groups), i32(c), i32(n),
                       _p(x), _p(wt), _p(thr))
        want_f = _call(lib, "l2m_dense_b32_f32_ref", n, np.uint32, i32(groups), i32(c), i32(n), _p(x), _p(wt),
                       _p(bias))
        for mn in MODES:
            assert np.array_equal(_call(lib, f"spec_dense_b_{di}_{mn}", bits.words(n), np.uint32, _p(x), _p(wt),
                                        _p(thr)), want_b), f"{cc} {mn}"
            assert np.array_equal(_call(lib, f"spec_dense_f_{di}_{mn}", n, np.uint32, _p(x), _p(wt), _p(bias)),
                                  want_f), f"{cc} {mn}"


@pytest.mark.parametrize("eng", FCONV)
@pytest.mark.parametrize("wi", range(len(W1)), ids=lambda i: "x".join(map(str, W1[i])))
def test_spec_float_input_conv_matches_ref(libs, wi, eng):
    """Same floats bit for bit — the summation order is kept: tap table + prefix sums for 1-bit
    weights (l2m_w1_impl.h), channel blocks for float weights (l2m_float_impl.h) — including -0.0
    inputs, and the same threshold bits with τ set to actual sums (both sides occur); with the
    geometry as constants and at run time."""
    h, w, c, oc, k, s, same = W1[wi]
    geom = engine_libs.geometry(*W1[wi])
    g = (ctypes.c_int32 * 12)(*geom)
    rng = np.random.default_rng(300 + wi)
    x = rng.normal(size=(h, w, c)).astype(np.float32)
    x[0, 0, 0], x[-1, -1, -1] = -0.0, 0.0
    x.reshape(-1)[rng.integers(0, x.size, 3)] = -0.0
    if eng == "w1_f32":
        wt = np.concatenate([_packed(rng, 1, k * k * c) for _ in range(oc)]).astype(np.uint32)
    else:
        wt = rng.normal(size=(k, k, c, oc)).astype(np.float32)
    bias = rng.normal(size=oc).astype(np.float32)
    mode = (np.arange(oc) % 4).astype(np.int8)
    n_b, n_f = geom[3] * geom[4] * bits.words(oc), geom[3] * geom[4] * oc
    for cc, lib in libs.items():
        for pv in (0.0, 1.0):
            tag, gp = str(int(pv)), (ctypes.byref(g), ctypes.c_float(pv))
            args = (_p(x), _p(wt), _p(bias))
            want_f = _call(lib, f"l2m_conv2d_{eng}_f32_ref", n_f, np.float32, *gp, *args)
            tau = want_f.reshape(-1, oc)[geom[3] * geom[4] // 2].copy()
            targs = (*args, _p(tau), _p(mode))
            want_b = _call(lib, f"l2m_conv2d_{eng}_b32_ref", n_b, np.uint32, *gp, *targs)
            assert 0 < int(np.unpackbits(want_b.view(np.uint8)).sum()) < n_b * 32   # both bit values occur
            for got_f, got_b, how in (
                    (_call(lib, f"spec_{eng}_f_{wi}_{tag}", n_f, np.float32, *args),
                     _call(lib, f"spec_{eng}_b_{wi}_{tag}", n_b, np.uint32, *targs), "constant geometry"),
                    (_call(lib, f"dyn_{eng}_f", n_f, np.float32, *gp, *args),
                     _call(lib, f"dyn_{eng}_b", n_b, np.uint32, *gp, *targs), "run-time geometry")):
                assert np.array_equal(got_f.view(np.uint32), want_f.view(np.uint32)), f"{cc} pad {pv} {how} floats"
                assert np.array_equal(got_b, want_b), f"{cc} pad {pv} {how} thresholds"
            # no bias (the engine then adds none: only a zero's sign changes, which no threshold
            # sees) and non-finite inputs (NaN compares false in every mode, mode 1 included)
            xn = x.copy()
            xn.reshape(-1)[rng.integers(0, x.size, 3)] = (np.nan, np.inf, -np.inf)
            nargs = (_p(xn), _p(wt), None, _p(tau), _p(mode))
            want_n = _call(lib, f"l2m_conv2d_{eng}_b32_ref", n_b, np.uint32, *gp, *nargs)
            assert np.array_equal(_call(lib, f"spec_{eng}_b_{wi}_{tag}", n_b, np.uint32, *nargs), want_n), \
                f"{cc} pad {pv} no bias, non-finite inputs"
            assert np.array_equal(_call(lib, f"dyn_{eng}_b", n_b, np.uint32, *gp, *nargs), want_n), cc


@pytest.mark.parametrize("di", range(len(FDENSE)), ids=lambda i: "x".join(map(str, FDENSE[i])))
def test_spec_float_dense_matches_ref(libs, di):
    n_in, n_out = FDENSE[di]
    rng = np.random.default_rng(500 + di)
    x = rng.normal(size=n_in).astype(np.float32)
    wt = rng.normal(size=(n_in, n_out)).astype(np.float32)
    bias = rng.normal(size=n_out).astype(np.float32)
    mode = (np.arange(n_out) % 4).astype(np.int8)
    i32 = ctypes.c_int32
    for cc, lib in libs.items():
        args = (_p(x), _p(wt), _p(bias))
        want_f = _call(lib, "l2m_dense_f32_f32_ref", n_out, np.float32, i32(n_in), i32(n_out), *args)
        targs = (*args, _p(want_f.copy()), _p(mode))
        want_b = _call(lib, "l2m_dense_f32_b32_ref", bits.words(n_out), np.uint32, i32(n_in), i32(n_out), *targs)
        got = _call(lib, f"spec_fd_f_{di}", n_out, np.float32, *args)
        assert np.array_equal(got.view(np.uint32), want_f.view(np.uint32)), cc
        assert np.array_equal(_call(lib, f"spec_fd_b_{di}", bits.words(n_out), np.uint32, *targs), want_b), cc


def test_generated_code_uses_the_specialized_functions(tmp_path, tfm):
    """An export with an optimized variant calls one static function per binary/w1 layer, with the
    geometry as constants; the `ref` export calls the plain kernels."""
    import larq2mcu
    from larq2mcu.dev import zoo
    _, keras, _ = tfm
    keras.utils.set_random_seed(1)
    m = zoo.randomize_bn(zoo.mnist_bnn(input_shape=(12, 12, 1), num_classes=10), seed=2)
    c = larq2mcu.export(m, tmp_path / "hs", name="tiny", kernel_variant="hs").files["tiny.c"]
    assert "static L2M_NOINLINE void tiny_op0_conv2d_w1_f32_b32_hs(" in c
    # hs runs the bit-sliced engine (de Bruijn row selection on its cores), builtin the plain one
    assert "l2mi_conv2d_sliced(L2M_MODE_HS, &g, " in c and "l2mi_dense_sliced(L2M_MODE_HS, " in c
    b = larq2mcu.export(m, tmp_path / "builtin", name="tiny", kernel_variant="builtin").files["tiny.c"]
    assert "l2mi_conv2d(L2M_MODE_BUILTIN, &g, " in b and "l2mi_dense(L2M_MODE_BUILTIN, " in b
    r = larq2mcu.export(m, tmp_path / "ref", name="tiny").files["tiny.c"]
    assert "l2mi_" not in r and "l2m_conv2d_w1_f32_b32_ref(" in r
