"""Grouped, dilated, depthwise and separable convs (ir.BinaryGroupConv2D / ir.GroupConv2D):
the l2m_gconv2d_*_ref kernels bit-exact against the op's numpy oracle over awkward sizes, then
whole models exported, built on the host and compared with Keras (bits identical at every binary
tensor, BN + sign folded into thresholds)."""
from __future__ import annotations

import ctypes
import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernel_harness as H
import larq2mcu
import model_cases as mc
from kernel_harness import assert_bits, assert_same_floats, op, pm1, ref, seeded
from larq2mcu import bits, ir
from larq2mcu.errors import UnsupportedLayerError
from larq2mcu.ops._np import pad_nhwc
from larq2mcu.ops.depthwise import dilated_patches, dw_sliced_layout, dw_sliced_ok, pack_filters
from larq2mcu.ops.dot import float_threshold_bits
from larq2mcu.verify import compare

# (in_c, out_c, groups): depthwise (groups = in_c) with depth multipliers 1 and 2, and grouped convs
CASES = ([(c, c, c) for c in (1, 3, 31, 32, 33, 63, 64)] + [(c, 2 * c, c) for c in (1, 3, 33, 64)]
         + [(8, 12, 2), (64, 66, 2), (12, 8, 4), (64, 32, 4), (4, 4, 4), (66, 33, 3)])
SPATIAL = [(1, 1), (5, 7), (9, 8)]


def _geom(h, w, cin, cout, k, stride, dil, padding):
    eh, ew = (k[0] - 1) * dil + 1, (k[1] - 1) * dil + 1
    pads = (ir.same_pads(h, eh, stride) + ir.same_pads(w, ew, stride)) if padding == "same" else (0, 0, 0, 0)
    oh, ow = ir.conv_out_size(h, eh, stride, *pads[:2]), ir.conv_out_size(w, ew, stride, *pads[2:])
    if oh < 1 or ow < 1:
        return None, pads
    return H.Geom(h, w, cin, oh, ow, cout, k[0], k[1], stride, stride, pads[0], pads[2]), pads


def _kernel(name, g, dil, groups, extra, x, w, p, out_shape, out_dtype, tau=None, mode=None):
    """Call l2m_gconv2d_<name>_ref through the harness (output guard, const inputs checked);
    `tau`, `mode`: the float thresholds of l2m_gconv2d_f32_b32_ref."""
    out = H._Out(out_shape, out_dtype)
    thr = [] if tau is None else [H._p(tau), H._p(mode)]
    return H._call(f"l2m_gconv2d_{name}_ref", out,
                   [ctypes.byref(g), dil, dil, groups, extra, H._p(x), H._p(w), H._p(p), *thr, out.ptr],
                   [x, w, p, tau, mode])


def _same_order_f32(x, kernel, bias, op_):
    """The float kernel's summation, emulated in float32: from +0.0 in (ky, kx, ci) order, padded
    taps reading pad_value, then + bias (+ 0.0 without bias)."""
    kh, kw, cig, cout = kernel.shape
    cog = cout // op_.groups
    xp = pad_nhwc(x[None].astype(np.float32), op_.pads, np.float32(op_.pad_value))
    outs = []
    for gi in range(op_.groups):
        p = dilated_patches(xp[..., gi * cig:(gi + 1) * cig], kh, kw, op_.strides, op_.dilation)[0]
        k2 = kernel[..., gi * cog:(gi + 1) * cog].reshape(-1, cog)
        acc = np.zeros(p.shape[:2] + (cog,), np.float32)
        for t in range(k2.shape[0]):
            acc = (acc + p[..., t:t + 1] * k2[t]).astype(np.float32)
        outs.append(acc)
    acc = np.concatenate(outs, axis=-1)
    return (acc + (bias if bias is not None else np.float32(0.0))).astype(np.float32)


