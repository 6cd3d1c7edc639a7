"""Level 0, float kernels: firmware/runtime/l2m_float.c and l2m_math.c against the numpy oracle.

Bit-exact where C and numpy perform the same IEEE operations in the same order (element-wise
ops, copies, max, and sums of integer values, which are exact in any order); otherwise within a
stated rounding bound (`sum_tol` for sums in a different order, `ulps` for expf/tanhf). Float
sums thresholded into bits (conv/dense f32 → b32) are bit-exact on integer data and equal
outside the rounding band around τ on random data.
"""
from __future__ import annotations

import numpy as np
import pytest

import kernel_harness as H
from kernel_harness import KERNELS, assert_bits, assert_same_floats, op, ref, seeded
from larq2mcu import bits, ir, reference

# ---------------------------------------------------------------------------------- float kernels
U = 2.0 ** -24      # unit roundoff of float32 (round to nearest)


def sum_tol(n_terms: int, abs_sum: np.ndarray) -> np.ndarray:
    """Largest difference between two float32 evaluations of one sum of n terms in different
    orders (C: left to right; numpy: pairwise/BLAS). Each is within γ_n·Σ|terms| of the exact sum
    (Higham, Accuracy and Stability of Numerical Algorithms, §3.1/§4.2), γ_n = n·u/(1 − n·u); the
    products themselves are rounded once each (inside the same bound with n+1)."""
    n = n_terms + 1
    return 2.0 * (n * U / (1.0 - n * U)) * np.asarray(abs_sum, np.float64)


def assert_close(got, expect, tol):
    err = np.abs(np.asarray(got, np.float64) - np.asarray(expect, np.float64))
    assert np.all(err <= tol), f"max excess {np.max(err - tol)} (max err {np.max(err)})"


@pytest.mark.parametrize("k", KERNELS, ids=lambda k: f"k{k[0]}x{k[1]}")
@pytest.mark.parametrize("in_c", [1, 3, 31, 33])
def test_float_conv(in_c, k):
    rng = seeded("fconv", in_c, k)
    out_c = {1: 33, 3: 2, 31: 32, 33: 17}[in_c]
    for (h, w), stride, padding in [((1, 1), 1, "same"), ((5, 7), 2, "same"), ((9, 9), 1, "valid"),
                                    ((9, 5), 2, "valid"), ((7, 7), 1, "same")]:
        g, pads = H.geom(h, w, in_c, out_c, k[0], k[1], stride, stride, padding)
        if g is None:
            continue
        geo = dict(strides=(stride, stride), pads=pads)
        for pad_value in (0.0, 1.0, -0.5):
            # integer values: every partial sum is an integer < 2^24, exact in any order → bit-exact
            xi = rng.integers(-3, 4, (h, w, in_c)).astype(np.float32)
            wi = rng.integers(-3, 4, (*k, in_c, out_c)).astype(np.float32)
            bi = rng.integers(-8, 9, out_c).astype(np.float32)
            conv = op(ir.Conv2D, kernel=wi, bias=bi, pad_value=pad_value, **geo)
            sums = ref(conv, xi)
            assert_same_floats(H.conv2d_f32(g, pad_value, xi, wi, bi), sums)
            thr = float_thresholds(rng, sums)
            conv_t = op(ir.Conv2D, kernel=wi, bias=bi, pad_value=pad_value, threshold=thr, **geo)
            got = H.conv2d_f32_b32(g, pad_value, xi, wi, bi, thr.tau, thr.mode)
            assert_bits(got, ref(conv_t, xi), out_c)
            x = rng.normal(size=(h, w, in_c)).astype(np.float32)
            wt = rng.normal(size=(*k, in_c, out_c)).astype(np.float32)
            conv = op(ir.Conv2D, kernel=wt, bias=None, pad_value=pad_value, **geo)
            abs_conv = op(ir.Conv2D, kernel=np.abs(wt), bias=None, pad_value=abs(pad_value), **geo)
            tol = sum_tol(k[0] * k[1] * in_c, ref(abs_conv, np.abs(x)))
            sums = ref(conv, x)
            assert_close(H.conv2d_f32(g, pad_value, x, wt), sums, tol)
            thr = float_thresholds(rng, sums)
            got = H.conv2d_f32_b32(g, pad_value, x, wt, None, thr.tau, thr.mode)
            assert_bits_outside_band(got, sums, thr, tol)


