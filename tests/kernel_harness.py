"""ctypes access to every C kernel of firmware/runtime, for tests (not a test file itself).

`lib()` compiles firmware/runtime/*.c once per process into a private shared library with the
project's host flags (larq2mcu.host.CFLAGS: -std=c99 -O2 -fPIC -shared -Wall -Wextra -Wconversion
-Werror -ffp-contract=off) plus a small probe translation unit (below) that exposes the layout
of `l2m_geom` and the static inline helpers of l2m_bits.h.

Each wrapper takes and returns numpy arrays (packed tensors as uint32 words, see larq2mcu.bits)
and enforces the kernel contract of l2m_kernels.h from the outside:
  * outputs are allocated with GUARD trailing canary words: a write past the output fails;
  * outputs are pre-filled with garbage (a NaN pattern), except where the contract requires a
    zeroed output (bitcopy), so a kernel that skips a word or a pad bit is caught;
  * inputs are compared with a copy after the call: kernels must not write through `const`.
`WRAPPED` lists the kernel names wrapped here; tests compare it with the header's declarations.
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import re
import shutil
import tempfile
import zlib
from pathlib import Path

import numpy as np

from larq2mcu import bits, ir, paths, reference
from larq2mcu.host import build_shared, compiler

GUARD = 16                          # canary words after every output buffer
CANARY = np.uint32(0xA5C3E1F7)
GARBAGE = np.uint32(0x7FC0DEAD)     # a quiet NaN as float32, odd pad bits as packed words

ACT_LINEAR, ACT_RELU, ACT_SIGMOID, ACT_TANH = 0, 1, 2, 3   # L2M_ACT_* (0 = identity, the default)

# Exposes what the tests cannot reach through the kernels' own symbols. Must stay warning-free
# under the project's flags since it is compiled with them.
_PROBE_C = r"""
#include <stddef.h>
#include <stdint.h>
#include "l2m_kernels.h"

void l2m_test_geom_layout(int32_t *out);
int32_t l2m_test_popcount32(uint32_t x);
uint32_t l2m_test_get_bit(const uint32_t *v, int32_t i);
void l2m_test_set_bit(uint32_t *v, int32_t i);

void l2m_test_geom_layout(int32_t *out) {
    out[0] = (int32_t)sizeof(l2m_geom);
    out[1] = (int32_t)offsetof(l2m_geom, in_h);
    out[2] = (int32_t)offsetof(l2m_geom, in_w);
    out[3] = (int32_t)offsetof(l2m_geom, in_c);
    out[4] = (int32_t)offsetof(l2m_geom, out_h);
    out[5] = (int32_t)offsetof(l2m_geom, out_w);
    out[6] = (int32_t)offsetof(l2m_geom, out_c);
    out[7] = (int32_t)offsetof(l2m_geom, k_h);
    out[8] = (int32_t)offsetof(l2m_geom, k_w);
    out[9] = (int32_t)offsetof(l2m_geom, stride_h);
    out[10] = (int32_t)offsetof(l2m_geom, stride_w);
    out[11] = (int32_t)offsetof(l2m_geom, pad_top);
    out[12] = (int32_t)offsetof(l2m_geom, pad_left);
}
int32_t l2m_test_popcount32(uint32_t x) { return l2m_popcount32(x); }
uint32_t l2m_test_get_bit(const uint32_t *v, int32_t i) { return l2m_get_bit(v, i); }
void l2m_test_set_bit(uint32_t *v, int32_t i) { l2m_set_bit(v, i); }
"""


class Geom(ctypes.Structure):
    """Mirror of l2m_geom (twelve int32 fields, in declaration order)."""
    _fields_ = [(f, ctypes.c_int32) for f in (
        "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w",
        "stride_h", "stride_w", "pad_top", "pad_left")]


def geom(in_h, in_w, in_c, out_c, k_h, k_w, stride_h=1, stride_w=1, padding="valid"):
    """Geometry of a conv/pool as generated code builds it: returns (Geom, pads (t, b, l, r)),
    or (None, pads) when the output would be empty (a 'valid' window larger than the image).
    'same' uses TensorFlow's rule (ir.same_pads)."""
    if padding == "same":
        pads = ir.same_pads(in_h, k_h, stride_h) + ir.same_pads(in_w, k_w, stride_w)
    else:
        pads = (0, 0, 0, 0)
    oh = ir.conv_out_size(in_h, k_h, stride_h, pads[0], pads[1])
    ow = ir.conv_out_size(in_w, k_w, stride_w, pads[2], pads[3])
    if oh < 1 or ow < 1:
        return None, pads
    return Geom(in_h, in_w, in_c, oh, ow, out_c, k_h, k_w, stride_h, stride_w, pads[0], pads[2]), pads


