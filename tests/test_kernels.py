"""Level 0: every C kernel of firmware/runtime against the numpy oracle (larq2mcu/reference.py).

Binary kernels must be bit-exact, including their packed words (pad bits 0); float kernels are
bit-exact where the arithmetic is the same (element-wise ops, copies, max, integer-valued sums)
and otherwise within a stated rounding bound (see `sum_tol` and `ulps`).
The C side goes through tests/kernel_harness.py, which also checks that no kernel writes past
its output, leaves an output word unwritten, or modifies an input.
"""
from __future__ import annotations

import ctypes
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernel_harness as H
from larq2mcu import bits, ir, reference

CHANNELS = [1, 3, 31, 32, 33, 63, 64, 128]
OUT_C = {1: 33, 3: 64, 31: 1, 32: 3, 33: 31, 63: 128, 64: 32, 128: 63}   # every size as out_c too
KERNELS = [(1, 1), (3, 3), (5, 5), (1, 3)]
SPATIAL = [(1, 1), (5, 7), (9, 9)]
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


def seeded(*key) -> np.random.Generator:
    """A generator seeded by the test's parameters (stable across processes, unlike hash())."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def pm1(rng, shape) -> np.ndarray:
    return rng.choice(np.array([-1, 1], np.int8), size=shape)


def ref(op: ir.Op, *args, out_shape=()) -> np.ndarray:
    """reference.run_op on a batch of one sample."""
    return reference.run_op(op, [np.asarray(a)[None] for a in args], ir.Tensor("y", out_shape, ir.F32))[0]


def op(cls, **kw):
    return cls(name="k", inputs=("x",), output="y", **kw)


def assert_bits(got: np.ndarray, expect_pm1: np.ndarray, c: int):
    """Packed C output == packed oracle output, word for word (so pad bits are 0 too)."""
    assert bits.pad_bits_clear(got, c), "pad bits set"
    np.testing.assert_array_equal(bits.unpack(got, c), expect_pm1)
    np.testing.assert_array_equal(got, bits.pack(expect_pm1))


def assert_same_floats(got, expect):
    """Bit-identical float32 arrays (−0.0 ≠ +0.0, NaN payloads compared)."""
    np.testing.assert_array_equal(np.asarray(got, np.float32).view(np.uint32),
                                  np.asarray(expect, np.float32).view(np.uint32))


def thresholds(rng, acc: np.ndarray, k: int) -> np.ndarray:
    """int32 per output channel, covering: never crossed (INT32_MIN, −K: acc ≥ −K always, so the
    bit is always 0), always crossed (INT32_MAX, K+1), an accumulator value that occurs (acc ==
    thr gives bit 0: the comparison is strict) and random values in [−K, K]."""
    oc = acc.shape[-1]
    flat = acc.reshape(-1, oc)
    kinds = rng.integers(0, 6, oc)
    if oc >= 3:
        kinds[:3] = (0, 2, 4)
    hit = flat[rng.integers(0, flat.shape[0], oc), np.arange(oc)]
    options = np.stack([np.full(oc, INT32_MIN), np.full(oc, -k), np.full(oc, INT32_MAX),
                        np.full(oc, k + 1), hit, rng.integers(-k, k + 1, oc)]).astype(np.int64)
    return options[kinds, np.arange(oc)].astype(np.int32)


# ---------------------------------------------------------------------------------- plumbing
def test_every_declared_kernel_is_wrapped():
    assert H.declared_kernels() == H.WRAPPED


def test_geom_struct_layout_matches_ctypes():
    """The ctypes mirror of l2m_geom has the C compiler's size and field offsets."""
    offsets = [getattr(H.Geom, f).offset for f, _ in H.Geom._fields_]
    assert H.geom_layout() == [ctypes.sizeof(H.Geom)] + offsets
    assert ctypes.sizeof(H.Geom) == 48


def test_bit_helpers():
    rng = np.random.default_rng(0)
    for x in [0, 1, 0x80000000, 0xFFFFFFFF, 0x55555555, *rng.integers(0, 2**32, 200, dtype=np.uint64)]:
        assert H.popcount32(int(x)) == bin(int(x)).count("1")
    v = bits.pack(pm1(rng, (70,)))
    logical = bits.unpack(v, 70)
    assert [H.get_bit(v, i) for i in range(70)] == [int(b < 0) for b in logical]
    z = np.zeros(3, np.uint32)
    for i in (0, 31, 32, 69):
        z = H.set_bit(z, i)
    assert z.tolist() == [0x80000001, 0x00000001, 0x20]