def float_thresholds(rng, sums: np.ndarray) -> ir.FloatThreshold:
    """Per channel: every mode (0: x < τ, 1: −x < τ, 2: never, 3: always); τ on a sum that occurs
    (strict comparison: equality gives bit 0), one float step either side of it, ±0.0 or ±inf."""
    oc = sums.shape[-1]
    flat = sums.reshape(-1, oc).astype(np.float32)
    mode = rng.integers(0, 4, oc).astype(np.int8)
    if oc >= 4:
        mode[:4] = (0, 1, 2, 3)
    hit = flat[rng.integers(0, flat.shape[0], oc), np.arange(oc)]
    hit = np.where(mode == 1, -hit, hit)
    options = np.stack([hit, hit, np.nextafter(hit, np.float32(np.inf)), np.nextafter(hit, np.float32(-np.inf)),
                        np.zeros(oc), np.full(oc, -0.0), np.full(oc, np.inf), np.full(oc, -np.inf)])
    tau = options[rng.integers(0, len(options), oc), np.arange(oc)].astype(np.float32)
    return ir.FloatThreshold(tau=tau, mode=mode)


def assert_bits_outside_band(got: np.ndarray, sums: np.ndarray, thr: ir.FloatThreshold, tol):
    """Bits of C's thresholded float sums equal the oracle's wherever the oracle's sum is farther
    than `tol` (the summation-order bound) from τ; inside the band either bit is correct."""
    expect = reference.float_threshold_bits(sums, thr)
    signed = np.where(thr.mode == 1, -sums, sums)
    clear = (np.abs(signed.astype(np.float64) - thr.tau) > tol) | (thr.mode >= 2)
    got_pm1 = bits.unpack(got, sums.shape[-1])
    assert bits.pad_bits_clear(got, sums.shape[-1])
    np.testing.assert_array_equal(got_pm1[clear], expect[clear])


@pytest.mark.parametrize("in_n,out_n", [(1, 1), (3, 7), (33, 10), (128, 33), (576, 120)])
def test_float_dense(in_n, out_n):
    rng = seeded("fdense", in_n, out_n)
    xi, wi = (rng.integers(-3, 4, s).astype(np.float32) for s in ((in_n,), (in_n, out_n)))
    bi = rng.integers(-8, 9, out_n).astype(np.float32)
    sums = ref(op(ir.Dense, kernel=wi, bias=bi), xi)
    assert_same_floats(H.dense_f32(xi, wi, bi), sums)
    thr = float_thresholds(rng, sums)
    expect = ref(op(ir.Dense, kernel=wi, bias=bi, threshold=thr), xi)
    assert_bits(H.dense_f32_b32(xi, wi, bi, thr.tau, thr.mode), expect, out_n)
    x, wt, b = (rng.normal(size=s).astype(np.float32) for s in ((in_n,), (in_n, out_n), (out_n,)))
    tol = sum_tol(in_n + 1, np.abs(x) @ np.abs(wt) + np.abs(b))
    assert_close(H.dense_f32(x, wt, b), ref(op(ir.Dense, kernel=wt, bias=b), x), tol)
    assert_close(H.dense_f32(x, wt), ref(op(ir.Dense, kernel=wt, bias=None), x), tol)
    sums = ref(op(ir.Dense, kernel=wt, bias=b), x)
    thr = float_thresholds(rng, sums)
    assert_bits_outside_band(H.dense_f32_b32(x, wt, b, thr.tau, thr.mode), sums, thr, tol)


