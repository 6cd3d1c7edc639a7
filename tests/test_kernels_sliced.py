"""The bit-sliced binary engine (l2m_sliced_impl.h, 32 filters counted at once from transposed
weight rows, thresholds as bit-sliced counter planes built by larq2mcu/layout/sliced.py) gives
exactly bit = (acc < thr) of the reference binary conv/dense — and, for float outputs,
(float)acc + bias bit for bit: its plain twins l2m_*_sliced_b32_{b32,f32}_ref, the engine
instantiated with constant geometry (as generated code does) and with run-time geometry,
compiled by gcc and clang.

Awkward cases: channels 1, 3, 16, 31, 32, 33, 63, 64, 128 (standard and densely packed windows),
odd images, stride 2, same (+1 padding) / valid, 1 to 4 blocks of filters and a partial block,
windows of 1 to 64 words, dense layers up to 4 096 bits (the stack copy's 128 words); inputs with every density (none set,
all set — the complement path —, 10 %, 50 %, 90 %) and thresholds on both sides of every
accumulator, plus never/always-set channels (the clamp) and parities of P on both sides.
"""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import engine_libs
import kernel_harness as H
from larq2mcu import bits, reference
from larq2mcu.layout import sliced
from larq2mcu.layout import weights as wt

MODES = {"csa": "L2M_MODE_CSA", "builtin": "L2M_MODE_BUILTIN"}
# (h, w, in_c, out_c, k_h, k_w, stride, same)
CONV = [(6, 7, 32, 32, 3, 3, 1, True), (7, 5, 64, 64, 3, 3, 2, True), (5, 6, 33, 32, 3, 3, 1, False),
        (5, 5, 63, 96, 2, 2, 1, True), (4, 5, 128, 32, 3, 3, 1, True), (7, 7, 1, 32, 3, 3, 1, True),
        (6, 5, 3, 64, 3, 3, 2, True), (7, 6, 16, 32, 3, 3, 1, True), (5, 7, 31, 40, 3, 3, 1, False),
        (3, 3, 32, 128, 1, 1, 1, False), (9, 8, 16, 33, 5, 5, 1, True), (4, 4, 256, 32, 2, 2, 2, True)]
DENSE = [(1, 32, 32), (1, 33, 64), (1, 1, 32), (49, 64, 128), (9, 3, 96), (25, 33, 40), (1, 4096, 64)]
DENSITIES = (0.0, 1.0, 0.1, 0.5, 0.9)


def _geometry(h, w, c, oc, kh, kw, s, same):
    g, pads = H.geom(h, w, c, oc, kh, kw, s, s, "same" if same else "valid")
    return g, pads


def _source() -> str:
    out = ['#include "l2m_sliced_impl.h"', ""]
    for ci, case in enumerate(CONV):
        g, _ = _geometry(*case)
        packed = int(wt.packed_layout(np.zeros(case[4:6] + (case[2], case[3]))))
        init = ", ".join(str(getattr(g, f)) for f, _ in H.Geom._fields_)
        for mn, mode in MODES.items():
            out += [f"void spec_conv_{ci}_{mn}(const uint32_t *in, const uint32_t *w, const uint32_t *p, uint32_t *o) {{",
                    f"    const l2m_geom g = {{ {init} }};",
                    f"    l2mi_conv2d_sliced({mode}, &g, {packed}, in, w, NULL, l2m_out_bits_planes(o, p));", "}",
                    f"void spec_convf_{ci}_{mn}(const uint32_t *in, const uint32_t *w, const int32_t *kc, const float *b, "
                    "float *o) {", f"    const l2m_geom g = {{ {init} }};",
                    f"    l2mi_conv2d_sliced({mode}, &g, {packed}, in, w, kc, l2m_out_float(o, b));", "}"]
    for di, (groups, c, n) in enumerate(DENSE):
        for mn, mode in MODES.items():
            out += [f"void spec_dense_{di}_{mn}(const uint32_t *in, const uint32_t *w, const uint32_t *p, uint32_t *o) {{",
                    f"    l2mi_dense_sliced({mode}, {groups}, {c}, {n}, in, w, NULL, l2m_out_bits_planes(o, p));", "}",
                    f"void spec_densef_{di}_{mn}(const uint32_t *in, const uint32_t *w, const int32_t *kc, const float *b, "
                    "float *o) {", f"    l2mi_dense_sliced({mode}, {groups}, {c}, {n}, in, w, kc, l2m_out_float(o, b));", "}"]
    for mn, mode in MODES.items():
        out += [f"void dyn_conv_{mn}(const l2m_geom *g, int32_t packed, const uint32_t *in, const uint32_t *w, "
                "const uint32_t *p, uint32_t *o) {",
                f"    l2mi_conv2d_sliced({mode}, g, packed, in, w, NULL, l2m_out_bits_planes(o, p));", "}",
                f"void dyn_dense_{mn}(int32_t groups, int32_t c, int32_t n, const uint32_t *in, const uint32_t *w, "
                "const uint32_t *p, uint32_t *o) {",
                f"    l2mi_dense_sliced({mode}, groups, c, n, in, w, NULL, l2m_out_bits_planes(o, p));", "}"]
    return "\n".join(out + [""])


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    """Each host compiler twice: with its clz, and with L2M_HW_CLZ 0 — the de Bruijn row selection
    that Cortex-M0 and rv32imc run (rows taken lowest bit first: other order, same sums)."""
    tmp = tmp_path_factory.mktemp("sliced")
    out = engine_libs.build(tmp, "l2m_sliced_test", _source())
    soft = engine_libs.build(tmp, "l2m_sliced_test_noclz", _source(), ("-DL2M_HW_CLZ=0",))
    return {**out, **{f"{cc} L2M_HW_CLZ=0": lib for cc, lib in soft.items()}}