# ---------------------------------------------------------------------------------- quantize
@pytest.mark.parametrize("c", CHANNELS)
def test_quantize_dequantize(c):
    rng = seeded("q", c)
    for groups in (1, 7):
        x = rng.normal(size=(groups, c)).astype(np.float32)
        special = np.array([0.0, -0.0, np.nan, -np.inf, np.inf, -1e-45, 1e-45, -3.4e38], np.float32)
        x.reshape(-1)[: min(x.size, special.size)] = special[: min(x.size, special.size)]
        got = H.quantize(x)
        assert_bits(got, ref(op(ir.Quantize), x), c)        # sign(0) = sign(−0) = +1, NaN → +1
        back = H.dequantize(got, c)
        assert_same_floats(back, ref(op(ir.Dequantize), bits.unpack(got, c)))


# ---------------------------------------------------------------------------------- binary conv
def check_binary_conv(rng, h, w, in_c, out_c, k, strides, padding, pad_one):
    """Run both binary conv kernels on random data and compare with reference.run_op."""
    g, pads = H.geom(h, w, in_c, out_c, k[0], k[1], strides[0], strides[1], padding)
    if g is None:
        return False
    x = pm1(rng, (h, w, in_c))
    wt = pm1(rng, (k[0], k[1], in_c, out_c))
    xp, wp = bits.pack(x), bits.pack(wt.transpose(3, 0, 1, 2))   # C wants OHWI, packed on I
    bias = rng.normal(0, 4, out_c).astype(np.float32)
    conv = op(ir.BinaryConv2D, weights=wt, strides=strides, pads=pads, pad_one=bool(pad_one))
    acc = reference.binary_conv_acc(x[None], wt, strides, pads, bool(pad_one))[0]
    assert_same_floats(H.conv2d_b32_f32(g, pad_one, xp, wp), acc.astype(np.float32))
    with_bias = ir.BinaryConv2D(**{**vars(conv), "bias": bias})
    assert_same_floats(H.conv2d_b32_f32(g, pad_one, xp, wp, bias), ref(with_bias, x))
    thr = thresholds(rng, acc, k[0] * k[1] * in_c)
    with_thr = ir.BinaryConv2D(**{**vars(conv), "threshold": ir.Threshold(thr)})
    assert_bits(H.conv2d_b32_b32(g, pad_one, xp, wp, thr), ref(with_thr, x), out_c)
    return True


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", KERNELS, ids=lambda k: f"k{k[0]}x{k[1]}")
@pytest.mark.parametrize("in_c", CHANNELS)
def test_binary_conv(in_c, k, stride, padding):
    rng = seeded("conv", in_c, k, stride, padding)
    ran = 0
    for h, w in SPATIAL:
        for pad_one in (0, 1):
            ran += check_binary_conv(rng, h, w, in_c, OUT_C[in_c], k, (stride, stride), padding, pad_one)
    assert ran >= 2


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 9), w=st.integers(1, 9), in_c=st.integers(1, 70), out_c=st.integers(1, 40),
       kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same"]), pad_one=st.integers(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_binary_conv_property(h, w, in_c, out_c, kh, kw, sh, sw, padding, pad_one, seed):
    """Any geometry (non-square kernels and strides, kernels larger than the image with 'same'
    padding) is bit-exact; geometries without output are skipped."""
    check_binary_conv(np.random.default_rng(seed), h, w, in_c, out_c, (kh, kw), (sh, sw), padding, pad_one)


# ---------------------------------------------------------------------------------- binary dense
@pytest.mark.parametrize("out_n", [1, 31, 32, 33, 64])
@pytest.mark.parametrize("c", CHANNELS)
def test_binary_dense(c, out_n):
    rng = seeded("dense", c, out_n)
    for groups in (1, 5, 9):               # a flattened map keeps its per-pixel packing
        x = pm1(rng, (groups, c))
        wt = pm1(rng, (groups * c, out_n))
        xp, wp = bits.pack(x), bits.pack(wt.T.reshape(out_n, groups, c))
        bias = rng.normal(0, 4, out_n).astype(np.float32)
        flat = x.reshape(-1)
        acc = reference.binary_dense_acc(flat[None], wt)[0]
        assert_same_floats(H.dense_b32_f32(groups, c, out_n, xp, wp), acc.astype(np.float32))
        dense = op(ir.BinaryDense, weights=wt, bias=bias)
        assert_same_floats(H.dense_b32_f32(groups, c, out_n, xp, wp, bias), ref(dense, flat))
        thr = thresholds(rng, acc[None], groups * c)
        dense_t = op(ir.BinaryDense, weights=wt, threshold=ir.Threshold(thr))
        assert_bits(H.dense_b32_b32(groups, c, out_n, xp, wp, thr), ref(dense_t, flat), out_n)


