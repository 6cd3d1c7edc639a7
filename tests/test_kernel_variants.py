"""Issue 4: every optimized binary-kernel variant (firmware/runtime/l2m_binary_opt.c) is bit-identical
to its _ref twin.

* Host: the whole runtime is compiled (-Werror, gcc and clang, plus -mpopcnt where the CPU has
  it so `_hw` takes its popcount path) into a .so and driven through ctypes on random data over
  the channel counts that exercise word boundaries (1, 3, 31, 32, 33, 63, 64, 128), odd image
  sizes, stride 1/2, valid/same geometry and pad_one 0/1 — every variant, both output kinds.
* QEMU: a zoo model with randomized BN is exported with kernel_variant=<v> and run with
  boardrun.run_on_board on the board whose ISA the variant targets; its outputs must equal the
  host library of the `ref` export bit for bit.
"""
from __future__ import annotations

import ctypes
import shutil
from pathlib import Path

import numpy as np
import pytest

import engine_libs

from larq2mcu import bits, paths

from larq2mcu.board import runs as boardrun

from larq2mcu.board import profiles as boards

from larq2mcu import board as targets

from larq2mcu.dev import zoo
from larq2mcu.variants import get_variant
from larq2mcu.host import build_shared

VARIANTS = ("hs", "clz", "usad8", "zbb", "hw", "builtin")
CHANNELS = (1, 3, 31, 32, 33, 63, 64, 128)
OPT_HEADER = "l2m_kernels_opt.h"


def _has_popcnt() -> bool:
    try:
        return " popcnt" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _build(cc: str, tmp: Path, extra=()) -> ctypes.CDLL:
    rt = paths.runtime_dir()
    so = tmp / f"libl2m_{Path(cc).name}{'_'.join(extra)}.so"
    # -Werror (host CFLAGS) + -Wpedantic: a warning fails the build
    build_shared(sorted(rt.glob("*.c")), so, [rt], ("-Wpedantic", *extra), cc=cc)
    return ctypes.CDLL(str(so))


def _libs(tmp: Path) -> dict:
    out = {}
    for cc in ("gcc", "clang"):
        if shutil.which(cc):
            out[cc] = _build(cc, tmp)
    if shutil.which("gcc") and _has_popcnt():
        out["gcc-mpopcnt"] = _build("gcc", tmp, ("-mpopcnt",))
    return out


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    libs = _libs(tmp_path_factory.mktemp("variants"))
    if not libs:
        pytest.skip("no host C compiler (gcc or clang)")
    return libs


def _p(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


def _conv(lib, name, geom, pad_one, x, w, param, out_len, is_bits):
    g = (ctypes.c_int32 * 12)(*geom)
    out = np.full(out_len + 4, 0x7FC0DEAD, np.uint32)   # garbage + guard words
    fn = getattr(lib, name)
    fn.restype = None
    fn(ctypes.byref(g), ctypes.c_int32(pad_one), _p(x), _p(w), _p(param) if param is not None else None, _p(out))
    assert (out[out_len:] == 0x7FC0DEAD).all(), f"{name} wrote past its output"
    return out[:out_len].copy()


def _dense(lib, name, groups, c, n_out, x, w, param, out_len):
    out = np.full(out_len + 4, 0x7FC0DEAD, np.uint32)
    fn = getattr(lib, name)
    fn.restype = None
    fn(ctypes.c_int32(groups), ctypes.c_int32(c), ctypes.c_int32(n_out), _p(x), _p(w),
       _p(param) if param is not None else None, _p(out))
    assert (out[out_len:] == 0x7FC0DEAD).all(), f"{name} wrote past its output"
    return out[:out_len].copy()


def _packed(rng, groups: int, c: int) -> np.ndarray:
    return bits.pack(rng.integers(0, 2, (groups, c)).astype(np.int8) * -2 + 1).reshape(-1).astype(np.uint32)


CONV_CASES = [  # (h, w, in_c, out_c, k, stride, same)
    (5, 7, 1, 3, 3, 1, True), (6, 5, 3, 33, 3, 2, True), (7, 7, 31, 32, 3, 1, False),
    (5, 6, 32, 31, 3, 1, True), (4, 5, 33, 64, 2, 2, False), (5, 5, 63, 1, 3, 1, True),
    (6, 7, 64, 63, 3, 2, False), (4, 4, 128, 65, 3, 1, True), (3, 5, 3, 128, 1, 1, False),
    (9, 8, 64, 32, 5, 1, True), (1, 1, 64, 10, 1, 1, False), (7, 9, 32, 16, 3, 2, True),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c)))
