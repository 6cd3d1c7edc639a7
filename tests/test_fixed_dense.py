"""Fixed-point weights for the float Dense on bits (issue #14: soft-float cores pay a library call
per float add; larq2mcu/layout/fixed.py, docs/MATH.md §11). Four levels:
  * `quantize`: every output's integer weights within the int32 limit, the exponent maximal, the
    value within the bound the docstring derives and within the float32 sum's own bound γₙ·Σ|w|
    (what the oracle's rounding bounds assume), and declined exactly where the docstring says;
  * the reference kernels l2m_dense_qw_b32_{f32,b32}_ref give `fixed.value` + bias bit for bit;
  * the l2mi_dense_qw engine with constant sizes gives the reference's floats and bits (blocks of
    8 outputs: 1, 7, 8, 9, 17, 120 outputs; 1, 31, 32, 33, 63 channels per group, several groups);
  * the seed CNN's Dense 120 runs on it in the export (ref and usad8 identical), within the float
    bound of the float Dense on the same bits.
"""
from __future__ import annotations

import numpy as np
import pytest

import engine_libs
import kernel_harness as H
from larq2mcu import bits, ir
from larq2mcu.layout import fixed
from larq2mcu.ops import _bounds
from larq2mcu.ops.dot import float_threshold_bits

U = 2.0 ** -24
# (groups, c, out_n)
CASES = [(1, 8, 1), (1, 31, 7), (1, 32, 8), (1, 33, 9), (3, 63, 17), (36, 16, 120), (1, 576, 10), (9, 1, 3),
         (1, 64, 128), (2, 33, 131)]   # 128 / 131: one whole tile of l2mi_dense_qw / a second one of 3


def _kernel(rng, n, m, spread=6):
    """Weights spanning 10^±spread within each output, with exact zeros and signed zeros."""
    w = (rng.normal(0, 1, (n, m)) * 10.0 ** rng.integers(-spread, spread + 1, (n, m))).astype(np.float32)
    w.reshape(-1)[: min(3, w.size)] = np.float32([0.0, -0.0, 0.0])[: min(3, w.size)]
    return w


@pytest.mark.parametrize("n,m,spread,seed", [(8, 5, 0, 0), (9, 3, 6, 1), (576, 120, 3, 2), (4096, 4, 1, 3),
                                             (33, 64, 12, 4), (200, 7, 0, 5)])
def test_quantize_limit_exponent_and_bound(n, m, spread, seed):
    rng = H.seeded("fixed", n, m, seed)
    k = _kernel(rng, n, m, spread)
    k[:, 0] *= np.float32(1e-20)                     # tiny and huge columns: exponents far from 0
    if m > 1:
        k[:, 1] *= np.float32(1e25)
    fx = fixed.quantize(k)
    assert fx is not None
    w = fx.w.astype(np.int64)
    assert np.all(np.abs(w).sum(axis=0) <= fixed.LIMIT)
    assert np.array_equal(fx.wsum, w.sum(axis=0))
    e = -np.log2(fx.scale.astype(np.float64))
    assert np.array_equal(e, np.round(e))
    k64 = k.astype(np.float64)
    for o in range(m):                               # maximal: one more bit of scale breaks the limit
        assert np.abs(np.round(np.ldexp(k64[:, o], int(e[o]) + 1))).sum() > fixed.LIMIT
    s = np.abs(k64).sum(axis=0)
    signs = np.concatenate([H.pm1(rng, (64, n)), np.sign(w.T) + (w.T == 0),    # worst case: every W rounded one way
                            -np.sign(w.T) - (w.T == 0)]).astype(np.int64)
    got = fixed.value(fx, signs).astype(np.float64)
    exact = signs @ k64
    err = np.abs(got - exact)
    half_q = np.ldexp(0.5, -e.astype(int))
    assert np.all(err <= n * half_q * (1 + U) + U * s)
    assert np.all(err <= (n / 64 + 1.04) * U * s)
    assert np.all(err <= _bounds.gamma(n) * s)