# ---------------------------------------------------------------------------------- binary pools
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("pool", [(2, 2), (3, 3), (1, 3)], ids=lambda p: f"p{p[0]}x{p[1]}")
@pytest.mark.parametrize("c", CHANNELS)
def test_binary_pools(c, pool, stride, padding):
    rng = seeded("pool", c, pool, stride, padding)
    partial = rng.random(c) < 0.5
    partial[0], partial[-1] = True, c == 1          # mixed whenever c > 1
    for h, w in SPATIAL:
        g, pads = H.geom(h, w, c, c, pool[0], pool[1], stride, stride, padding)
        if g is None:
            continue
        # biased inputs make all-equal windows (AND/OR corner cases) common
        x = np.where(rng.random((h, w, c)) < rng.choice([0.1, 0.5, 0.9]), -1, 1).astype(np.int8)
        xp = bits.pack(x)
        geo = dict(pool=pool, strides=(stride, stride), pads=pads)
        for mask in (None, partial, np.ones(c, bool)):
            packed_mask = None if mask is None else bits.pack(mask)
            expect = ref(op(ir.BinaryMaxPool2D, or_mask=mask, **geo), x)
            assert_bits(H.maxpool_b32(g, xp, packed_mask), expect, c)
        assert_bits(H.avgpool_b32(g, xp), ref(op(ir.BinaryAvgPool2D, **geo), x), c)   # ties → +1


# ---------------------------------------------------------------------------------- bit movement
@pytest.mark.parametrize("parts", [(3, 31, 33), (1, 1, 1), (32, 5), (63, 64, 1), (31, 2), (1, 128, 7)],
                         ids=lambda p: "+".join(map(str, p)))
@pytest.mark.parametrize("pixels", [1, 7])
def test_bitcopy_concatenation(parts, pixels):
    rng = seeded("cat", parts, pixels)
    xs = [pm1(rng, (pixels, c)) for c in parts]
    out_c = sum(parts)
    out = np.zeros((pixels, bits.words(out_c)), np.uint32)       # contract: zeroed beforehand
    offset = 0
    for x, c in zip(xs, parts):
        out = H.bitcopy(pixels, c, out_c, offset, bits.pack(x), out)
        offset += c
    cat = ir.Concat(name="k", inputs=tuple(f"x{i}" for i in range(len(xs))), output="y")
    expect = reference.run_op(cat, [x[None] for x in xs], None)[0]
    assert_bits(out, expect, out_c)


@pytest.mark.parametrize("src,dst", [
    ((35, 33), (1, 1155)), ((1, 1155), (35, 33)), ((6, 10), (4, 15)), ((3, 32), (1, 96)),
    ((1, 96), (3, 32)), ((5, 7), (7, 5)), ((9, 63), (7, 81)), ((1, 1), (1, 1)), ((64, 1), (2, 32)),
    ((2, 32), (64, 1)), ((4, 33), (3, 44))], ids=str)
def test_repack(src, dst):
    rng = seeded("repack", src, dst)
    x = pm1(rng, src)
    got = H.repack(src[1], dst[0], dst[1], bits.pack(x))
    expect = ref(op(ir.Reshape), x, out_shape=dst)
    assert_bits(got, expect, dst[1])


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
    out_c = OUT_C[in_c] % 17 + 1
    for (h, w), stride, padding in [((1, 1), 1, "same"), ((5, 7), 2, "same"), ((9, 9), 1, "valid"),
                                    ((9, 5), 2, "valid"), ((7, 7), 1, "same")]:
        g, pads = H.geom(h, w, in_c, out_c, k[0], k[1], stride, stride, padding)
        if g is None:
            continue
        geo = dict(strides=(stride, stride), pads=pads)
        for pad_value in (0.0, 1.0):
            # integer values: every partial sum is an integer < 2^24, exact in any order → bit-exact
            xi = rng.integers(-3, 4, (h, w, in_c)).astype(np.float32)
            wi = rng.integers(-3, 4, (*k, in_c, out_c)).astype(np.float32)
            bi = rng.integers(-8, 9, out_c).astype(np.float32)
            conv = op(ir.Conv2D, kernel=wi, bias=bi, pad_value=pad_value, **geo)
            assert_same_floats(H.conv2d_f32(g, pad_value, xi, wi, bi), ref(conv, xi))
            x = rng.normal(size=(h, w, in_c)).astype(np.float32)
            wt = rng.normal(size=(*k, in_c, out_c)).astype(np.float32)
            conv = op(ir.Conv2D, kernel=wt, bias=None, pad_value=pad_value, **geo)
            abs_conv = op(ir.Conv2D, kernel=np.abs(wt), bias=None, pad_value=abs(pad_value), **geo)
            tol = sum_tol(k[0] * k[1] * in_c, ref(abs_conv, np.abs(x)))
            assert_close(H.conv2d_f32(g, pad_value, x, wt), ref(conv, x), tol)