def test_batchnorm_add_chancopy_are_exact():
    """Element-wise float ops do the same IEEE operations in the same order as numpy: bit-exact
    (the runtime is built with -ffp-contract=off, so no fused multiply-add)."""
    rng = np.random.default_rng(5)
    for pixels, c in [(1, 1), (35, 3), (9, 33)]:
        x = (rng.normal(size=(pixels, c)) * rng.choice([1e-3, 1, 1e4], (pixels, c))).astype(np.float32)
        mean, offset = (rng.normal(0, 10, c).astype(np.float32) for _ in range(2))
        scale = rng.normal(0, 2, c).astype(np.float32)
        scale[0] = 0.0                                          # γ = 0 and negative γ occur
        bn = op(ir.BatchNorm, mean=mean, scale=scale, offset=offset)
        assert_same_floats(H.batchnorm(x, mean, scale, offset), ref(bn, x))
        assert_same_floats(H.batchnorm(x, mean, scale, offset, alias=True), ref(bn, x))   # in place
        y = rng.normal(size=(pixels, c)).astype(np.float32)
        s = reference.run_op(ir.Add(name="k", inputs=("a", "b"), output="y"), [x, y], None)
        assert_same_floats(H.add(x, y).reshape(x.shape), s)
        assert_same_floats(H.add(x, y, alias="a").reshape(x.shape), s)      # out may alias a or b
        assert_same_floats(H.add(x, y, alias="b").reshape(x.shape), s)
        out = np.full((pixels, c + 5), np.nan, np.float32)
        out = H.chancopy(pixels, 2, c + 5, 0, y[:, :1].repeat(2, 1), out)
        out = H.chancopy(pixels, c, c + 5, 2, x, out)
        assert np.all(np.isnan(out[:, c + 2:])), "chancopy wrote outside its channels"
        out = H.chancopy(pixels, 3, c + 5, c + 2, y[:, :1].repeat(3, 1), out)
        cat = ir.Concat(name="k", inputs=("a", "b", "c"), output="y")
        expect = reference.run_op(cat, [y[:, :1].repeat(2, 1), x, y[:, :1].repeat(3, 1)], None)
        assert_same_floats(out, expect)


@pytest.mark.parametrize("pool,stride,padding", [((2, 2), 2, "valid"), ((3, 3), 2, "same"), ((2, 2), 1, "same"),
                                                 ((1, 3), 1, "same"), ((3, 3), 1, "valid"), ((5, 5), 2, "same")])
def test_float_pools(pool, stride, padding):
    rng = seeded("fpool", pool, stride, padding)
    for (h, w), c in [((1, 1), 1), ((5, 7), 3), ((9, 9), 33)]:
        g, pads = H.geom(h, w, c, c, *pool, stride, stride, padding)
        if g is None:
            continue
        geo = dict(pool=pool, strides=(stride, stride), pads=pads)
        # all-negative data: a padded tap read as 0 (or a max started at 0) would win
        x = -np.abs(rng.normal(size=(h, w, c))).astype(np.float32) - 1.0
        assert_same_floats(H.maxpool_f32(g, x), ref(op(ir.MaxPool2D, **geo), x))
        xi = rng.integers(-9, 10, (h, w, c)).astype(np.float32)    # exact sums → exact means
        assert_same_floats(H.avgpool_f32(g, xi), ref(op(ir.AvgPool2D, **geo), xi))
        x = rng.normal(size=(h, w, c)).astype(np.float32)
        abs_mean = ref(op(ir.AvgPool2D, **geo), np.abs(x))
        # mean = sum / n: the sum's bound divided by n, plus one rounding of the quotient each side
        tol = sum_tol(pool[0] * pool[1], abs_mean) + 2 * U * np.abs(abs_mean)
        assert_close(H.avgpool_f32(g, x), ref(op(ir.AvgPool2D, **geo), x), tol)


@pytest.mark.parametrize("h,w,c", [(1, 1, 1), (5, 7, 3), (9, 9, 33), (7, 7, 64)])
def test_global_avgpool(h, w, c):
    rng = seeded("gap", h, w, c)
    gap = op(ir.GlobalAvgPool)
    xi = rng.integers(-9, 10, (h, w, c)).astype(np.float32)
    assert_same_floats(H.global_avgpool(xi.reshape(-1, c)), ref(gap, xi, out_shape=(c,)))
    x = rng.normal(size=(h, w, c)).astype(np.float32)
    abs_mean = ref(gap, np.abs(x), out_shape=(c,))
    tol = sum_tol(h * w, abs_mean) + 2 * U * np.abs(abs_mean)
    assert_close(H.global_avgpool(x.reshape(-1, c)), ref(gap, x, out_shape=(c,)), tol)


