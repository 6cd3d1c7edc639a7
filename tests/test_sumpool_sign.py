"""Binary conv + bias → AvgPool2D → sign in integers (passes/fuse_conv_avgpool_sign.py, docs/MATH.md
§12). Levels:
  * the thresholds: for every tap count n and window sum S, (S < τ[n − 1]) is exactly
    (S + n·b < 0) in rational arithmetic, for biases on and next to the multiples of 1/n, huge and
    zero ones; refused biases (inf, NaN, nonzero below 2⁻⁶⁰) stop the rewrite;
  * the kernels: l2m_sumpool_f32_b32_ref against the numpy oracle, and _opt and the engine with
    each geometry as constants (l2mi_sumpool, as generated code runs it) against _ref, bit for bit, over channels 1, 3, 16, 31, 32, 33, 64, odd sizes, strides 1/2, 'valid'/'same' (border
    windows with fewer taps), ±0.0 and integers up to ±(2²⁴ − 1);
  * the seed CNN: both pools become SumPoolSign, its convs lose the bias, and each variant's
    bits at the pools' signs are the exact signs and Keras's bits.
"""
from __future__ import annotations

import ctypes
from fractions import Fraction

import numpy as np
import pytest

import engine_libs
import kernel_harness as H
from larq2mcu import bits, ir
from larq2mcu.ops.pool import sumpool_sign
from larq2mcu.passes.fuse_conv_avgpool_sign import _tau


def _biases(n_max):
    b = [0.0, -0.0, 0.25, -0.25, 1.0, -3.0, 1e30, -1e30, 2.0 ** -60, -(2.0 ** -59), 4.5, 1 / 3, -2 / 3]
    for n in range(1, n_max + 1):
        for s in (-7, 1, 5):               # (0 ± one ulp would be a refused subnormal)
            q = np.float32(s / n)
            b += [float(q), float(np.nextafter(q, np.float32(np.inf))), float(np.nextafter(q, np.float32(-np.inf)))]
    return np.array(b, np.float32)


@pytest.mark.parametrize("taps,k", [(4, 9), (9, 144), (1, 1), (6, 33)])
def test_thresholds_are_the_exact_sign(taps, k):
    b = _biases(taps)
    tau = _tau(b, taps, k)
    assert tau.shape == (taps, len(b)) and tau.dtype == np.int32
    for n in range(1, taps + 1):
        for j, bj in enumerate(b):
            fb = Fraction(float(bj))
            for s in range(-n * k, n * k + 1, max(1, n * k // 50)):
                assert (s < tau[n - 1, j]) == (s + n * fb < 0), (n, float(bj), s)
            for s in (-n * k, n * k):
                assert (s < tau[n - 1, j]) == (s + n * fb < 0), (n, float(bj), s)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, 2.0 ** -61, -1e-30, 1e-45])
def test_thresholds_refuse(bad):
    assert _tau(np.array([1.0, bad], np.float32), 4, 9) is None


def _geoms():
    for c in (1, 3, 16, 31, 32, 33, 64):
        for (kh, kw), st, pad in [((2, 2), 2, "valid"), ((2, 2), 2, "same"), ((3, 3), 2, "same"), ((2, 2), 1, "same"),
                                  ((3, 3), 1, "valid"), ((1, 3), 1, "same")]:
            for h, w in ((5, 7), (2, 2), (9, 4), (1, 1)):
                g, pads = H.geom(h, w, c, c, kh, kw, st, st, pad)
                if g is not None:
                    yield g, pads, (h, w, c)


GEOMS = list(_geoms())


@pytest.fixture(scope="module")
def both_forms(tmp_path_factory):
    """The runtime built with -DL2M_HW_FLOAT=0 and =1 (the host would pick 1)."""
    from larq2mcu import paths
    from larq2mcu.host import build_shared
    rt, tmp, out = paths.runtime_dir(), tmp_path_factory.mktemp("sp"), {}
    for hw in (0, 1):
        so = tmp / f"libsp{hw}.so"
        build_shared(sorted(rt.glob("*.c")), so, [rt], (f"-DL2M_HW_FLOAT={hw}",))
        out[hw] = ctypes.CDLL(str(so))
    return out


