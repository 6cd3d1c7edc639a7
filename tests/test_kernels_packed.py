"""The few-input-channel binary conv (l2m_packed.c: each filter's window bits packed densely)
gives exactly what the reference binary conv gives, over channel counts 1–31 (taps that straddle
words, 2 and 4 taps a word), kernels 1×3 … 7×7, strides, valid/same, pad 0/1, thresholds on both
sides of every accumulator; and the generator picks it exactly when it saves words."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import kernel_harness as H
from larq2mcu import bits, reference
from larq2mcu.layout import weights as wt


def packed_conv(g, pad_one, x, wpk, bias=None, thr=None):
    x, w = H._in(x, np.uint32), H._in(wpk, np.uint32)
    if thr is None:
        b = None if bias is None else H._in(bias, np.float32)
        out = H._Out((g.out_h, g.out_w, g.out_c), np.float32)
        return H._call("l2m_conv2d_packed_b32_f32_ref", out,
                       [ctypes.byref(g), pad_one, H._p(x), H._p(w), H._p(b), out.ptr], [x, w, b])
    t = H._in(thr, np.int32)
    out = H._Out((g.out_h, g.out_w, bits.words(g.out_c)), np.uint32)
    return H._call("l2m_conv2d_packed_b32_b32_ref", out,
                   [ctypes.byref(g), pad_one, H._p(x), H._p(w), H._p(t), out.ptr], [x, w, t])


CASES = [(cin, kh, kw) for cin in (1, 2, 3, 5, 8, 10, 16, 31)
         for kh, kw in ((3, 3), (2, 2), (5, 5), (1, 3), (3, 2), (7, 7))
         if bits.words(kh * kw * cin) <= wt.PACKED_MAX_WORDS]


@pytest.mark.parametrize("cin,kh,kw", CASES)
@pytest.mark.parametrize("stride,padding", [(1, "valid"), (1, "same"), (2, "same"), (2, "valid")])
@pytest.mark.parametrize("pad_one", [0, 1])
def test_packed_kernel_equals_reference(cin, kh, kw, stride, padding, pad_one):
    rng = H.seeded("packed", cin, kh, kw, stride, padding, pad_one)
    cout = 33
    g, pads = H.geom(7, 9, cin, cout, kh, kw, stride, stride, padding)
    if g is None:
        pytest.skip("empty output")
    x = H.pm1(rng, (7, 9, cin))
    w = H.pm1(rng, (kh, kw, cin, cout))
    acc = reference.binary_conv_acc(x[None], w, (stride, stride), pads, bool(pad_one))[0]
    xp, wp = bits.pack(x), wt.pack_conv_packed(w)
    assert wp.size == cout * bits.words(kh * kw * cin)
    got = packed_conv(g, pad_one, xp, wp)
    assert np.array_equal(got, acc.astype(np.float32))
    thr = acc.reshape(-1, cout)[rng.integers(0, acc.size // cout)] + rng.integers(-1, 2, cout)
    H.assert_bits(packed_conv(g, pad_one, xp, wp, thr=thr), np.where(acc < thr, -1, 1), cout)


def test_packed_layout_selection():
    assert wt.packed_layout(np.ones((3, 3, 1, 8)))          # a binarized image: 1 word, not 9
    assert wt.packed_layout(np.ones((3, 3, 16, 8)))         # 5 words, not 9
    assert wt.packed_layout(np.ones((3, 3, 24, 8)))         # 7 words, not 9
    assert not wt.packed_layout(np.ones((3, 3, 31, 8)))     # 9 words either way
    assert not wt.packed_layout(np.ones((3, 3, 32, 8)))     # full words already
    assert not wt.packed_layout(np.ones((1, 1, 4, 8)))      # one tap: nothing to gain
    assert not wt.packed_layout(np.ones((9, 9, 16, 8)))     # 41 words: past the on-stack window