def ulps(x: np.ndarray) -> np.ndarray:
    """Spacing of float32 at x, floored at the smallest normal: below FLT_MIN the runtime's
    l2m_expf flushes (exp(x) for x < −103.97 returns 0), so only absolute accuracy is promised."""
    return np.maximum(np.spacing(np.abs(np.asarray(x, np.float32))), np.finfo(np.float32).tiny)


ACT_INPUTS = np.concatenate([
    np.array([0.0, -0.0, 1e-30, -1e-30, 2.4e-4, -2.4e-4, 9.0, -9.0, 88.7, -88.7, 89.0, -89.0,
              103.9, -103.9, 104.5, -104.5, 1e30, -1e30, np.inf, -np.inf]),
    np.linspace(-20, 20, 4001), np.geomspace(1e-8, 120, 3000), -np.geomspace(1e-8, 120, 3000),
]).astype(np.float32)


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")     # the oracle's exp(±inf)
def test_activations():
    """relu and identity are exact. sigmoid = 1/(1+l2m_expf(−x)): expf < 0.85 ulp ≤ 1.7u relative,
    the add and the division u each, ≤ 3.7u ≤ 3.7 ulp of the result, plus 0.5 ulp for the
    oracle's own rounding: 5 ulp allowed. tanh: l2m_tanhf < 2.5 ulp (l2m_math.h) + numpy's
    float32 tanh (≤ 1 ulp): 4 ulp allowed. Near underflow only FLT_MIN absolute (see ulps)."""
    x = ACT_INPUTS
    np.testing.assert_array_equal(H.activation(H.ACT_RELU, x), reference.activation(x, "relu"))
    assert_same_floats(H.activation(H.ACT_LINEAR, x), reference.activation(x, "linear"))
    sig = reference.activation(x, "sigmoid")
    assert_close(H.activation(H.ACT_SIGMOID, x), sig, 5 * ulps(sig))
    th = reference.activation(x, "tanh")
    assert_close(H.activation(H.ACT_TANH, x), th, 4 * ulps(th))
    for kind in (H.ACT_LINEAR, H.ACT_RELU, H.ACT_SIGMOID, H.ACT_TANH):      # out may alias in
        assert_same_floats(H.activation(kind, x, alias=True), H.activation(kind, x))
    nan = H.activation(H.ACT_SIGMOID, np.array([np.nan], np.float32))
    assert np.isnan(nan).all() and np.isnan(H.activation(H.ACT_TANH, np.array([np.nan], np.float32))).all()


@pytest.mark.parametrize("rows,c", [(1, 1), (3, 2), (5, 10), (2, 33), (1, 200)])
def test_softmax(rows, c):
    """Relative error bound, in units of u, of C's e_i / Σ e_j against the float64 oracle:
    d_i = x_i − max is rounded (≤ |d_i|·u, and exp turns an absolute error of the argument into a
    relative one), l2m_expf < 0.85 ulp ≤ 1.7u, the left-to-right sum adds (c−1)·u plus its terms'
    errors weighted by p_j (Σ p_j·|d_j| + 1.7), one division, and the oracle's final rounding.
    Rows of ±1e30 check the max subtraction (no overflow)."""
    rng = seeded("softmax", rows, c)
    x = (rng.normal(size=(rows, c)) * rng.choice([0.1, 10, 100], (rows, 1))).astype(np.float32)
    if rows > 2 and c > 2:
        x[0, :3] = (1e30, -1e30, 0.0)
        x[1, -1] = 1e4                  # the maximum in the last column, far above the rest
    got, expect = H.softmax(x), reference.activation(x, "softmax")
    d = np.abs(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    spread = (expect * d).sum(axis=1, keepdims=True)
    assert_close(got, expect, (d + spread + c + 6) * U * np.abs(expect) + ulps(expect))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=(c + 6) * 2 * U)
    assert_same_floats(H.softmax(x, alias=True), got)                       # out may alias in