def _call(fn, n_out, *args):
    out = np.full(n_out + 4, 0x7FC0DEAD, np.uint32)
    fn.restype = None
    fn(*args, H._p(out))
    assert (out[n_out:] == 0x7FC0DEAD).all(), "wrote past its output"
    return out[:n_out].copy()


def _x(rng, shape, density):
    return np.where(rng.random(shape) < density, -1, 1).astype(np.int8)


def _thresholds(rng, acc, k):
    """Per channel: a value taken from the accumulators (± 1), or a never/always-set extreme."""
    oc = acc.shape[-1]
    flat = acc.reshape(-1, oc)
    thr = flat[rng.integers(0, len(flat), oc), np.arange(oc)] + rng.integers(-1, 2, oc)
    ext = rng.random(oc) < 0.2
    thr[ext] = rng.choice([-k - 9, -k, -k + 1, k, k + 1, k + 40], ext.sum())
    return thr.astype(np.int32)


def _expected(acc, thr):
    return bits.pack(np.where(acc < thr, -1, 1).astype(np.int8)).astype(np.uint32)


@pytest.mark.parametrize("ci", range(len(CONV)), ids=lambda i: "x".join(map(str, CONV[i])))
def test_sliced_conv_equals_reference(libs, ci):
    h, w, c, oc, kh, kw, s, same = CONV[ci]
    g, pads = _geometry(*CONV[ci])
    rng = np.random.default_rng(700 + ci)
    wts = H.pm1(rng, (kh, kw, c, oc))
    packed, std = wt.conv_layout(wts)
    nwin = std.shape[1]
    assert nwin <= sliced.MAX_CONV_WORDS
    k = kh * kw * c
    rows = sliced.rows(std)
    assert rows.size == bits.words(oc) * (nwin * 32 + 8)
    for d in DENSITIES:
        x = _x(rng, (h, w, c), d)
        acc = reference.binary_conv_acc(x[None], wts, (s, s), pads, True)[0]
        thr = _thresholds(rng, acc, k)
        want = _expected(acc, thr).reshape(-1)
        pl = sliced.planes(std, thr, k)
        xp = bits.pack(x).reshape(-1).astype(np.uint32)
        ref = _call(H.lib().l2m_conv2d_sliced_b32_b32_ref, want.size, ctypes.byref(g), ctypes.c_int32(int(packed)),
                    H._p(xp), H._p(rows), H._p(pl))
        assert np.array_equal(ref, want), f"_ref, density {d}"
        for cc, lib in libs.items():
            for mn in MODES:
                got = _call(getattr(lib, f"spec_conv_{ci}_{mn}"), want.size, H._p(xp), H._p(rows), H._p(pl))
                assert np.array_equal(got, want), f"{cc} {mn} constant geometry, density {d}"
                got = _call(getattr(lib, f"dyn_conv_{mn}"), want.size, ctypes.byref(g), ctypes.c_int32(int(packed)),
                            H._p(xp), H._p(rows), H._p(pl))
                assert np.array_equal(got, want), f"{cc} {mn} run-time geometry, density {d}"


@pytest.mark.parametrize("di", range(len(DENSE)), ids=lambda i: "x".join(map(str, DENSE[i])))
def test_sliced_dense_equals_reference(libs, di):
    groups, c, n = DENSE[di]
    rng = np.random.default_rng(800 + di)
    wts = H.pm1(rng, (groups * c, n))
    std = wt.pack_dense(wts, (groups, c)).reshape(n, -1)
    rows = sliced.rows(std)
    k = groups * c
    for d in DENSITIES:
        x = _x(rng, (groups, c), d)
        acc = reference.binary_dense_acc(x.reshape(1, -1), wts)
        thr = _thresholds(rng, acc, k)
        want = _expected(acc, thr).reshape(-1)
        pl = sliced.planes(std, thr, k)
        xp = bits.pack(x).reshape(-1).astype(np.uint32)
        ref = _call(H.lib().l2m_dense_sliced_b32_b32_ref, want.size, ctypes.c_int32(groups), ctypes.c_int32(c),
                    ctypes.c_int32(n), H._p(xp), H._p(rows), H._p(pl))
        assert np.array_equal(ref, want), f"_ref, density {d}"
        for cc, lib in libs.items():
            for mn in MODES:
                got = _call(getattr(lib, f"spec_dense_{di}_{mn}"), want.size, H._p(xp), H._p(rows), H._p(pl))
                assert np.array_equal(got, want), f"{cc} {mn} constant sizes, density {d}"
                got = _call(getattr(lib, f"dyn_dense_{mn}"), want.size, ctypes.c_int32(groups), ctypes.c_int32(c),
                            ctypes.c_int32(n), H._p(xp), H._p(rows), H._p(pl))
                assert np.array_equal(got, want), f"{cc} {mn} run-time sizes, density {d}"


