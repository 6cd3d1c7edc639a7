"""Level 0, the optimized float glue (firmware/runtime/l2m_float_opt.c) against its _ref twins:
bit for bit, on awkward sizes and on the values where a shortcut would differ (−0.0, subnormals
of both signs, ±FLT_MIN, ±inf, NaNs of both signs, all-negative windows, padded borders)."""
from __future__ import annotations

import numpy as np
import pytest

import kernel_harness as H
from kernel_harness import seeded

SPECIAL = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-39, -1e-39, 1.1754942e-38, -1.1754942e-38,
                    1.17549435e-38, -1.17549435e-38, 1.0, -1.0, 3e38, -3e38, np.inf, -np.inf], np.float32)
NANS = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0xFFFFFFFF], np.uint32).view(np.float32)


def _data(rng, shape):
    """Normal values with the SPECIAL and NAN patterns sprinkled in."""
    x = rng.normal(size=shape).astype(np.float32)
    flat = x.reshape(-1)
    pool = np.concatenate([SPECIAL, NANS])
    pick = rng.random(flat.size) < 0.3
    flat[pick] = pool[rng.integers(0, pool.size, int(pick.sum()))]
    return x


def _same_bits(a, b):
    np.testing.assert_array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32))


# 16 and the multiples of 32 take unrolled paths of their own (l2m_quantize_f32_b32_opt)
@pytest.mark.parametrize("c", [1, 3, 4, 15, 16, 17, 31, 32, 33, 63, 64, 96, 128])
def test_quantize_dequantize_opt(c):
    rng = seeded("qopt", c)
    for groups in (1, 7):
        x = _data(rng, (groups, c))
        packed = H.quantize(x, "ref")
        _same_bits(H.quantize(x, "opt"), packed)            # includes the pad bits (must be 0)
        _same_bits(H.dequantize(packed, c, "opt"), H.dequantize(packed, c, "ref"))
    x = np.tile(SPECIAL, c // SPECIAL.size + 1)[:c].reshape(1, c)
    _same_bits(H.quantize(x, "opt"), H.quantize(x, "ref"))


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 16, 31, 100])
def test_add_opt(n):
    rng = seeded("addopt", n)
    a, b = _data(rng, (n,)), _data(rng, (n,))
    for alias in (None, "a", "b"):
        _same_bits(H.add(a, b, alias, "opt"), H.add(a, b, alias, "ref"))


@pytest.mark.parametrize("pool,stride,padding", [((2, 2), 2, "valid"), ((3, 3), 2, "same"), ((2, 2), 1, "same"),
                                                 ((1, 3), 1, "same"), ((3, 3), 1, "valid"), ((5, 5), 2, "same")])
@pytest.mark.parametrize("c", [1, 3, 4, 5, 31, 33, 64])
def test_float_pools_opt(pool, stride, padding, c):
    rng = seeded("popt", pool, stride, padding, c)
    for h, w in [(1, 1), (5, 7), (9, 9), (4, 3)]:
        g, _ = H.geom(h, w, c, c, *pool, stride, stride, padding)
        if g is None:
            continue
        for x in (_data(rng, (h, w, c)), -np.abs(rng.normal(size=(h, w, c))).astype(np.float32) - 1.0,
                  rng.normal(size=(h, w, c)).astype(np.float32) * np.float32(1e30)):
            _same_bits(H.maxpool_f32(g, x, "opt"), H.maxpool_f32(g, x, "ref"))
            _same_bits(H.avgpool_f32(g, x, "opt"), H.avgpool_f32(g, x, "ref"))


def test_every_glue_kernel_has_an_opt_twin_declared():
    assert {f"l2m_{k}_opt" for k in H.GLUE_OPT} <= H.declared_kernels("l2m_kernels_opt.h")