def check(rng, h, w, cin, cout, groups, k, stride, dil, padding) -> int:
    g, pads = _geom(h, w, cin, cout, k, stride, dil, padding)
    if g is None:
        return 0
    cig = cin // groups
    x = pm1(rng, (h, w, cin))
    wts = pm1(rng, (k[0], k[1], cig, cout))
    bias = rng.normal(size=cout).astype(np.float32)
    xp, wp = bits.pack(x), pack_filters(wts)
    n = k[0] * k[1] * cig
    for pad_one in (0, 1):
        o = op(ir.BinaryGroupConv2D, weights=wts, strides=(stride, stride), pads=pads, dilation=(dil, dil),
               groups=groups, pad_one=bool(pad_one), bias=bias)
        shape = (g.out_h, g.out_w, cout)
        expect_f = ref(o, x, out_shape=shape)
        assert_same_floats(_kernel("b32_f32", g, dil, groups, pad_one, xp, wp, bias, shape, np.float32), expect_f)
        if dw_sliced_ok(o, cin):
            taps, _, nb = dw_sliced_layout(wts, np.zeros(cout, np.int32))
            out = H._Out(shape, np.float32)
            got = H._call("l2m_dwconv2d_b32_f32_sliced", out, [ctypes.byref(g), dil, dil, pad_one, nb, H._p(xp),
                                                                 H._p(taps), H._p(bias), out.ptr], [xp, taps, bias])
            assert_same_floats(got, expect_f)
        thr = rng.integers(-n - 1, n + 2, cout).astype(np.int32)
        ob = dataclasses.replace(o, bias=None, threshold=ir.Threshold(thr))
        got = _kernel("b32_b32", g, dil, groups, pad_one, xp, wp, thr, (g.out_h, g.out_w, bits.words(cout)),
                      np.uint32)
        assert_bits(got, ref(ob, x, out_shape=shape), cout)
        if dw_sliced_ok(ob, cin):
            taps, tp, nb = dw_sliced_layout(wts, thr)
            out = H._Out((g.out_h, g.out_w, bits.words(cout)), np.uint32)
            got = H._call("l2m_dwconv2d_b32_b32_sliced", out, [ctypes.byref(g), dil, dil, pad_one, nb, H._p(xp),
                                                                 H._p(taps), H._p(tp), out.ptr], [xp, taps, tp])
            assert_bits(got, ref(ob, x, out_shape=shape), cout)
    xf = rng.normal(size=(h, w, cin)).astype(np.float32)
    kf = rng.normal(size=(k[0], k[1], cig, cout)).astype(np.float32)
    for pad_value, b in ((0.0, None), (1.5, bias)):
        of = op(ir.GroupConv2D, kernel=kf, strides=(stride, stride), pads=pads, dilation=(dil, dil), groups=groups,
                pad_value=pad_value, bias=b)
        got = _kernel("f32_f32", g, dil, groups, ctypes.c_float(pad_value), xf, kf, b, (g.out_h, g.out_w, cout),
                      np.float32)
        expect = _same_order_f32(xf, kf, b, of)
        assert_same_floats(got, expect)
        np.testing.assert_allclose(got, ref(of, xf, out_shape=(g.out_h, g.out_w, cout)), rtol=1e-4, atol=1e-4)
        # thresholds at the sums themselves, around them, and the constant modes 2 / 3
        tau = np.where(rng.random(cout) < 0.3, expect.reshape(-1, cout)[0], rng.normal(size=cout)).astype(np.float32)
        thr = ir.FloatThreshold(tau, rng.integers(0, 4, cout).astype(np.int8))
        got = _kernel("f32_b32", g, dil, groups, ctypes.c_float(pad_value), xf, kf, b, (g.out_h, g.out_w,
                      bits.words(cout)), np.uint32, tau=thr.tau, mode=thr.mode)
        assert_bits(got, float_threshold_bits(expect, thr), cout)
    return 1


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("dil", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", [(3, 3), (1, 1), (2, 3)], ids=lambda k: f"k{k[0]}x{k[1]}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"c{c[0]}o{c[1]}g{c[2]}")
def test_gconv_kernels_bit_exact(case, k, stride, dil, padding):
    cin, cout, groups = case
    rng = seeded("gconv", case, k, stride, dil, padding)
    ran = sum(check(rng, h, w, cin, cout, groups, k, stride, dil, padding) for h, w in SPATIAL)
    assert ran >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 8), w=st.integers(1, 8), cin_g=st.integers(1, 9), cout_g=st.integers(1, 5),
       groups=st.integers(1, 7), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), dh=st.integers(1, 3), dw=st.integers(1, 3), same=st.booleans(),
       pad_one=st.integers(0, 1), seed=st.integers(0, 2**32 - 1))
