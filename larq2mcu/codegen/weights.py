"""Weight layouts for the C kernels, and C literal formatting.

Layouts (contracts in firmware/runtime/l2m_kernels.h):
  * binary conv: HWIO ±1 → (O, H, W, words(I)) packed words, or for few input channels each
    filter's H·W·I window bits packed densely (O, words(H·W·I));
  * binary dense: (G·C, O) ±1 read by an input packed as G groups of C → (O, G, words(C));
  * floats are emitted as C99 hex-float literals: exact and deterministic.
"""
from __future__ import annotations

import numpy as np

from .. import bits


def pack_conv(weights: np.ndarray) -> np.ndarray:
    return bits.pack(np.transpose(weights, (3, 0, 1, 2))).reshape(-1)


PACKED_MAX_WORDS = 32     # L2M_PACKED_MAX_WORDS in l2m_kernels.h


def packed_layout(weights: np.ndarray) -> bool:
    """Use the densely packed window conv (l2m_conv2d_packed_*): pixels of cin < 32 channels leave
    pad bits in every tap word, and packing the kh·kw·cin window bits without them takes fewer
    words (fewer XOR/popcounts per filter, fewer flash bytes) — within the kernel's stack bound."""
    kh, kw, cin, _ = weights.shape
    n = bits.words(kh * kw * cin)
    return cin < 32 and n < kh * kw and n <= PACKED_MAX_WORDS


def pack_conv_packed(weights: np.ndarray) -> np.ndarray:
    """HWIO ±1 → (O, words(H·W·I)): each filter's window bits, bit (ky·kw + kx)·cin + c."""
    kh, kw, cin, cout = weights.shape
    return bits.pack(np.transpose(weights, (3, 0, 1, 2)).reshape(cout, kh * kw * cin)).reshape(-1)


def conv_layout(weights: np.ndarray) -> tuple[bool, np.ndarray]:
    """(packed?, words): the binary conv weights in the layout the kernels read — each filter's
    window packed densely when packed_layout says so, else per tap — as (O, words per filter)."""
    dense = packed_layout(weights)
    words = pack_conv_packed(weights) if dense else pack_conv(weights)
    return dense, words.reshape(weights.shape[-1], -1)


def pack_dense(weights: np.ndarray, packing: tuple) -> np.ndarray:
    groups, ch = packing
    w = weights.reshape(groups, ch, weights.shape[-1])
    return bits.pack(np.transpose(w, (2, 0, 1))).reshape(-1)


def is_binary(kernel: np.ndarray) -> bool:
    """A float kernel whose values are all ±1 (a binary kernel on a float input)."""
    return bool(np.all(np.abs(kernel) == 1.0))


def pack_w1_conv(kernel: np.ndarray) -> np.ndarray:
    """HWIO ±1 → per output channel its kh·kw·cin bits (HWI order) packed contiguously."""
    return bits.pack(np.transpose(kernel, (3, 0, 1, 2)).reshape(kernel.shape[-1], -1)).reshape(-1)


def pack_w1_dense(kernel: np.ndarray) -> np.ndarray:
    """(in, out) ±1 → per output its `in` bits."""
    return bits.pack(kernel.T).reshape(-1)


def pack_mask(mask: np.ndarray) -> np.ndarray:
    return bits.pack(np.asarray(mask, bool)).reshape(-1)


def c_float(v) -> str:
    """Exact C99 literal of a float32 value (hex float)."""
    f = float(np.float32(v))
    if not np.isfinite(f):
        raise ValueError(f"non-finite constant {f}")
    return f.hex() + "f"


def format_array(arr: np.ndarray, ctype: str, per_line: int = 8) -> str:
    """Body of a C initializer list, `per_line` values a line."""
    a = np.asarray(arr).reshape(-1)
    if ctype == "uint32_t":
        items = [f"0x{int(x):08x}u" for x in a.astype(np.uint32)]
    elif ctype == "int32_t":
        items = [str(int(x)) for x in a.astype(np.int64)]
        items = [("(-2147483647 - 1)" if s == "-2147483648" else s) for s in items]
    elif ctype == "int8_t":
        items = [str(int(x)) for x in a.astype(np.int64)]
        per_line = 16
    elif ctype == "float":
        items = [c_float(x) for x in a.astype(np.float32)]
    else:
        raise ValueError(ctype)
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines)