# ------------------------------------------------------------------------------ the library
_SIGNATURES = {
    # name: argument kinds; g = l2m_geom*, i = int32, f = float, p = pointer
    "l2m_quantize_f32_b32_ref": "iipp",
    "l2m_dequantize_b32_f32_ref": "iipp",
    "l2m_conv2d_b32_f32_ref": "gipppp",
    "l2m_conv2d_b32_b32_ref": "gipppp",
    "l2m_conv2d_packed_b32_f32_ref": "gipppp",
    "l2m_conv2d_packed_b32_b32_ref": "gipppp",
    "l2m_conv2d_sliced_b32_b32_ref": "gipppp",
    "l2m_dense_sliced_b32_b32_ref": "iiipppp",
    "l2m_conv2d_sliced_b32_f32_ref": "gippppp",
    "l2m_dense_sliced_b32_f32_ref": "iiippppp",
    "l2m_dense_b32_f32_ref": "iiipppp",
    "l2m_dense_b32_b32_ref": "iiipppp",
    "l2m_maxpool_b32_b32_ref": "gppp",
    "l2m_avgpool_b32_b32_ref": "gpp",
    "l2m_bitcopy_b32_ref": "iiiipp",
    "l2m_repack_b32_ref": "iiipp",
    "l2m_conv2d_f32_f32_ref": "gfpppp",
    "l2m_dense_f32_f32_ref": "iipppp",
    "l2m_conv2d_f32_b32_ref": "gfpppppp",
    "l2m_dense_f32_b32_ref": "iipppppp",
    "l2m_dense_fw_b32_f32_ref": "iiipppp",
    "l2m_dense_fw_b32_b32_ref": "iiipppppp",
    "l2m_dense_qw_b32_f32_ref": "iiipppppp",
    "l2m_dense_qw_b32_b32_ref": "iiipppppppp",
    "l2m_conv2d_w1_f32_f32_ref": "gfpppp",
    "l2m_conv2d_w1_f32_b32_ref": "gfpppppp",
    "l2m_dense_w1_f32_f32_ref": "iipppp",
    "l2m_dense_w1_f32_b32_ref": "iipppppp",
    "l2m_batchnorm_f32_ref": "iippppp",
    "l2m_sumpool_f32_b32_ref": "gppp",
    "l2m_maxpool_f32_f32_ref": "gpp",
    "l2m_avgpool_f32_f32_ref": "gpp",
    "l2m_global_avgpool_f32_f32_ref": "iipp",
    "l2m_add_f32_f32_ref": "ippp",
    "l2m_chancopy_f32_ref": "iiiipp",
    "l2m_activation_f32_f32_ref": "iipp",
    "l2m_softmax_f32_f32_ref": "iipp",
    "l2m_rescale_f32_f32_ref": "iipppp",
    "l2m_normalize_f32_f32_ref": "iipppp",
    "l2m_conv2d_u8_b32_ref": "gppipppp",
    "l2m_conv2d_s8_b32_ref": "gppipppp",
    "l2m_conv2d_u8_b32_tab": "gppipppp",
    "l2m_conv2d_s8_b32_tab": "gppipppp",
    "l2m_dense_u8_b32_ref": "iipppp",
    "l2m_dense_s8_b32_ref": "iipppp",
    "l2m_gconv2d_b32_f32_ref": "giiiipppp",
    "l2m_gconv2d_b32_b32_ref": "giiiipppp",
    "l2m_gconv2d_f32_f32_ref": "giiifpppp",
    "l2m_gconv2d_f32_b32_ref": "giiifpppppp",
    "l2m_dwconv2d_b32_b32_sliced": "giiiipppp",
    "l2m_dwconv2d_b32_f32_sliced": "giiiipppp",
    "l2m_step_f32_f32_ref": "iipppp",
    "l2m_clip_f32_f32_ref": "iffiipp",
    "l2m_scale_bias_f32_ref": "iippp",
    "l2m_pad_f32_ref": "iiiiiiifpp",
    "l2m_chanwindow_f32_ref": "iiiifpp",
    "l2m_relu_f32_f32_ref": "iffifpp",
    "l2m_prelu_f32_f32_ref": "iippp",
    "l2m_arith_f32_f32_ref": "iiiiiiipiiipp",
}
WRAPPED = frozenset(_SIGNATURES)
_CT = {"g": ctypes.POINTER(Geom), "i": ctypes.c_int32, "f": ctypes.c_float, "p": ctypes.c_void_p}


