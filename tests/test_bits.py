"""The bit convention (larq2mcu/bits.py ⇔ firmware/runtime/l2m_bits.h): bit 1 = −1, LSB first
along channels, 32-bit words per pixel, pad bits 0, and dot = n − 2·popcount(a ⊕ w)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from larq2mcu import bits, paths


def test_convention_by_example():
    v = np.ones(33, np.int8)
    v[0] = -1           # channel 0 → bit 0 of word 0
    v[31] = -1          # channel 31 → bit 31 of word 0
    v[32] = -1          # channel 32 → bit 0 of word 1
    assert bits.pack(v).tolist() == [0x80000001, 0x00000001]
    assert bits.words(1) == 1 and bits.words(32) == 1 and bits.words(33) == 2


def test_sign_of_zero_is_plus_one():
    assert bits.sign_bits(np.array([0.0, -0.0, -1e-30, 1e-30])).tolist() == [False, False, True, False]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 130), st.integers(1, 4), st.integers(0, 2**31))
def test_roundtrip_pad_bits_and_dot(c, groups, seed):
    r = np.random.default_rng(seed)
    a = np.where(r.random((groups, c)) < 0.5, -1, 1).astype(np.int8)
    w = np.where(r.random((groups, c)) < 0.5, -1, 1).astype(np.int8)
    pa, pw = bits.pack(a), bits.pack(w)
    assert pa.shape == (groups, bits.words(c)) and pa.dtype == np.uint32
    assert bits.pad_bits_clear(pa, c)
    assert np.array_equal(bits.unpack(pa, c), a)
    pop = sum(bin(int(x)).count("1") for x in np.bitwise_xor(pa, pw).ravel())
    assert int(a.astype(np.int32).ravel() @ w.astype(np.int32).ravel()) == groups * c - 2 * pop


def test_c_header_states_the_same_convention():
    h = (paths.runtime_dir() / "l2m_bits.h").read_text()
    for phrase in ("bit 1 = -1", "least-significant bit first", "pad bits", "n - 2 * popcount"):
        assert phrase in h
    assert "#define L2M_WORDS(c) (((c) + 31) / 32)" in h
