"""Level 0: every C kernel of firmware/runtime against the numpy oracle (larq2mcu/reference.py).

Binary kernels must be bit-exact, including their packed words (pad bits 0); float kernels are
bit-exact where the arithmetic is the same (element-wise ops, copies, max, integer-valued sums)
and otherwise within a stated rounding bound: see test_kernels_float.py.
The C side goes through tests/kernel_harness.py, which also checks that no kernel writes past
its output, leaves an output word unwritten, or modifies an input.
"""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernel_harness as H
from kernel_harness import (CHANNELS, KERNELS, OUT_C, SPATIAL, assert_bits, assert_same_floats, op, pm1, ref,
                            seeded)
from larq2mcu import bits, ir, reference

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
IMPLS = H.opt_variants()     # "ref" and every optimized variant of l2m_kernels_opt.h: all bit-exact


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
    with_bias = ir.BinaryConv2D(**{**vars(conv), "bias": bias})
    thr = thresholds(rng, acc, k[0] * k[1] * in_c)
    with_thr = ir.BinaryConv2D(**{**vars(conv), "threshold": ir.Threshold(thr)})
    expect_f, expect_b = ref(with_bias, x), ref(with_thr, x)
    for impl in IMPLS:
        try:
            assert_same_floats(H.conv2d_b32_f32(g, pad_one, xp, wp, impl=impl), acc.astype(np.float32))
            assert_same_floats(H.conv2d_b32_f32(g, pad_one, xp, wp, bias, impl=impl), expect_f)
            assert_bits(H.conv2d_b32_b32(g, pad_one, xp, wp, thr, impl=impl), expect_b, out_c)
        except AssertionError as e:
            raise AssertionError(f"l2m_conv2d_*_{impl}: {e}") from None
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
        dense = op(ir.BinaryDense, weights=wt, bias=bias)
        thr = thresholds(rng, acc[None], groups * c)
        dense_t = op(ir.BinaryDense, weights=wt, threshold=ir.Threshold(thr))
        for impl in IMPLS:
            try:
                got = H.dense_b32_f32(groups, c, out_n, xp, wp, impl=impl)
                assert_same_floats(got, acc.astype(np.float32))
                assert_same_floats(H.dense_b32_f32(groups, c, out_n, xp, wp, bias, impl=impl), ref(dense, flat))
                assert_bits(H.dense_b32_b32(groups, c, out_n, xp, wp, thr, impl=impl), ref(dense_t, flat), out_n)
            except AssertionError as e:
                raise AssertionError(f"l2m_dense_*_{impl} (groups={groups}): {e}") from None


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


def test_runtime_includes_point_one_way():
    """The runtime's own #include "..." graph has no cycle, l2m_types.h (geometry, status codes,
    the output descriptor) includes no runtime header, and every included runtime file exists."""
    import re

    from larq2mcu import paths
    rt = paths.runtime_dir()
    files = {p.name: p for p in rt.iterdir() if p.suffix in (".c", ".h")}
    edges = {n: re.findall(r'^\s*#\s*include\s+"([^"]+)"', p.read_text(), re.M) for n, p in files.items()}
    for n, inc in edges.items():
        assert set(inc) <= set(files), f"{n} includes a file not in the runtime: {set(inc) - set(files)}"
    assert edges["l2m_types.h"] == [], "the leaf types header must include no runtime header"
    done, path = set(), []

    def visit(n: str) -> None:
        assert n not in path, f"include cycle: {' -> '.join(path[path.index(n):] + [n])}"
        if n in done:
            return
        path.append(n)
        for m in edges[n]:
            visit(m)
        path.pop()
        done.add(n)

    for n in sorted(files):
        visit(n)