def declared_kernels(header: str = "l2m_kernels.h") -> set:
    """Names of the void functions declared in a runtime header (empty when it does not exist)."""
    path = paths.runtime_dir() / header
    text = path.read_text() if path.exists() else ""
    return set(re.findall(r"^\s*void\s+(l2m_\w+)\s*\(", text, flags=re.M))


# Float glue kernels with an `_opt` twin (l2m_float_opt.c, declared in l2m_kernels_opt.h).
GLUE_OPT = ("maxpool_f32_f32", "avgpool_f32_f32", "quantize_f32_b32", "dequantize_b32_f32", "sumpool_f32_b32",
            "add_f32_f32")

# The four binary dot kernels that optimized variants (l2m_kernels_opt.h) re-implement.
DOT_KERNELS = ("conv2d_b32_f32", "conv2d_b32_b32", "dense_b32_f32", "dense_b32_b32")


def opt_variants() -> list:
    """Suffixes of the optimized variant sets declared in l2m_kernels_opt.h (each must declare
    all four DOT_KERNELS with the _ref signatures); "ref" first."""
    names = declared_kernels("l2m_kernels_opt.h")
    found = {m.group(2) for n in names if (m := re.fullmatch(r"l2m_(\w+_b32_(?:f32|b32))_(\w+)", n))}
    return ["ref"] + sorted(v for v in found if all(f"l2m_{k}_{v}" in names for k in DOT_KERNELS))


@functools.lru_cache(maxsize=None)
def lib() -> ctypes.CDLL:
    """The runtime compiled once per process (see module doc). Raises on any warning."""
    work = Path(tempfile.mkdtemp(prefix="l2m-kernels-"))
    atexit.register(shutil.rmtree, str(work), True)
    rt = paths.runtime_dir()
    (work / "l2m_test_probe.c").write_text(_PROBE_C)
    sources = sorted(str(p) for p in rt.glob("*.c")) + [str(work / "l2m_test_probe.c")]
    so = work / "libl2m_kernels.so"
    cc = shutil.which("gcc") or compiler()
    build_shared(sources, so, [rt], cc=cc)      # -Werror: a warning fails the build
    dll = ctypes.CDLL(str(so))
    sigs = dict(_SIGNATURES)
    for v in opt_variants()[1:]:
        sigs.update({f"l2m_{k}_{v}": _SIGNATURES[f"l2m_{k}_ref"] for k in DOT_KERNELS})
    sigs.update({f"l2m_{k}_opt": _SIGNATURES[f"l2m_{k}_ref"] for k in GLUE_OPT})
    for name, sig in sigs.items():
        fn = getattr(dll, name)
        fn.argtypes = [_CT[k] for k in sig]
        fn.restype = None
    dll.l2m_sliced_planes.argtypes = [ctypes.c_int32]
    dll.l2m_sliced_planes.restype = ctypes.c_int32
    dll.l2m_test_geom_layout.argtypes = [ctypes.c_void_p]
    dll.l2m_test_popcount32.argtypes = [ctypes.c_uint32]
    dll.l2m_test_popcount32.restype = ctypes.c_int32
    dll.l2m_test_get_bit.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    dll.l2m_test_get_bit.restype = ctypes.c_uint32
    dll.l2m_test_set_bit.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    return dll


