"""Weight layouts for the C kernels.

Layouts (contracts in firmware/runtime/l2m_kernels.h):
  * binary conv: HWIO ±1 → (O, H, W, words(I)) packed words, or for few input channels each
    filter's H·W·I window bits packed densely (O, words(H·W·I));
  * binary dense: (G·C, O) ±1 read by an input packed as G groups of C → (O, G, words(C));
"""
from __future__ import annotations

import numpy as np

from .. import bits


def pack_conv(weights: np.ndarray) -> np.ndarray:
    """HWIO ±1 → flat uint32 (O, H, W, words(I)): per filter, per tap, its I channel bits."""
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
    """(G·C, O) ±1 with input packing (G, C) → flat uint32 (O, G, words(C)), matching the input's words."""
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
    """Boolean mask [C] (True = bit 1) → flat uint32 words(C), LSB first, pad bits 0."""
    return bits.pack(np.asarray(mask, bool)).reshape(-1)