@pytest.mark.parametrize("kernel,why", [
    (np.ones((7, 3), np.float32), "fewer than 8 inputs"),
    (np.ones((2 ** 16 + 1, 1), np.float32), "more than 2^16 inputs"),
    (np.where(np.eye(9, 2) > 0, np.inf, 1.0).astype(np.float32), "an infinite weight"),
    (np.where(np.eye(9, 2) > 0, np.nan, 1.0).astype(np.float32), "a NaN weight"),
    (np.full((9, 2), 1e-38, np.float32), "an exponent above 126"),
    (np.full((9, 2), 3e38, np.float32), "a result beyond FLT_MAX"),
])
def test_quantize_declines(kernel, why):
    assert fixed.quantize(kernel) is None, why


def test_all_zero_output_is_exact_zero():
    k = np.zeros((16, 3), np.float32)
    k[:, 1] = 0.25
    fx = fixed.quantize(k)
    v = fixed.value(fx, H.pm1(H.seeded("z"), (5, 16)))
    assert np.all(v[:, [0, 2]] == 0) and not np.signbit(v[:, [0, 2]]).any()


def _data(groups, c, out_n, key):
    rng = H.seeded("qw", key, groups, c, out_n)
    pm = H.pm1(rng, (groups, c))
    fx = fixed.quantize(_kernel(rng, groups * c, out_n))
    bias = rng.normal(0, 3, out_n).astype(np.float32)
    return pm, bits.pack(pm).reshape(-1), fx, bias


def _want(pm, fx, bias):
    v = fixed.value(fx, pm.reshape(-1))
    return v if bias is None else (v + bias).astype(np.float32)