# ------------------------------------------------------------------------------ buffers
def _p(a: np.ndarray | None):
    return None if a is None else a.ctypes.data_as(ctypes.c_void_p)


class _Out:
    """An output buffer of `shape` with GUARD canary words behind it."""

    def __init__(self, shape, dtype, init: np.ndarray | None = None):
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.n = int(np.prod(self.shape, dtype=np.int64))
        self.raw = np.full(self.n + GUARD, GARBAGE, np.uint32)
        self.raw[self.n:] = CANARY
        if init is not None:
            self.raw[:self.n] = np.ascontiguousarray(init, self.dtype).reshape(-1).view(np.uint32)

    @property
    def ptr(self):
        return _p(self.raw)

    def result(self, kernel: str) -> np.ndarray:
        if not np.all(self.raw[self.n:] == CANARY):
            raise AssertionError(f"{kernel} wrote past the end of its output ({self.n} words)")
        return self.raw[:self.n].view(self.dtype).reshape(self.shape).copy()


def _in(a, dtype) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)


def _call(name: str, out: _Out, args: list, inputs: list) -> np.ndarray:
    """Call kernel `name`, then check the output guard and that no input was modified."""
    before = [a.copy() for a in inputs if a is not None]
    getattr(lib(), name)(*args)
    for a, b in zip([a for a in inputs if a is not None], before):
        if not np.array_equal(a.view(np.uint8), b.view(np.uint8)):
            raise AssertionError(f"{name} modified one of its const inputs")
    return out.result(name)


# ------------------------------------------------------------------------------ binary kernels
def quantize(x: np.ndarray, impl: str = "ref") -> np.ndarray:
    """float32 (groups, c) → packed (groups, words(c)); `impl` "ref" or "opt" (GLUE_OPT)."""
    x = _in(x, np.float32)
    groups, c = x.shape
    out = _Out((groups, bits.words(c)), np.uint32)
    return _call(f"l2m_quantize_f32_b32_{impl}", out, [groups, c, _p(x), out.ptr], [x])


def dequantize(packed: np.ndarray, c: int, impl: str = "ref") -> np.ndarray:
    """packed (groups, words(c)) → float32 (groups, c) of ±1.0."""
    x = _in(packed, np.uint32)
    groups = x.shape[0]
    out = _Out((groups, c), np.float32)
    return _call(f"l2m_dequantize_b32_f32_{impl}", out, [groups, c, _p(x), out.ptr], [x])


def conv2d_b32_f32(g: Geom, pad_one: int, x, w, bias=None, impl: str = "ref") -> np.ndarray:
    """x: (in_h, in_w, words(in_c)); w: (out_c, k_h, k_w, words(in_c)) → (out_h, out_w, out_c).
    `impl`: "ref" or an optimized variant suffix (opt_variants()), here and in the other dots."""
    x, w = _in(x, np.uint32), _in(w, np.uint32)
    b = None if bias is None else _in(bias, np.float32)
    out = _Out((g.out_h, g.out_w, g.out_c), np.float32)
    return _call(f"l2m_conv2d_b32_f32_{impl}", out,
                 [ctypes.byref(g), pad_one, _p(x), _p(w), _p(b), out.ptr], [x, w, b])


def conv2d_b32_b32(g: Geom, pad_one: int, x, w, thr, impl: str = "ref") -> np.ndarray:
    """As conv2d_b32_f32 with int32 thresholds → packed (out_h, out_w, words(out_c))."""
    x, w, t = _in(x, np.uint32), _in(w, np.uint32), _in(thr, np.int32)
    out = _Out((g.out_h, g.out_w, bits.words(g.out_c)), np.uint32)
    return _call(f"l2m_conv2d_b32_b32_{impl}", out,
                 [ctypes.byref(g), pad_one, _p(x), _p(w), _p(t), out.ptr], [x, w, t])