def test_gconv_property(h, w, cin_g, cout_g, groups, kh, kw, sh, sw, dh, dw, same, pad_one, seed):
    """Any geometry (non-square kernels, strides and dilations; windows larger than the image
    with 'same' padding) is bit-exact, the bit-sliced depthwise kernel included."""
    rng = np.random.default_rng(seed)
    cin, cout = cin_g * groups, cout_g * groups
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    pads = (ir.same_pads(h, eh, sh) + ir.same_pads(w, ew, sw)) if same else (0, 0, 0, 0)
    oh, ow = ir.conv_out_size(h, eh, sh, *pads[:2]), ir.conv_out_size(w, ew, sw, *pads[2:])
    if oh < 1 or ow < 1:
        return
    g = H.Geom(h, w, cin, oh, ow, cout, kh, kw, sh, sw, pads[0], pads[2])
    x, wts = pm1(rng, (h, w, cin)), pm1(rng, (kh, kw, cin_g, cout))
    n = kh * kw * cin_g
    thr = rng.integers(-n - 1, n + 2, cout).astype(np.int32)
    o = op(ir.BinaryGroupConv2D, weights=wts, strides=(sh, sw), pads=pads, dilation=(dh, dw), groups=groups,
           pad_one=bool(pad_one), threshold=ir.Threshold(thr))
    expect = ref(o, x, out_shape=(oh, ow, cout))
    xp, wp = bits.pack(x), pack_filters(wts)
    out = H._Out((oh, ow, bits.words(cout)), np.uint32)
    got = H._call("l2m_gconv2d_b32_b32_ref", out, [ctypes.byref(g), dh, dw, groups, pad_one, H._p(xp), H._p(wp),
                                                     H._p(thr), out.ptr], [xp, wp, thr])
    assert_bits(got, expect, cout)
    if dw_sliced_ok(o, cin):
        taps, tp, nb = dw_sliced_layout(wts, thr)
        out = H._Out((oh, ow, bits.words(cout)), np.uint32)
        got = H._call("l2m_dwconv2d_b32_b32_sliced", out, [ctypes.byref(g), dh, dw, pad_one, nb, H._p(xp),
                                                             H._p(taps), H._p(tp), out.ptr], [xp, taps, tp])
        assert_bits(got, expect, cout)
    xf, kf = rng.normal(size=(h, w, cin)).astype(np.float32), rng.normal(size=(kh, kw, cin_g, cout)).astype(np.float32)
    of = op(ir.GroupConv2D, kernel=kf, strides=(sh, sw), pads=pads, dilation=(dh, dw), groups=groups, pad_value=-0.5)
    out = H._Out((oh, ow, cout), np.float32)
    got = H._call("l2m_gconv2d_f32_f32_ref", out, [ctypes.byref(g), dh, dw, groups, ctypes.c_float(-0.5), H._p(xf),
                                                     H._p(kf), None, out.ptr], [xf, kf])
    assert_same_floats(got, _same_order_f32(xf, kf, None, of))


def test_pack_filters_bit_order():
    """Filter oc's bit t = (ky·kw + kx)·cin_g + ci, as l2m_kernels.h states."""
    wts = np.ones((2, 3, 5, 4), np.int8)
    wts[1, 2, 3, 2] = -1
    p = pack_filters(wts)
    assert p.shape == (4, 1)
    assert p[2, 0] == 1 << ((1 * 3 + 2) * 5 + 3) and not p[[0, 1, 3]].any()


# ---------------------------------------------------------------------------------- end to end
tf, keras, lq = mc.tf, mc.keras, mc.lq
L = keras.layers
SIGN = dict(input_quantizer="ste_sign", depthwise_quantizer="ste_sign", depthwise_constraint="weight_clip")