def test_conv_variants_match_ref(libs, case):
    h, w, c, oc, k, s, same = case
    rng = np.random.default_rng(hash(case) & 0xFFFF)
    geom = engine_libs.geometry(h, w, c, oc, k, s, same)
    nw = bits.words(c)
    x = _packed(rng, h * w, c)
    wt = _packed(rng, oc * k * k, c)
    kk = k * k * c
    thr = rng.integers(-kk, kk + 2, oc).astype(np.int32)
    bias = rng.normal(0, 3, oc).astype(np.float32)
    n_bits, n_f = geom[3] * geom[4] * bits.words(oc), geom[3] * geom[4] * oc
    assert x.size == h * w * nw
    for cc, lib in libs.items():
        for pad_one in (0, 1):
            ref_b = _conv(lib, "l2m_conv2d_b32_b32_ref", geom, pad_one, x, wt, thr, n_bits, True)
            ref_f = _conv(lib, "l2m_conv2d_b32_f32_ref", geom, pad_one, x, wt, bias, n_f, False)
            ref_n = _conv(lib, "l2m_conv2d_b32_f32_ref", geom, pad_one, x, wt, None, n_f, False)
            for v in VARIANTS:
                got = _conv(lib, f"l2m_conv2d_b32_b32_{v}", geom, pad_one, x, wt, thr, n_bits, True)
                assert np.array_equal(got, ref_b), f"{cc} {v} conv b32 pad_one={pad_one}"
                got = _conv(lib, f"l2m_conv2d_b32_f32_{v}", geom, pad_one, x, wt, bias, n_f, False)
                assert np.array_equal(got, ref_f), f"{cc} {v} conv f32 pad_one={pad_one}"
                got = _conv(lib, f"l2m_conv2d_b32_f32_{v}", geom, pad_one, x, wt, None, n_f, False)
                assert np.array_equal(got, ref_n), f"{cc} {v} conv f32 (no bias) pad_one={pad_one}"


DENSE_CASES = [(1, 1, 1), (1, 3, 33), (1, 31, 10), (1, 32, 32), (1, 33, 64), (1, 63, 7), (1, 64, 128),
               (1, 128, 5), (49, 64, 128), (9, 3, 31), (25, 33, 65), (1, 1000, 3)]


@pytest.mark.parametrize("case", DENSE_CASES, ids=lambda c: "x".join(map(str, c)))
def test_dense_variants_match_ref(libs, case):
    groups, c, n_out = case
    rng = np.random.default_rng(7 + groups * 1000 + c * 10 + n_out)
    x = _packed(rng, groups, c)
    wt = _packed(rng, n_out * groups, c)
    k = groups * c
    thr = rng.integers(-k, k + 2, n_out).astype(np.int32)
    bias = rng.normal(0, 3, n_out).astype(np.float32)
    for cc, lib in libs.items():
        ref_b = _dense(lib, "l2m_dense_b32_b32_ref", groups, c, n_out, x, wt, thr, bits.words(n_out))
        ref_f = _dense(lib, "l2m_dense_b32_f32_ref", groups, c, n_out, x, wt, bias, n_out)
        for v in VARIANTS:
            got = _dense(lib, f"l2m_dense_b32_b32_{v}", groups, c, n_out, x, wt, thr, bits.words(n_out))
            assert np.array_equal(got, ref_b), f"{cc} {v} dense b32"
            got = _dense(lib, f"l2m_dense_b32_f32_{v}", groups, c, n_out, x, wt, bias, n_out)
            assert np.array_equal(got, ref_f), f"{cc} {v} dense f32"