def dense_b32_f32(groups: int, c: int, out_n: int, x, w, bias=None, impl: str = "ref") -> np.ndarray:
    """x: (groups, words(c)); w: (out_n, groups, words(c)) → float32 (out_n,)."""
    x, w = _in(x, np.uint32), _in(w, np.uint32)
    b = None if bias is None else _in(bias, np.float32)
    out = _Out((out_n,), np.float32)
    return _call(f"l2m_dense_b32_f32_{impl}", out, [groups, c, out_n, _p(x), _p(w), _p(b), out.ptr], [x, w, b])


def dense_b32_b32(groups: int, c: int, out_n: int, x, w, thr, impl: str = "ref") -> np.ndarray:
    """As dense_b32_f32 with int32 thresholds → packed (words(out_n),)."""
    x, w, t = _in(x, np.uint32), _in(w, np.uint32), _in(thr, np.int32)
    out = _Out((bits.words(out_n),), np.uint32)
    return _call(f"l2m_dense_b32_b32_{impl}", out, [groups, c, out_n, _p(x), _p(w), _p(t), out.ptr], [x, w, t])


def maxpool_b32(g: Geom, x, or_mask=None) -> np.ndarray:
    """x: (in_h, in_w, words(c)); or_mask: packed (words(c),) or None → (out_h, out_w, words(c))."""
    x = _in(x, np.uint32)
    m = None if or_mask is None else _in(or_mask, np.uint32)
    out = _Out((g.out_h, g.out_w, bits.words(g.in_c)), np.uint32)
    return _call("l2m_maxpool_b32_b32_ref", out, [ctypes.byref(g), _p(m), _p(x), out.ptr], [x, m])


def avgpool_b32(g: Geom, x) -> np.ndarray:
    x = _in(x, np.uint32)
    out = _Out((g.out_h, g.out_w, bits.words(g.in_c)), np.uint32)
    return _call("l2m_avgpool_b32_b32_ref", out, [ctypes.byref(g), _p(x), out.ptr], [x])


def bitcopy(pixels: int, in_c: int, out_c: int, offset: int, x, out) -> np.ndarray:
    """One concatenation step: returns a copy of packed `out` (pixels, words(out_c)) with the
    runs of `x` (pixels, words(in_c)) OR-ed in at bit `offset`."""
    x = _in(x, np.uint32)
    o = _Out((pixels, bits.words(out_c)), np.uint32, init=out)
    return _call("l2m_bitcopy_b32_ref", o, [pixels, in_c, out_c, offset, _p(x), o.ptr], [x])


def repack(in_c: int, out_groups: int, out_c: int, x) -> np.ndarray:
    """packed (in_groups, words(in_c)) → (out_groups, words(out_c)), same logical bits."""
    x = _in(x, np.uint32)
    out = _Out((out_groups, bits.words(out_c)), np.uint32)
    return _call("l2m_repack_b32_ref", out, [in_c, out_groups, out_c, _p(x), out.ptr], [x])


# ------------------------------------------------------------------------------ float kernels
def conv2d_f32(g: Geom, pad_value: float, x, w, bias=None) -> np.ndarray:
    """x: (in_h, in_w, in_c); w: HWIO → (out_h, out_w, out_c)."""
    x, w = _in(x, np.float32), _in(w, np.float32)
    b = None if bias is None else _in(bias, np.float32)
    out = _Out((g.out_h, g.out_w, g.out_c), np.float32)
    return _call("l2m_conv2d_f32_f32_ref", out,
                 [ctypes.byref(g), float(pad_value), _p(x), _p(w), _p(b), out.ptr], [x, w, b])


def dense_f32(x, w, bias=None) -> np.ndarray:
    """x: (in_n,); w: (in_n, out_n) → (out_n,)."""
    x, w = _in(x, np.float32), _in(w, np.float32)
    b = None if bias is None else _in(bias, np.float32)
    in_n, out_n = w.shape
    out = _Out((out_n,), np.float32)
    return _call("l2m_dense_f32_f32_ref", out, [in_n, out_n, _p(x), _p(w), _p(b), out.ptr], [x, w, b])