def quicknet_like():
    """QuickNet's pieces: a float stem conv + float depthwise, binary depthwise (pad 1, dm 2,
    stride 2), a float blur-pool depthwise (fixed kernel, stride 2), grouped and dilated binary convs."""
    return mc._seq((21, 19, 3), [
        L.Conv2D(8, 3, strides=2, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.DepthwiseConv2D(3, padding="same", use_bias=False), L.BatchNormalization(),
        lq.layers.QuantDepthwiseConv2D(3, padding="same", pad_values=1.0, use_bias=False, **SIGN),
        L.BatchNormalization(),
        lq.layers.QuantDepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", **SIGN),
        L.BatchNormalization(),
        lq.layers.QuantConv2D(32, 3, groups=4, padding="same", pad_values=1.0, **mc.BIN), L.BatchNormalization(),
        lq.layers.QuantConv2D(33, 3, dilation_rate=2, padding="same", **mc.BIN), L.BatchNormalization(),
        L.MaxPooling2D(2, padding="same"),
        lq.layers.QuantConv2D(64, 2, dilation_rate=(2, 1), padding="valid", use_bias=True,
                              **mc.BIN),
        L.BatchNormalization(),
        L.DepthwiseConv2D(2, strides=2, padding="same", activation="relu"),
        L.GlobalAveragePooling2D(), L.Dense(10), L.Softmax()])


def separable_mix():
    """Separable convs (binary depthwise + ±1 pointwise; float), mixed depthwise quantizers
    (float input + sign kernel, sign input + float kernel), a grouped float conv, dilation 3."""
    return mc._seq((10, 9, 6), [
        lq.layers.QuantDepthwiseConv2D(3, padding="same", depthwise_quantizer="ste_sign", use_bias=True),
        L.BatchNormalization(),
        lq.layers.QuantDepthwiseConv2D(3, padding="valid", input_quantizer="ste_sign", depth_multiplier=2),
        L.BatchNormalization(),
        L.Conv2D(12, 3, groups=3, padding="same", dilation_rate=2, activation="relu"), L.BatchNormalization(),
        lq.layers.QuantSeparableConv2D(16, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign",
                                       depthwise_quantizer="ste_sign", pointwise_quantizer="ste_sign"),
        L.BatchNormalization(),
        L.SeparableConv2D(8, 3, dilation_rate=3, padding="same", activation="tanh"),
        lq.layers.QuantConv2D(8, 1, groups=2, **mc.BIN), L.BatchNormalization(),
        lq.layers.QuantConv2D(4, 3, groups=4, strides=2, padding="same", **mc.BIN), L.BatchNormalization(),
        L.Flatten(), L.Dense(5, activation="softmax")])


@pytest.mark.parametrize("build, variant", [(quicknet_like, "ref"), (separable_mix, "ref"), (quicknet_like, "clz"),
                                            (separable_mix, "hs")],
                         ids=["quicknet_like", "separable_mix", "quicknet_like-clz", "separable_mix-hs"])
def test_c_matches_keras(build, variant, tmp_path):
    keras.utils.set_random_seed(5)
    m = build()
    from larq2mcu.dev import zoo
    zoo.randomize_bn(m, seed=5)
    gammas = np.concatenate([ly.gamma.numpy() for ly in m.layers if isinstance(ly, L.BatchNormalization)])
    assert (gammas < 0).any() and (gammas == 0).any()
    x = mc.inputs(m, 48, seed=5)
    exp = larq2mcu.export(m, tmp_path / "out", name="m_" + build.__name__, kernel_variant=variant)
    kinds = [type(o).__name__ for o in exp.graph.ops]
    assert "BinaryGroupConv2D" in kinds and "GroupConv2D" in kinds
    folded = [o for o in exp.graph.ops if isinstance(o, ir.BinaryGroupConv2D) and o.threshold is not None]
    assert folded, "BN + sign after a binary group conv folds into thresholds"
    if variant != "ref":             # the bit-sliced depthwise kernel runs in specialised variants
        assert "l2m_dwconv2d_b32_" in (tmp_path / "out" / f"m_{build.__name__}.c").read_text()
    if build is quicknet_like:       # the float depthwise → BN → sign of the stem: float thresholds
        assert any(isinstance(o, ir.GroupConv2D) and o.threshold is not None for o in exp.graph.ops)
    ag = compare(exp, exp.build_host(), x)
    assert ag.ok, ag.summary()
    assert ag.bit_tensors and all(m_ == 0 for m_, _, _ in ag.bit_tensors.values())


def test_binary_depthwise_refuses_other_pad_values(tmp_path):
    m = mc._seq((5, 5, 4), [lq.layers.QuantDepthwiseConv2D(3, padding="same", pad_values=0.5, **SIGN)])
    with pytest.raises(UnsupportedLayerError, match="pad_values"):
        larq2mcu.export(m, tmp_path / "o", name="bad")


def conv1d_mix():
    """1-D convs (keyword-spotting style): float stem, binary same / causal / dilated / grouped /
    strided convs with pad_values 1, a Flatten and a dense head."""
    return mc._seq((23, 5), [
        L.Conv1D(8, 5, strides=2, padding="same", activation="relu"), L.BatchNormalization(),
        lq.layers.QuantConv1D(33, 3, padding="same", pad_values=1.0, **mc.BIN), L.BatchNormalization(),
        lq.layers.QuantConv1D(16, 3, padding="causal", dilation_rate=2, **mc.BIN), L.BatchNormalization(),
        lq.layers.QuantConv1D(16, 3, groups=4, strides=2, padding="valid", use_bias=True, **mc.BIN),
        L.BatchNormalization(),
        L.Flatten(), lq.layers.QuantDense(6, **mc.BIN), L.BatchNormalization(), L.Softmax()])


def test_conv1d_matches_keras(tmp_path):
    keras.utils.set_random_seed(7)
    m = conv1d_mix()
    from larq2mcu.dev import zoo
    zoo.randomize_bn(m, seed=7)
    x = mc.inputs(m, 48, seed=7)
    exp = larq2mcu.export(m, tmp_path / "out", name="m_conv1d")
    folded = [o for o in exp.graph.ops if isinstance(o, ir.BinaryGroupConv2D) and o.threshold is not None]
    assert len(folded) == 3, "BN + sign after each binary 1-D conv folds into thresholds"
    ag = compare(exp, exp.build_host(), x)
    assert ag.ok, ag.summary()
    assert ag.bit_tensors and all(m_ == 0 for m_, _, _ in ag.bit_tensors.values())
