"""The bit convention, stated once for Python (its C twin is firmware/runtime/l2m_bits.h).

A binary value v ∈ {−1, +1} is stored as the bit b = (v < 0): bit 1 = −1, bit 0 = +1.
Bits are packed into 32-bit words (uint32), least-significant bit first, along the channel axis
of an NHWC tensor: channel c of a pixel lives in word c // 32, bit c % 32. Every pixel (more
generally every *group*) starts a new word; the unused high bits of its last word (pad bits) are
0, i.e. +1. This is the Larq Compute Engine layout.

Consequence used throughout (docs/MATH.md §1): for two packed vectors of n real elements,
    dot = n − 2·popcount(A XOR W)
because pad bits are 0 in both operands and XOR to 0.
"""
from __future__ import annotations

import numpy as np

WORD_BITS = 32


def words(channels: int) -> int:
    """Words needed for `channels` bits: ceil(channels / 32)."""
    return (int(channels) + WORD_BITS - 1) // WORD_BITS


FLT_MIN = np.float32(2.0 ** -126)     # smallest normal float32


def sign_bits(x: np.ndarray) -> np.ndarray:
    """Bits of sign(x) as Keras computes it on CPU: sign(0) = sign(−0.0) = +1, and TensorFlow
    flushes subnormals to zero, so a negative subnormal gives +1 too: bit = (x ≤ −FLT_MIN)."""
    return np.asarray(x) <= -FLT_MIN


def to_pm1(bits: np.ndarray) -> np.ndarray:
    """Bits (bool/0-1) → int8 values ±1 (bit 1 = −1)."""
    return np.where(np.asarray(bits).astype(bool), -1, 1).astype(np.int8)


def pack(values: np.ndarray) -> np.ndarray:
    """Pack ±1 values (or bools, True = −1) along the last axis → uint32 (..., words(C)).

    Pad bits are 0. Memory: one byte per padded bit (np.packbits, little bit order, read as
    little-endian words) — linear in the bits, no per-bit integer temporaries.
    """
    v = np.asarray(values)
    b = v.astype(bool) if v.dtype == bool else (v < 0)
    c = b.shape[-1]
    nw = words(c)
    if nw * WORD_BITS != c:
        padded = np.zeros(b.shape[:-1] + (nw * WORD_BITS,), dtype=bool)
        padded[..., :c] = b
        b = padded
    by = np.packbits(b, axis=-1, bitorder="little")            # (..., 4·nw) bytes, bit i of byte j = bit 8j+i
    return np.ascontiguousarray(by).view("<u4").astype(np.uint32, copy=False).reshape(b.shape[:-1] + (nw,))


def unpack(packed: np.ndarray, channels: int) -> np.ndarray:
    """Inverse of `pack`: uint32 (..., words) → int8 ±1 values (..., channels)."""
    p = np.ascontiguousarray(np.asarray(packed, dtype=np.uint32).astype("<u4", copy=False))
    by = p.view(np.uint8).reshape(p.shape[:-1] + (4 * p.shape[-1],))
    b = np.unpackbits(by, axis=-1, count=channels, bitorder="little")
    return to_pm1(b)


def pad_bits_clear(packed: np.ndarray, channels: int) -> bool:
    """True when every pad bit (index ≥ channels in the last word) is 0."""
    p = np.asarray(packed, dtype=np.uint32)
    rem = channels % WORD_BITS
    if rem == 0:
        return True
    mask = np.uint32((0xFFFFFFFF << rem) & 0xFFFFFFFF)
    return bool(np.all((p[..., -1] & mask) == 0))