@pytest.mark.parametrize("in_n,out_n", [(1, 1), (3, 7), (33, 10), (128, 33), (576, 120)])
def test_float_dense(in_n, out_n):
    rng = seeded("fdense", in_n, out_n)
    xi, wi = (rng.integers(-3, 4, s).astype(np.float32) for s in ((in_n,), (in_n, out_n)))
    bi = rng.integers(-8, 9, out_n).astype(np.float32)
    assert_same_floats(H.dense_f32(xi, wi, bi), ref(op(ir.Dense, kernel=wi, bias=bi), xi))
    x, wt, b = (rng.normal(size=s).astype(np.float32) for s in ((in_n,), (in_n, out_n), (out_n,)))
    tol = sum_tol(in_n + 1, np.abs(x) @ np.abs(wt) + np.abs(b))
    assert_close(H.dense_f32(x, wt, b), ref(op(ir.Dense, kernel=wt, bias=b), x), tol)
    assert_close(H.dense_f32(x, wt), ref(op(ir.Dense, kernel=wt, bias=None), x), tol)


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
        y = rng.normal(size=(pixels, c)).astype(np.float32)
        s = reference.run_op(ir.Add(name="k", inputs=("a", "b"), output="y"), [x, y], None)
        assert_same_floats(H.add(x, y).reshape(x.shape), s)
        assert_same_floats(H.add(x, y, alias=True).reshape(x.shape), s)     # out may alias a
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


def test_activations():
    """relu and identity are exact; sigmoid = 1/(1+l2m_expf(−x)) with expf < 0.85 ulp gives
    < 0.85 + 0.5 + 0.5 ulp, plus 0.5 ulp for the oracle's own final rounding: 3 ulp allowed;
    tanh: l2m_tanhf < 2.5 ulp (l2m_math.h) + numpy's float32 tanh (≤ 1 ulp): 4 ulp allowed."""
    x = ACT_INPUTS
    np.testing.assert_array_equal(H.activation(H.ACT_RELU, x), reference.activation(x, "relu"))
    assert_same_floats(H.activation(H.ACT_LINEAR, x), reference.activation(x, "linear"))
    sig = reference.activation(x, "sigmoid")
    assert_close(H.activation(H.ACT_SIGMOID, x), sig, 3 * ulps(sig))
    th = reference.activation(x, "tanh")
    assert_close(H.activation(H.ACT_TANH, x), th, 4 * ulps(th))
    nan = H.activation(H.ACT_SIGMOID, np.array([np.nan], np.float32))
    assert np.isnan(nan).all() and np.isnan(H.activation(H.ACT_TANH, np.array([np.nan], np.float32))).all()


@pytest.mark.parametrize("rows,c", [(1, 1), (3, 2), (5, 10), (2, 33), (1, 200)])
def test_softmax(rows, c):
    """e_i = l2m_expf(x_i − max) (< 0.85 ulp), a left-to-right sum of c terms (≤ (c−1)·u
    relative) and one division: relative error ≤ (c + 3)·u; the oracle computes in float64
    then rounds (0.5 ulp). Rows of ±1e30 check the max subtraction (no overflow)."""
    rng = seeded("softmax", rows, c)
    x = (rng.normal(size=(rows, c)) * rng.choice([0.1, 10, 100], (rows, 1))).astype(np.float32)
    if rows > 2 and c > 2:
        x[0, :3] = (1e30, -1e30, 0.0)
    got, expect = H.softmax(x), reference.activation(x, "softmax")
    assert_close(got, expect, (c + 4) * U * np.abs(expect) + ulps(expect))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=(c + 4) * 2 * U)
