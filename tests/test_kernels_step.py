"""Level 0, element-wise quantizer kernels (firmware/runtime/l2m_step.c) against the numpy oracles
of larq2mcu/ops/step.py and ops/dot.py, bit for bit: the same IEEE comparisons and one rounding
per multiply/add. Awkward values: ±0.0, subnormals, the breakpoints and their neighbours, ±FLT_MAX."""
from __future__ import annotations

import numpy as np
import pytest

import kernel_harness as H
from larq2mcu.ops.step import clip_ref, step_ref

TINY = np.finfo(np.float32).tiny


def _awkward(bp, n=3000, seed=0):
    r = np.random.default_rng(seed)
    bp = np.asarray(bp, np.float32)
    with np.errstate(over="ignore"):         # the neighbour of ±FLT_MAX is ±inf: a value to test too
        near = np.concatenate([bp, np.nextafter(bp, np.float32(-np.inf)), np.nextafter(bp, np.float32(np.inf))])
    special = np.float32([0.0, -0.0, TINY, -TINY, 1e-45, -1e-45, TINY / 3, -TINY / 3, 3.4e38, -3.4e38])
    return np.concatenate([r.normal(0, 2, n).astype(np.float32), near, special]).astype(np.float32)


STEPS = {
    "sign": ([np.nextafter(-TINY, np.float32(0))], [-1.0, 1.0]),
    "tern": ([-0.05, 0.05], [-1.0, 0.0, 1.0]),
    "heaviside": ([TINY], [0.0, 1.0]),
    "dorefa2": ([1 / 6, 0.5, 5 / 6], [0.0, 1 / 3, 2 / 3, 1.0]),
    "zero_bp": ([-0.0], [-1.0, 1.0]),
    "none": ([], [0.5]),
    "many": (list(np.arange(1, 255) / 255.0 - 1 / 510), list(np.arange(255) / 254.0)),
}


@pytest.mark.parametrize("name", sorted(STEPS))
@pytest.mark.parametrize("alias", [False, True])
def test_step_matches_oracle(name, alias):
    bp, lv = (np.asarray(a, np.float32) for a in STEPS[name])
    x = _awkward(bp)
    got = H.step(x, bp, lv, alias=alias)
    assert np.array_equal(got.view(np.uint32), step_ref(x, bp, lv).view(np.uint32))


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("flush", [True, False])
@pytest.mark.parametrize("lo,hi", [(0.0, 1.0), (-1.0, 1.0), (0.0, 3.4028235e38), (-0.0, 6.0)])
def test_clip_matches_oracle(lo, hi, strict, flush):
    x = _awkward([lo, hi])
    for alias in (False, True):
        got = H.clip(x, lo, hi, strict, flush, alias=alias)
        assert np.array_equal(got.view(np.uint32), clip_ref(x, lo, hi, strict, flush).view(np.uint32))


@pytest.mark.parametrize("c", [1, 3, 33])
@pytest.mark.parametrize("with_bias", [False, True])
def test_scale_bias_matches_the_binary_dot_oracle(c, with_bias):
    """The float epilogue of a scaled binary dot: float32(float32(acc)·α) + b, as ops/dot.py."""
    r = np.random.default_rng(c)
    acc = r.integers(-300, 301, (17, c)).astype(np.float32)
    scale = r.uniform(1e-3, 2.0, c).astype(np.float32)
    bias = r.normal(0, 3, c).astype(np.float32) if with_bias else None
    want = (acc * scale).astype(np.float32)
    if bias is not None:
        want = (want + bias).astype(np.float32)
    got = H.scale_bias(acc, scale, bias)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
