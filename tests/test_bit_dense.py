"""The float Dense on bits (issue #14): Dequantize → Dense becomes one BitDense
(passes/fuse_dequantize_dense.py) whose kernels, l2m_dense_fw_b32_{f32,b32}_ref and the
l2mi_dense_fw engine of generated code, must give exactly the floats the float Dense kernels give
on the ±1.0 inputs the bits stand for (x·w is exact, so acc + x·w is acc ± w). Sizes cross the word
and block boundaries: channels 1, 31, 32, 33, 63 per group, several groups (the (groups, c) packing
of a flattened map), 1, 7, 8, 9 and 120 outputs; weights span magnitudes (cancellation, ±0)."""
from __future__ import annotations

import numpy as np
import pytest

import engine_libs
import kernel_harness as H
from larq2mcu import bits, ir

# (groups, c, out_n)
CASES = [(1, 1, 1), (1, 31, 7), (1, 32, 8), (1, 33, 9), (3, 63, 17), (36, 16, 120), (1, 576, 10), (5, 1, 3)]


def _data(groups, c, out_n, key):
    rng = H.seeded("bitdense", key, groups, c, out_n)
    pm = H.pm1(rng, (groups, c))
    w = (rng.normal(0, 1, (groups * c, out_n)) * 10.0 ** rng.integers(-6, 6, (groups * c, out_n))).astype(np.float32)
    w.reshape(-1)[: min(4, w.size)] = np.float32([0.0, -0.0, 3e38, -3e38])[: min(4, w.size)]
    bias = rng.normal(0, 3, out_n).astype(np.float32)
    return pm, bits.pack(pm).reshape(-1), w, bias


def _fw(name, groups, c, out_n, packed, w, *rest, out_shape, dtype):
    arrs = [H._in(packed, np.uint32), H._in(w, np.float32), *rest]
    out = H._Out(out_shape, dtype)
    return H._call(name, out, [groups, c, out_n, *(H._p(a) for a in arrs), out.ptr], arrs)