def _tau_mode(want, out_n):
    tau = np.concatenate([want[: out_n // 2], np.zeros(out_n - out_n // 2)]).astype(np.float32)  # ties included
    return tau, np.arange(out_n, dtype=np.int8) % 4


def _want_bits(want, tau, mode):
    return bits.pack(float_threshold_bits(want, ir.FloatThreshold(tau, mode))).reshape(-1)


def _qw(name, groups, c, out_n, packed, fx, *rest, out_shape, dtype):
    arrs = [H._in(packed, np.uint32), H._in(fx.w, np.int32), H._in(fx.wsum, np.int32), H._in(fx.scale, np.float32),
            *rest]
    out = H._Out(out_shape, dtype)
    return H._call(name, out, [groups, c, out_n, *(H._p(a) for a in arrs), out.ptr], arrs)


@pytest.mark.parametrize("groups,c,out_n", CASES)
def test_ref_kernels_give_the_fixed_point_value(groups, c, out_n):
    pm, packed, fx, bias = _data(groups, c, out_n, "ref")
    for b in (bias, None):
        got = _qw("l2m_dense_qw_b32_f32_ref", groups, c, out_n, packed, fx, None if b is None else H._in(b, np.float32),
                  out_shape=(out_n,), dtype=np.float32)
        assert np.array_equal(got.view(np.uint32), _want(pm, fx, b).view(np.uint32))
    want = _want(pm, fx, bias)
    tau, mode = _tau_mode(want, out_n)
    got = _qw("l2m_dense_qw_b32_b32_ref", groups, c, out_n, packed, fx, H._in(bias, np.float32), H._in(tau, np.float32),
              H._in(mode, np.int8), out_shape=(bits.words(out_n),), dtype=np.uint32)
    assert np.array_equal(got, _want_bits(want, tau, mode))


def _source() -> str:
    out = ['#include "l2m_float_impl.h"', ""]
    head = "const uint32_t *in, const int32_t *w, const int32_t *ws, const float *sc, const float *b"
    for i, (groups, c, n) in enumerate(CASES):
        call = f"l2mi_dense_qw({groups}, {c}, {n}, in, w, ws, sc, "
        out += [f"void spec_qw_f_{i}({head}, float *o) {{ {call}l2m_out_float(o, b)); }}",
                f"void spec_qw_bn_{i}({head}, const float *bn, float *o) {{ {call}l2m_out_float_bn(o, b, bn)); }}",
                f"void spec_qw_b_{i}({head}, const float *t, const int8_t *m, uint32_t *o) {{ "
                f"{call}l2m_out_bits_float(o, b, t, m)); }}"]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    return engine_libs.build(tmp_path_factory.mktemp("qw"), "l2m_qw_test", _source())


@pytest.mark.parametrize("i", range(len(CASES)))
def test_engine_with_constant_sizes_equals_ref(libs, i):
    groups, c, out_n = CASES[i]
    pm, packed, fx, bias = _data(groups, c, out_n, "spec")
    arrs = (H._in(packed, np.uint32), H._in(fx.w, np.int32), H._in(fx.wsum, np.int32), H._in(fx.scale, np.float32))
    bn = H.seeded("bn", i).normal(0, 2, (out_n, 3)).astype(np.float32)
    for b in (bias, None):
        want = _want(pm, fx, b)
        want_bn = H.batchnorm(want.reshape(1, -1), bn[:, 0], bn[:, 1], bn[:, 2]).reshape(-1)
        tau, mode = _tau_mode(want, out_n)
        want_b = _want_bits(want, tau, mode)
        for cc, lib in libs.items():
            got = engine_libs.call(lib, f"spec_qw_f_{i}", out_n, np.float32, *arrs, b)
            assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), cc
            got = engine_libs.call(lib, f"spec_qw_bn_{i}", out_n, np.float32, *arrs, b, H._in(bn.reshape(-1), np.float32))
            assert np.array_equal(got.view(np.uint32), want_bn.view(np.uint32)), cc
            got = engine_libs.call(lib, f"spec_qw_b_{i}", bits.words(out_n), np.uint32, *arrs, b, tau, mode)
            assert np.array_equal(got, want_b), cc


def test_seed_cnn_dense_runs_on_integers(tmp_path):
    """The seed paper's Dense 120 on sign(x): fixed-point in the export (ref and usad8 give the same
    floats, fixed.value + bias), within the float32 bound of the float Dense on the same ±1.0."""
    import larq2mcu
    from larq2mcu.dev import zoo
    m = zoo.randomize_bn(zoo.seed_mixed_cnn(), seed=4)
    x = np.random.default_rng(3).uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    outs = {}
    for v in ("ref", "usad8"):
        e = larq2mcu.export(m, tmp_path / v, name="sd", kernel_variant=v)
        assert ("l2m_dense_qw_b32_f32_ref(" if v == "ref" else "l2mi_dense_qw(") in e.files["sd.c"]
        assert "dense_fw" not in e.files["sd.c"]
        bd = next(op for op in e.graph.ops if isinstance(op, ir.BitDense))
        with e.build_host() as h:
            got = h.intermediates(x, [bd.inputs[0], bd.output])
        pm = np.asarray(got[bd.inputs[0]], np.float32).reshape(len(x), -1)
        assert set(np.unique(pm)) == {-1.0, 1.0}
        outs[v] = np.asarray(got[bd.output], np.float32)
        fx = fixed.quantize(bd.kernel)
        want = (fixed.value(fx, pm) + bd.bias).astype(np.float32)
        assert np.array_equal(outs[v].view(np.uint32), want.view(np.uint32)), v
        k = bd.kernel.astype(np.float64)
        n = k.shape[0] + 1
        bound = _bounds.gamma(n) * (np.abs(k).sum(axis=0) + np.abs(bd.bias))
        flt = np.stack([H.dense_f32(p, bd.kernel, bd.bias) for p in pm]).astype(np.float64)
        assert np.all(np.abs(outs[v] - flt) <= 2 * bound)
    assert np.array_equal(outs["ref"].view(np.uint32), outs["usad8"].view(np.uint32))
