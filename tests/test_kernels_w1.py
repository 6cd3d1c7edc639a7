"""Float-input kernels with 1-bit weights (l2m_w1.c): the conv kernels give bit for bit the
grouped summation order of their contract (reference.conv2d_w1_grouped, float32 in numpy), the
dense kernels what the float-weight kernels give with the same weights as ±1.0f — over awkward
sizes, paddings (pad value 0 and 1), strides, -0.0 inputs and every threshold mode."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import kernel_harness as H
from larq2mcu import bits, ir, reference
from larq2mcu.layout import weights as wt


def conv2d_w1(g: H.Geom, pad_value: float, x, wbits, bias=None, tau=None, mode=None) -> np.ndarray:
    """Float input, packed ±1 weights (per filter kh·kw·cin bits). Without tau/mode → floats."""
    x, w = H._in(x, np.float32), H._in(wbits, np.uint32)
    b = None if bias is None else H._in(bias, np.float32)
    if tau is None:
        out = H._Out((g.out_h, g.out_w, g.out_c), np.float32)
        return H._call("l2m_conv2d_w1_f32_f32_ref", out,
                       [ctypes.byref(g), float(pad_value), H._p(x), H._p(w), H._p(b), out.ptr], [x, w, b])
    t, m = H._in(tau, np.float32), H._in(mode, np.int8)
    out = H._Out((g.out_h, g.out_w, bits.words(g.out_c)), np.uint32)
    return H._call("l2m_conv2d_w1_f32_b32_ref", out,
                   [ctypes.byref(g), float(pad_value), H._p(x), H._p(w), H._p(b), H._p(t), H._p(m), out.ptr], [x, w, b, t, m])


def dense_w1(in_n: int, out_n: int, x, wbits, bias=None, tau=None, mode=None) -> np.ndarray:
    x, w = H._in(x, np.float32), H._in(wbits, np.uint32)
    b = None if bias is None else H._in(bias, np.float32)
    if tau is None:
        out = H._Out((out_n,), np.float32)
        return H._call("l2m_dense_w1_f32_f32_ref", out, [in_n, out_n, H._p(x), H._p(w), H._p(b), out.ptr], [x, w, b])
    t, m = H._in(tau, np.float32), H._in(mode, np.int8)
    out = H._Out((bits.words(out_n),), np.uint32)
    return H._call("l2m_dense_w1_f32_b32_ref", out,
                 [in_n, out_n, H._p(x), H._p(w), H._p(b), H._p(t), H._p(m), out.ptr], [x, w, b, t, m])


@pytest.mark.parametrize("cin", [1, 3, 31, 33])
@pytest.mark.parametrize("k,stride,padding", [(3, 1, "same"), (3, 2, "valid"), (5, 2, "same"), (1, 1, "valid")])
@pytest.mark.parametrize("pad_value", [0.0, 1.0])
def test_conv_w1_sums_in_groups_of_four(cin, k, stride, padding, pad_value):
    rng = H.seeded("w1conv", cin, k, stride, padding, pad_value)
    cout = 33
    g, pads = H.geom(7, 5, cin, cout, k, k, stride, stride, padding)
    x = rng.normal(size=(7, 5, cin)).astype(np.float32) * np.float32(2.0) ** rng.integers(-20, 20, (7, 5, cin))
    x[0, 0, 0] = -0.0
    w = H.pm1(rng, (k, k, cin, cout)).astype(np.float32)
    b = rng.normal(size=cout).astype(np.float32)
    packed = wt.pack_w1_conv(w)
    want = reference.conv2d_w1_grouped(x[None], w, (stride, stride), pads, pad_value)[0] + b
    got = conv2d_w1(g, pad_value, x, packed, b)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    if k * k * cin > 4:   # the order is not the float-weight kernel's (it sums tap by tap)
        assert not np.array_equal(got.view(np.uint32), H.conv2d_f32(g, pad_value, x, w, b).view(np.uint32))
    tau = want.reshape(-1, cout)[0].copy()                     # τ on actual sums: both sides of <
    mode = np.arange(cout, dtype=np.int8) % 4
    bits_want = np.array([[[l2m_bit(v, t, m) for v, t, m in zip(px, tau, mode)] for px in row] for row in want])
    got_b = conv2d_w1(g, pad_value, x, packed, b, tau, mode)
    H.assert_bits(got_b, np.where(bits_want, -1, 1), cout)


def l2m_bit(x, tau, mode) -> bool:
    """l2m_float_threshold_bit (l2m_kernels.h) on float32 values."""
    return bool([x < tau, -x < tau, False, True][int(mode)])


@pytest.mark.parametrize("in_n,out_n", [(1, 1), (31, 3), (33, 64), (128, 10), (200, 33)])
def test_dense_w1_equals_float_weights(in_n, out_n):
    rng = H.seeded("w1dense", in_n, out_n)
    x = rng.normal(size=in_n).astype(np.float32)
    w = H.pm1(rng, (in_n, out_n)).astype(np.float32)
    b = rng.normal(size=out_n).astype(np.float32)
    packed = wt.pack_w1_dense(w)
    want = H.dense_f32(x, w, b)
    assert np.array_equal(dense_w1(in_n, out_n, x, packed, b).view(np.uint32), want.view(np.uint32))
    tau = want.copy()
    mode = np.arange(out_n, dtype=np.int8) % 4
    assert np.array_equal(dense_w1(in_n, out_n, x, packed, None if out_n % 2 else b, tau, mode),
                          H.dense_f32_b32(x, w, None if out_n % 2 else b, tau, mode))


def test_w1_weights_take_one_bit_each():
    w = np.ones((3, 3, 1, 32), np.float32)
    assert wt.pack_w1_conv(w).nbytes == 32 * 4          # 9 bits → one word per filter
    assert wt.is_binary(w) and not wt.is_binary(w * 0.5)
    assert ir.F32 == "f32"