def test_xor_popcount_hook(libs):
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 3, 7, 30, 31, 100, 1000):
        a = rng.integers(0, 2**32, n + 1, dtype=np.uint64).astype(np.uint32)
        b = rng.integers(0, 2**32, n + 1, dtype=np.uint64).astype(np.uint32)
        want = int(np.unpackbits((a[:n] ^ b[:n]).view(np.uint8)).sum())
        for lib in libs.values():
            fn = lib.l2m_opt_xor_popcount
            fn.restype = ctypes.c_int32
            for mode in range(5):
                assert fn(ctypes.c_int32(mode), _p(a), _p(b), ctypes.c_int32(n)) == want


# ------------------------------------------------------------------------------------ QEMU
# (board, variant, zoo builder): each ISA-specific path runs on a core that has the feature, and
# the portable one on cores without; the two models together use all four kernel kinds.
QEMU_CASES = [("qemu_m4", "usad8", "mnist_bnn"), ("qemu_m55", "usad8", "seed_mixed_cnn"),
              ("qemu_rv32_zbb", "zbb", "mnist_bnn"), ("qemu_m0", "hs", "seed_mixed_cnn"),
              ("qemu_rv32", "hs", "mnist_bnn"), ("qemu_lx106", "clz", "mnist_bnn"), ("qemu_m3", "clz", "mnist_bnn"),
              ("qemu_m7", "builtin", "seed_mixed_cnn")]


def declare_opt_kernels(out_dir: Path) -> None:
    """Until l2m_kernels.h includes l2m_kernels_opt.h, make the exported model.c include it."""
    if OPT_HEADER in (out_dir / "l2m_kernels.h").read_text():
        return
    for c in out_dir.glob("*.c"):
        text = c.read_text()
        if '#include "l2m_kernels.h"' in text and not c.name.startswith("l2m_"):
            c.write_text(text.replace('#include "l2m_kernels.h"',
                                      f'#include "l2m_kernels.h"\n#include "{OPT_HEADER}"', 1))


@pytest.fixture(scope="module")
def qemu_models(tmp_path_factory, tfm):
    import larq2mcu
    _, keras, _ = tfm
    out = {}
    for builder in sorted({c[2] for c in QEMU_CASES}):
        keras.utils.set_random_seed(5)
        m = zoo.randomize_bn(getattr(zoo, builder)(input_shape=(12, 12, 1), num_classes=10), seed=9)
        ref = larq2mcu.export(m, tmp_path_factory.mktemp(builder) / "ref", name="net")
        x = np.random.default_rng(2).normal(size=(3, 12, 12, 1)).astype(np.float32)
        out[builder] = (m, x, ref.build_host().predict(x))
    return out


@pytest.mark.toolchain
@pytest.mark.parametrize("board,variant,builder", QEMU_CASES)
def test_variant_on_qemu_matches_host_ref(qemu_models, tmp_path, board, variant, builder):
    import larq2mcu
    b = boards.get_board(board)
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    m, x, y_ref = qemu_models[builder]
    exp = larq2mcu.export(m, tmp_path / "lib", name="net", kernel_variant=variant)
    assert f"_{variant}(" in exp.files["net.c"], "the variant's kernels were not selected"
    if get_variant(variant).sliced and builder == "mnist_bnn":   # 64-filter conv, 128-unit dense
        assert exp.files["net.c"].count("l2mi_conv2d_sliced(") == 1
        assert exp.files["net.c"].count("l2mi_dense_sliced(") == 1
    declare_opt_kernels(exp.out_dir)
    y, results = boardrun.run_on_board(exp, b, x, expected=y_ref)
    assert all(r.exit_code == 0 for r in results)
    assert np.array_equal(y.view(np.uint32), y_ref.view(np.uint32))
