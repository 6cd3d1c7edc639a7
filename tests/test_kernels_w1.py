"""Float-input kernels with 1-bit weights (l2m_w1.c) are bit-identical to the float-weight
kernels with the same weights as ±1.0f — sums in the same order, a·(±1) exact — over awkward
sizes, paddings (pad value 0 and 1), strides, and every threshold mode."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import kernel_harness as H
from larq2mcu import bits, ir
from larq2mcu.codegen import weights as wt


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
def test_conv_w1_equals_float_weights(cin, k, stride, padding, pad_value):
    rng = H.seeded("w1conv", cin, k, stride, padding, pad_value)
    cout = 33
    g, _ = H.geom(7, 5, cin, cout, k, k, stride, stride, padding)
    x = rng.normal(size=(7, 5, cin)).astype(np.float32)
    x[0, 0, 0] = -0.0
    w = H.pm1(rng, (k, k, cin, cout)).astype(np.float32)
    b = rng.normal(size=cout).astype(np.float32)
    packed = wt.pack_w1_conv(w)
    want = H.conv2d_f32(g, pad_value, x, w, b)
    got = conv2d_w1(g, pad_value, x, packed, b)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    tau = want.reshape(-1, cout)[0].copy()                     # τ on actual sums: both sides of <
    mode = np.arange(cout, dtype=np.int8) % 4
    thr_want = H.conv2d_f32_b32(g, pad_value, x, w, b, tau, mode)
    assert np.array_equal(conv2d_w1(g, pad_value, x, packed, b, tau, mode), thr_want)


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