def test_planes_count_matches_c():
    for k in (1, 2, 9, 31, 32, 288, 1000, 2304, 65535, 1 << 20):
        assert sliced.planes_count(k) == H.lib().l2m_sliced_planes(ctypes.c_int32(k)), k


def test_every_parity_and_mode_is_exercised():
    """The densities above reach both selections (set / clear bits) and both parities of P."""
    rng = np.random.default_rng(5)
    seen = set()
    for d in DENSITIES:
        for _ in range(4):
            p = int((_x(rng, (9 * 32,), d) < 0).sum())
            seen.add((288 - p < p, p & 1))
    assert seen == {(False, 0), (False, 1), (True, 0), (True, 1)}


def test_eligibility():
    assert sliced.eligible_conv(64, 9, padded=True, pad_one=True)
    assert sliced.eligible_conv(32, 9, padded=False, pad_one=False)       # valid: nothing padded
    assert not sliced.eligible_conv(64, 9, padded=True, pad_one=False)    # zero padding
    assert not sliced.eligible_conv(40, 9, padded=False, pad_one=True)    # a partial block
    assert not sliced.eligible_conv(32, 65, padded=False, pad_one=True)   # past the stack copy
    assert sliced.eligible_dense(128, 72) and not sliced.eligible_dense(10, 72)
    assert not sliced.eligible_dense(64, 129)                              # past the stack copy


def _floats(fn, n_out, *args):
    return _call(fn, n_out, *args).view(np.float32)


@pytest.mark.parametrize("ci", range(len(CONV)), ids=lambda i: "x".join(map(str, CONV[i])))
def test_sliced_conv_float_outputs_equal_reference(libs, ci):
    """Float outputs: (float)acc + bias, bit for bit, from the counts read back per filter."""
    h, w, c, oc, kh, kw, s, same = CONV[ci]
    g, pads = _geometry(*CONV[ci])
    rng = np.random.default_rng(900 + ci)
    wts = H.pm1(rng, (kh, kw, c, oc))
    packed, std = wt.conv_layout(wts)
    rows, kc = sliced.rows(std), sliced.popcounts(std)
    for d, with_bias in zip(DENSITIES, (True, False, True, True, False)):
        x = _x(rng, (h, w, c), d)
        acc = reference.binary_conv_acc(x[None], wts, (s, s), pads, True)[0]
        bias = rng.normal(0, 3, oc).astype(np.float32) if with_bias else None
        want = (acc.astype(np.float32) + (bias if with_bias else np.float32(0))).reshape(-1)
        xp = bits.pack(x).reshape(-1).astype(np.uint32)
        bp = H._p(bias)
        ref = _floats(H.lib().l2m_conv2d_sliced_b32_f32_ref, want.size, ctypes.byref(g), ctypes.c_int32(int(packed)),
                      H._p(xp), H._p(rows), H._p(kc), bp)
        assert np.array_equal(ref.view(np.uint32), want.view(np.uint32)), f"_ref, density {d}"
        for cc, lib in libs.items():
            for mn in MODES:
                got = _floats(getattr(lib, f"spec_convf_{ci}_{mn}"), want.size, H._p(xp), H._p(rows), H._p(kc), bp)
                assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), f"{cc} {mn} density {d}"


@pytest.mark.parametrize("di", range(len(DENSE)), ids=lambda i: "x".join(map(str, DENSE[i])))
def test_sliced_dense_float_outputs_equal_reference(libs, di):
    groups, c, n = DENSE[di]
    rng = np.random.default_rng(950 + di)
    wts = H.pm1(rng, (groups * c, n))
    std = wt.pack_dense(wts, (groups, c)).reshape(n, -1)
    rows, kc = sliced.rows(std), sliced.popcounts(std)
    for d in DENSITIES:
        x = _x(rng, (groups, c), d)
        acc = reference.binary_dense_acc(x.reshape(1, -1), wts)[0]
        bias = rng.normal(0, 3, n).astype(np.float32)
        want = acc.astype(np.float32) + bias
        xp = bits.pack(x).reshape(-1).astype(np.uint32)
        ref = _floats(H.lib().l2m_dense_sliced_b32_f32_ref, n, ctypes.c_int32(groups), ctypes.c_int32(c),
                      ctypes.c_int32(n), H._p(xp), H._p(rows), H._p(kc), H._p(bias))
        assert np.array_equal(ref.view(np.uint32), want.view(np.uint32)), f"_ref, density {d}"
        for cc, lib in libs.items():
            for mn in MODES:
                got = _floats(getattr(lib, f"spec_densef_{di}_{mn}"), n, H._p(xp), H._p(rows), H._p(kc), H._p(bias))
                assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), f"{cc} {mn} density {d}"