def conv2d_f32_b32(g: Geom, pad_value: float, x, w, bias, tau, mode) -> np.ndarray:
    """The float conv's sums thresholded per channel (ir.FloatThreshold: float32 tau, int8 mode)
    → packed (out_h, out_w, words(out_c))."""
    x, w, t, m = _in(x, np.float32), _in(w, np.float32), _in(tau, np.float32), _in(mode, np.int8)
    b = None if bias is None else _in(bias, np.float32)
    out = _Out((g.out_h, g.out_w, bits.words(g.out_c)), np.uint32)
    return _call("l2m_conv2d_f32_b32_ref", out,
                 [ctypes.byref(g), float(pad_value), _p(x), _p(w), _p(b), _p(t), _p(m), out.ptr], [x, w, b, t, m])


def dense_f32_b32(x, w, bias, tau, mode) -> np.ndarray:
    """x: (in_n,); w: (in_n, out_n) → packed (words(out_n),) of the thresholded sums."""
    x, w, t, m = _in(x, np.float32), _in(w, np.float32), _in(tau, np.float32), _in(mode, np.int8)
    b = None if bias is None else _in(bias, np.float32)
    in_n, out_n = w.shape
    out = _Out((bits.words(out_n),), np.uint32)
    return _call("l2m_dense_f32_b32_ref", out,
                 [in_n, out_n, _p(x), _p(w), _p(b), _p(t), _p(m), out.ptr], [x, w, b, t, m])


def batchnorm(x, mean, scale, offset, alias: bool = False) -> np.ndarray:
    """x: (pixels, c) → (pixels, c); with `alias` the output buffer is x's (allowed by contract)."""
    x, mean, scale, offset = (_in(a, np.float32) for a in (x, mean, scale, offset))
    pixels, c = x.shape
    if alias:
        out = _Out((pixels, c), np.float32, init=x)
        return _call("l2m_batchnorm_f32_ref", out,
                     [pixels, c, out.ptr, _p(mean), _p(scale), _p(offset), out.ptr], [mean, scale, offset])
    out = _Out((pixels, c), np.float32)
    return _call("l2m_batchnorm_f32_ref", out,
                 [pixels, c, _p(x), _p(mean), _p(scale), _p(offset), out.ptr], [x, mean, scale, offset])


def maxpool_f32(g: Geom, x, impl: str = "ref") -> np.ndarray:
    x = _in(x, np.float32)
    out = _Out((g.out_h, g.out_w, g.in_c), np.float32)
    return _call(f"l2m_maxpool_f32_f32_{impl}", out, [ctypes.byref(g), _p(x), out.ptr], [x])


def avgpool_f32(g: Geom, x, impl: str = "ref") -> np.ndarray:
    x = _in(x, np.float32)
    out = _Out((g.out_h, g.out_w, g.in_c), np.float32)
    return _call(f"l2m_avgpool_f32_f32_{impl}", out, [ctypes.byref(g), _p(x), out.ptr], [x])


def sumpool_sign(g: Geom, tau, x, impl: str = "ref") -> np.ndarray:
    """x: (h, w, c) floats holding integers; tau int32 (k_h·k_w, c) → packed bits (oh, ow, words(c))."""
    x, t = _in(x, np.float32), _in(tau, np.int32)
    out = _Out((g.out_h, g.out_w, bits.words(g.in_c)), np.uint32)
    return _call(f"l2m_sumpool_f32_b32_{impl}", out, [ctypes.byref(g), _p(t), _p(x), out.ptr], [t, x])


def global_avgpool(x) -> np.ndarray:
    """x: (pixels, c) → (c,)."""
    x = _in(x, np.float32)
    pixels, c = x.shape
    out = _Out((c,), np.float32)
    return _call("l2m_global_avgpool_f32_f32_ref", out, [pixels, c, _p(x), out.ptr], [x])


def add(a, b, alias: str | None = None, impl: str = "ref") -> np.ndarray:
    """a + b element-wise; with alias "a" or "b" the output buffer *is* that operand's buffer
    (allowed by contract: generated code sums more than two inputs in place); `impl` "ref" or "opt"."""
    a, b = _in(a, np.float32).reshape(-1), _in(b, np.float32).reshape(-1)
    n, name = a.size, f"l2m_add_f32_f32_{impl}"
    if alias is None:
        out = _Out((n,), np.float32)
        return _call(name, out, [n, _p(a), _p(b), out.ptr], [a, b])
    out = _Out((n,), np.float32, init=a if alias == "a" else b)
    pa, pb, other = (out.ptr, _p(b), b) if alias == "a" else (_p(a), out.ptr, a)
    return _call(name, out, [n, pa, pb, out.ptr], [other])