@pytest.mark.parametrize("gi", range(0, len(GEOMS), 8))
def test_kernels_match_the_oracle(gi, both_forms):
    for g, pads, shape in GEOMS[gi:gi + 8]:
        rng = H.seeded("sumpool", gi, shape, g.k_h, g.stride_h, pads)
        taps = g.k_h * g.k_w
        lim = int(rng.choice([10, 300, (2 ** 24 - 1) // taps]))     # the contract: window sums below 2^24
        x = rng.integers(-lim, lim + 1, shape).astype(np.float32)
        x.reshape(-1)[rng.random(x.size) < 0.1] = -0.0
        tau = rng.integers(-lim * taps, lim * taps + 1, (taps, shape[2])).astype(np.int32)
        tau[0, 0], tau[-1, -1] = -2 ** 24, 2 ** 24                  # the contract's extremes
        op = ir.SumPoolSign(name="p", inputs=("x",), output="y", pool=(g.k_h, g.k_w), strides=(g.stride_h, g.stride_w),
                            pads=pads, tau=tau)
        want = bits.pack(sumpool_sign(x[None], op)[0])
        ref = H.sumpool_sign(g, tau, x, "ref")
        assert np.array_equal(ref, want.reshape(ref.shape)), (shape, g)
        assert np.array_equal(H.sumpool_sign(g, tau, x, "opt"), ref), (shape, g)
        for hw, lib in both_forms.items():      # the float and the integer form of _opt
            got = engine_libs.call(lib, "l2m_sumpool_f32_b32_opt", ref.size, np.uint32, ctypes.byref(g),
                                   H._in(tau, np.int32), H._in(x, np.float32))
            assert np.array_equal(got, ref.reshape(-1)), (hw, shape, g)


SPEC = GEOMS[::5]     # every channel count and window kind, as constants in a function each


def _spec_source(hw: int) -> str:
    out = [f"#define L2M_HW_FLOAT {hw}", '#include "l2m_pool_impl.h"', ""]
    for i, (g, _, _) in enumerate(SPEC):
        fields = ", ".join(str(getattr(g, f)) for f, _ in H.Geom._fields_)
        out.append(f"void spec_sp_{i}(const int32_t *tau, const float *in, uint32_t *out) {{ "
                   f"const l2m_geom g = {{ {fields} }}; l2mi_sumpool(&g, tau, in, out); }}")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def spec_libs(tmp_path_factory):
    """{(L2M_HW_FLOAT, compiler): CDLL} of the engine specialised per geometry, float and integer form."""
    return {(hw, cc): lib for hw in (0, 1)
            for cc, lib in engine_libs.build(tmp_path_factory.mktemp(f"sps{hw}"), f"l2m_sp{hw}", _spec_source(hw)).items()}


@pytest.mark.parametrize("i", range(len(SPEC)))
def test_engine_with_constant_geometry_equals_ref(spec_libs, i):
    g, pads, shape = SPEC[i]
    rng = H.seeded("sumpool-spec", i, shape)
    taps = g.k_h * g.k_w
    lim = int(rng.choice([10, (2 ** 24 - 1) // taps]))
    x = rng.integers(-lim, lim + 1, shape).astype(np.float32)
    x.reshape(-1)[rng.random(x.size) < 0.1] = -0.0
    tau = rng.integers(-lim * taps, lim * taps + 1, (taps, shape[2])).astype(np.int32)
    ref = H.sumpool_sign(g, tau, x, "ref")
    for key, lib in spec_libs.items():
        got = engine_libs.call(lib, f"spec_sp_{i}", ref.size, np.uint32, H._in(tau, np.int32), H._in(x, np.float32))
        assert np.array_equal(got, ref.reshape(-1)), (key, shape, g)


def test_seed_cnn_pools_run_on_integers(tmp_path):
    """Both conv → pool → sign chains fused; the C's bits at the pools' signs are the exact sign of
    Σ(acc + b) and Keras's bits, for ref, usad8 and hs."""
    import larq2mcu
    from larq2mcu._tf import tf_modules
    from larq2mcu.dev import zoo
    tf, keras, lq = tf_modules()
    m = zoo.seed_mixed_cnn()
    rng = np.random.default_rng(7)
    for layer in m.layers:              # trained-looking biases: nonzero, both signs
        if isinstance(layer, lq.layers.QuantConv2D):
            k, b = layer.get_weights()
            layer.set_weights([k, rng.normal(0, 2, b.shape).astype(np.float32)])
    x = rng.uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    for v in ("ref", "usad8", "hs"):
        e = larq2mcu.export(m, tmp_path / v, name="sp", kernel_variant=v)
        kinds = [type(op) for op in e.graph.ops]
        assert kinds.count(ir.SumPoolSign) == 2 and ir.AvgPool2D not in kinds
        assert all(op.bias is None for op in e.graph.ops if isinstance(op, ir.BinaryConv2D))
        assert ("l2m_sumpool_f32_b32_ref(" if v == "ref" else "l2mi_sumpool(") in e.files["sp.c"]
        pools = [op for op in e.graph.ops if isinstance(op, ir.SumPoolSign)]
        with e.build_host() as h:
            got = h.intermediates(x, [t for p in pools for t in (p.inputs[0], p.output)])
        keras_pools = [layer for layer in m.layers if isinstance(layer, keras.layers.AveragePooling2D)]
        for p, layer in zip(pools, keras_pools):
            acc = np.asarray(got[p.inputs[0]], np.float64)
            assert np.array_equal(acc, np.round(acc))
            sub = keras.Model(m.inputs, layer.output)
            keras_pm = np.where(sub.predict(x, verbose=0) < 0, -1, 1)
            mine = np.asarray(got[p.output]).reshape(keras_pm.shape)
            assert np.array_equal(mine, sumpool_sign(acc, p)), v
            assert np.array_equal(mine, keras_pm), v