@pytest.mark.parametrize("groups,c,out_n", CASES)
def test_ref_kernels_equal_the_float_dense_on_pm1(groups, c, out_n):
    pm, packed, w, bias = _data(groups, c, out_n, "ref")
    x = pm.reshape(-1).astype(np.float32)
    for b in (bias, None):
        want = H.dense_f32(x, w, b)
        got = _fw("l2m_dense_fw_b32_f32_ref", groups, c, out_n, packed, w, *( [H._in(b, np.float32)] if b is not None
                  else [None]), out_shape=(out_n,), dtype=np.float32)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    tau = np.concatenate([H.dense_f32(x, w, bias)[: out_n // 2], np.zeros(out_n - out_n // 2)]).astype(np.float32)
    mode = np.arange(out_n, dtype=np.int8) % 4
    want = H.dense_f32_b32(x, w, bias, tau, mode)
    got = _fw("l2m_dense_fw_b32_b32_ref", groups, c, out_n, packed, w, H._in(bias, np.float32), H._in(tau, np.float32),
              H._in(mode, np.int8), out_shape=(bits.words(out_n),), dtype=np.uint32)
    assert np.array_equal(got, want)


def _source() -> str:
    out = ['#include "l2m_float_impl.h"', ""]
    for i, (groups, c, n) in enumerate(CASES):
        out += [f"void spec_fw_f_{i}(const uint32_t *in, const float *w, const float *b, float *o) {{",
                f"    l2mi_dense_fw({groups}, {c}, {n}, in, w, l2m_out_float(o, b));", "}",
                f"void spec_fw_bn_{i}(const uint32_t *in, const float *w, const float *b, const float *bn, float *o) {{",
                f"    l2mi_dense_fw({groups}, {c}, {n}, in, w, l2m_out_float_bn(o, b, bn));", "}",
                f"void spec_fw_b_{i}(const uint32_t *in, const float *w, const float *b, const float *t, "
                "const int8_t *m, uint32_t *o) {",
                f"    l2mi_dense_fw({groups}, {c}, {n}, in, w, l2m_out_bits_float(o, b, t, m));", "}"]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    return engine_libs.build(tmp_path_factory.mktemp("fw"), "l2m_fw_test", _source())


@pytest.mark.parametrize("i", range(len(CASES)))
def test_engine_with_constant_sizes_equals_ref(libs, i):
    groups, c, out_n = CASES[i]
    pm, packed, w, bias = _data(groups, c, out_n, "spec")
    x = pm.reshape(-1).astype(np.float32)
    packed, w = H._in(packed, np.uint32), H._in(w, np.float32)
    bn = H.seeded("bn", i).normal(0, 2, (out_n, 3)).astype(np.float32)
    want = H.dense_f32(x, w, bias)
    want_bn = H.batchnorm(want.reshape(1, -1), bn[:, 0], bn[:, 1], bn[:, 2]).reshape(-1)
    tau = np.float32(H.seeded("tau", i).normal(0, 3, out_n))
    mode = np.arange(out_n, dtype=np.int8) % 4
    want_b = H.dense_f32_b32(x, w, bias, tau, mode)
    for cc, lib in libs.items():
        got = engine_libs.call(lib, f"spec_fw_f_{i}", out_n, np.float32, packed, w, bias)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), cc
        got = engine_libs.call(lib, f"spec_fw_bn_{i}", out_n, np.float32, packed, w, bias, H._in(bn.reshape(-1), np.float32))
        assert np.array_equal(got.view(np.uint32), want_bn.view(np.uint32)), cc
        got = engine_libs.call(lib, f"spec_fw_b_{i}", bits.words(out_n), np.uint32, packed, w, bias, tau, mode)
        assert np.array_equal(got, want_b), cc


def test_float_sums_where_fixed_point_declines(tmp_path):
    """A Dense on sign(x) of 6 inputs (too few for fixed-point weights, layout/fixed.py; the seed
    CNN's Dense runs on them: tests/test_fixed_dense.py) keeps the float sums: in the export (ref
    and usad8) it gives, sample by sample, the float Dense kernel's floats on the ±1.0 inputs."""
    import larq2mcu
    from larq2mcu._tf import tf_modules
    tf, keras, lq = tf_modules()
    keras.utils.set_random_seed(5)
    m = keras.Sequential([keras.Input((6,)), lq.layers.QuantDense(5, input_quantizer="ste_sign", kernel_quantizer=None),
                          keras.layers.Activation("sigmoid")])
    x = np.random.default_rng(3).uniform(-1, 1, (16, 6)).astype(np.float32)
    outs = {}
    for v in ("ref", "usad8"):
        e = larq2mcu.export(m, tmp_path / v, name="sd", kernel_variant=v)
        kinds = [type(op) for op in e.graph.ops]
        assert ir.BitDense in kinds and ir.Dequantize not in kinds
        assert ("l2m_dense_fw_b32_f32_ref(" if v == "ref" else "l2mi_dense_fw(") in e.files["sd.c"]
        bd = next(op for op in e.graph.ops if isinstance(op, ir.BitDense))
        assert bd.bn is None and bd.threshold is None
        with e.build_host() as h:
            got = h.intermediates(x, [bd.inputs[0], bd.output])
        pm = np.asarray(got[bd.inputs[0]], np.float32).reshape(len(x), -1)
        assert set(np.unique(pm)) == {-1.0, 1.0}
        want = np.stack([H.dense_f32(p, bd.kernel, bd.bias) for p in pm])
        outs[v] = np.asarray(got[bd.output], np.float32)
        assert np.array_equal(outs[v].view(np.uint32), want.view(np.uint32)), v
    assert np.array_equal(outs["ref"].view(np.uint32), outs["usad8"].view(np.uint32))