def chancopy(pixels: int, in_c: int, out_c: int, offset: int, x, out) -> np.ndarray:
    """Returns a copy of `out` (pixels, out_c) with x (pixels, in_c) written at channel `offset`."""
    x = _in(x, np.float32)
    o = _Out((pixels, out_c), np.float32, init=out)
    return _call("l2m_chancopy_f32_ref", o, [pixels, in_c, out_c, offset, _p(x), o.ptr], [x])


def activation(kind: int, x, alias: bool = False) -> np.ndarray:
    """Element-wise activation (ACT_*); with `alias` computed in place (allowed by contract)."""
    x = _in(x, np.float32).reshape(-1)
    out = _Out((x.size,), np.float32, init=x if alias else None)
    src, inputs = (out.ptr, []) if alias else (_p(x), [x])
    return _call("l2m_activation_f32_f32_ref", out, [x.size, kind, src, out.ptr], inputs)


def softmax(x, alias: bool = False) -> np.ndarray:
    """x: (rows, c) → (rows, c); with `alias` computed in place (allowed by contract)."""
    x = _in(x, np.float32)
    rows, c = x.shape
    out = _Out((rows, c), np.float32, init=x if alias else None)
    src, inputs = (out.ptr, []) if alias else (_p(x), [x])
    return _call("l2m_softmax_f32_f32_ref", out, [rows, c, src, out.ptr], inputs)


def step(x, bp, levels, alias: bool = False) -> np.ndarray:
    """Element-wise step function (l2m_step.c); with `alias` in place (allowed by contract)."""
    x, bp, lv = _in(x, np.float32).reshape(-1), _in(bp, np.float32), _in(levels, np.float32)
    out = _Out((x.size,), np.float32, init=x if alias else None)
    src, inputs = (out.ptr, [bp, lv]) if alias else (_p(x), [x, bp, lv])
    return _call("l2m_step_f32_f32_ref", out, [x.size, bp.size, _p(bp), _p(lv), src, out.ptr], inputs)


def clip(x, lo, hi, strict: bool, flush: bool, alias: bool = False) -> np.ndarray:
    """Element-wise clip (l2m_step.c); with `alias` in place (allowed by contract)."""
    x = _in(x, np.float32).reshape(-1)
    out = _Out((x.size,), np.float32, init=x if alias else None)
    src, inputs = (out.ptr, []) if alias else (_p(x), [x])
    return _call("l2m_clip_f32_f32_ref", out, [x.size, float(lo), float(hi), int(strict), int(flush), src, out.ptr],
                 inputs)


def scale_bias(x, scale, bias) -> np.ndarray:
    """In place over (pixels, c): x·scale (+ bias, None → NULL)."""
    x, sc = _in(x, np.float32), _in(scale, np.float32)
    b = None if bias is None else _in(bias, np.float32)
    out = _Out(x.shape, np.float32, init=x)
    return _call("l2m_scale_bias_f32_ref", out, [x.shape[0], x.shape[1], _p(sc), None if b is None else _p(b),
                                                 out.ptr], [sc, b])


# ------------------------------------------------------------------------------ test helpers
# The awkward sizes every sweep covers: around one and two 32-bit words.
CHANNELS = [1, 3, 31, 32, 33, 63, 64, 128]
OUT_C = {1: 33, 3: 64, 31: 1, 32: 3, 33: 31, 63: 128, 64: 32, 128: 63}   # every size as out_c too
KERNELS = [(1, 1), (3, 3), (5, 5), (1, 3), (3, 1)]
SPATIAL = [(1, 1), (5, 7), (9, 9)]


def seeded(*key) -> np.random.Generator:
    """A generator seeded by the test's parameters (stable across processes, unlike hash())."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def pm1(rng, shape) -> np.ndarray:
    return rng.choice(np.array([-1, 1], np.int8), size=shape)


def ref(o: ir.Op, *args, out_shape=()) -> np.ndarray:
    """reference.run_op on a batch of one sample."""
    return reference.run_op(o, [np.asarray(a)[None] for a in args], ir.Tensor("y", out_shape, ir.F32))[0]


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


# ------------------------------------------------------------------------------ probe helpers
def geom_layout() -> list:
    """[sizeof(l2m_geom), offsetof(each field in declaration order)...] as the C compiler sees it."""
    buf = np.zeros(13, np.int32)
    lib().l2m_test_geom_layout(_p(buf))
    return buf.tolist()


def popcount32(x: int) -> int:
    return int(lib().l2m_test_popcount32(int(x)))


def get_bit(v: np.ndarray, i: int) -> int:
    v = _in(v, np.uint32)
    return int(lib().l2m_test_get_bit(_p(v), i))


def set_bit(v: np.ndarray, i: int) -> np.ndarray:
    o = _Out(v.shape, np.uint32, init=v)
    lib().l2m_test_set_bit(o.ptr, i)
    return o.result("l2m_set_bit")


# ------------------------------------------------------------------------------ glue kernels
def pad(x, pads, value) -> np.ndarray:
    """(h, w, c) → (h + t + b, w + l + r, c) surrounded by value (l2m_pad_f32_ref)."""
    x = _in(x, np.float32)
    h, w, c = x.shape
    t, b, l, r = pads
    out = _Out((h + t + b, w + l + r, c), np.float32)
    return _call("l2m_pad_f32_ref", out, [h, w, c, t, b, l, r, value, _p(x), out.ptr], [x])


def chanwindow(x, begin, out_c, value) -> np.ndarray:
    """(..., in_c) → (..., out_c): out[..., i] = x[..., begin + i] inside, else value
    (l2m_chanwindow_f32_ref)."""
    x = _in(x, np.float32)
    pixels = x.size // x.shape[-1]
    out = _Out(x.shape[:-1] + (out_c,), np.float32)
    return _call("l2m_chanwindow_f32_ref", out, [pixels, x.shape[-1], out_c, begin, value, _p(x), out.ptr], [x])


def relu(x, alpha, threshold, max_value, alias: bool = False) -> np.ndarray:
    """l2m_relu_f32_f32_ref on flat x (max_value None: no ceiling); `alias`: out == in."""
    x = _in(x, np.float32).reshape(-1)
    args = [x.size, alpha, threshold, int(max_value is not None), 0.0 if max_value is None else max_value]
    out = _Out((x.size,), np.float32, init=x if alias else None)
    return _call("l2m_relu_f32_f32_ref", out, args + [out.ptr if alias else _p(x), out.ptr], [] if alias else [x])


def prelu(x, alpha, alias: bool = False) -> np.ndarray:
    """l2m_prelu_f32_f32_ref on flat x with flat alpha (len divides x.size); `alias`: out == in."""
    x, a = _in(x, np.float32).reshape(-1), _in(alpha, np.float32).reshape(-1)
    out = _Out((x.size,), np.float32, init=x if alias else None)
    return _call("l2m_prelu_f32_f32_ref", out, [x.size, a.size, _p(a), out.ptr if alias else _p(x), out.ptr],
                 [a] if alias else [a, x])


def arith(kind: int, a, b, out_shape, alias: str | None = None) -> np.ndarray:
    """l2m_arith_f32_f32_ref: a kind b broadcast to out_shape (rank <= 3); `alias` "a"/"b": the
    output buffer is that (unbroadcast) operand's."""
    from larq2mcu.ops.glue import strides3
    a, b = _in(a, np.float32), _in(b, np.float32)
    h, w, c = (1,) * (3 - len(out_shape)) + tuple(out_shape)
    out = _Out(out_shape, np.float32, init={"a": a, "b": b}.get(alias))
    pa = out.ptr if alias == "a" else _p(a)
    pb = out.ptr if alias == "b" else _p(b)
    args = [kind, h, w, c, *strides3(a.shape, out_shape), pa, *strides3(b.shape, out_shape), pb, out.ptr]
    return _call("l2m_arith_f32_f32_ref", out, args, [t for k, t in (("a", a), ("b", b)) if k != alias])
