"""Bit-sliced layout of binary conv/dense layers with integer-threshold outputs: transposed weight
rows and bit-sliced threshold planes for firmware/runtime/l2m_sliced_impl.h (contract:
l2m_conv2d_sliced_b32_b32_ref in l2m_kernels.h).

Derivation. A window holds bits a_i (1 = −1), K of them real, pad bits 0; filter j holds w_ij
(pad bits 0). With P = Σ a_i, C_j = Σ w_ij and S_j = Σ a_i·w_ij (so Σ a_i xor w_ij = P + C_j − 2S_j):

    acc_j = K − 2·(P + C_j − 2S_j)                       (docs/MATH.md §1, pad_one taps are a_i = 0)
    bit_j = (acc_j < thr_j)  ⟺  4S_j < T_j + 2P,   T_j = thr_j − K + 2C_j
                             ⟺  S_j < B_j(P) = ⌈(T_j + 2P)/4⌉.

Write T_j = 4q + r (0 ≤ r ≤ 3) and h = ⌊P/2⌋: for even P, B = q + h + [r > 0]; for odd P,
T + 2P = 4(q + h) + r + 2, so B = q + h + 1 + [r = 3]. Hence B_j(P) = G_j[P mod 2] + h with two
per-filter constants G_even, G_odd. G is clamped to [−⌊K/2⌋ − 1, K + 1]: below, B ≤ −1 < S for
every P (bit 0); above, B > K ≥ S (bit 1) — the clamp changes no result.

The engine keeps one m-bit counter per filter, bit-sliced (word p = bit p of 32 filters), starts
it at V0 = 2^(m−1) − G − h and adds S (the weight rows of the window's set bits), so that
V − 2^(m−1) = S − B and bit = NOT the top plane. When fewer bits are clear than set it adds
S0 = Σ over the clear bits (pad bits included: their rows are 0) instead: S = C − S0, and
S < B ⟺ S0 ≥ C + 1 − B, so it starts at 2^(m−1) − (C + 1 − G) + h and bit = the top plane.
|S − B| and |S0 − (C + 1 − B)| stay ≤ 1.5K + 2 < 2^(m−1) for m = bitlen(K + ⌊K/2⌋ + 2) + 1.

Float outputs (no threshold) start the counters at 0, read S (or S0) back per filter and give
(float)(K − 2P − 2C_j + 4S_j) + bias, or K − 2P + 2C_j − 4S0_j: C_j (`popcounts`) is stored.

Stored per block of 32 filters: the rows (word q·32 + t, bit j = filter 32b + j's bit 31 − t of
window word q — clz order; then 8 zero rows the engine pads its counts with) and 4 sets of m
planes: 2^(m−1) − G_even, 2^(m−1) − G_odd,
2^(m−1) − C − 1 + G_even, 2^(m−1) − C − 1 + G_odd, each modulo 2^m.
"""
from __future__ import annotations

import numpy as np

MAX_CONV_WORDS = 64      # L2M_SLICED_MAX_WORDS: the conv window's stack copy
MAX_DENSE_WORDS = 128    # L2M_SLICED_DENSE_MAX_WORDS: the dense input's stack copy
ZERO_ROWS = 8            # after each block's rows: what the engine pads its counts with


def planes_count(k: int) -> int:
    """m = l2m_sliced_planes(K) (at least 5: the engine keeps planes 0..3 in registers)."""
    return max(5, int(k + k // 2 + 2).bit_length() + 1)


def eligible_conv(out_c: int, nwin: int, padded: bool, pad_one: bool) -> bool:
    """Whole blocks of 32 filters (no flash spent on empty lanes), a window that fits the stack
    copy, and +1 padding (a zero-padded border has no sliced form). Float outputs read the
    counts back in 16-bit halves: windows of at most 2048 bits here, 4096 for dense."""
    return out_c % 32 == 0 and nwin <= MAX_CONV_WORDS and (pad_one or not padded)


def eligible_dense(out_n: int, nwin: int) -> bool:
    """Whole blocks of 32 outputs and an input of at most MAX_DENSE_WORDS words (its stack copy)."""
    return out_n % 32 == 0 and nwin <= MAX_DENSE_WORDS


def _unpack_words(w: np.ndarray) -> np.ndarray:
    """(rows, n) uint32 → (rows, n, 32) bits, bit index b at [..., b]."""
    w = np.asarray(w, np.uint32)
    return ((w[..., None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)


def _pack_lanes(bits: np.ndarray) -> np.ndarray:
    """(..., 32) bits → (...) uint32 with bit j = bits[..., j]."""
    return (bits.astype(np.uint64) << np.arange(32, dtype=np.uint64)).sum(-1).astype(np.uint32)


def _blocks(out_c: int) -> int:
    return (out_c + 31) // 32


def rows(w_std: np.ndarray) -> np.ndarray:
    """Standard layout (out_c, nwin) words — filter j's window words — → the sliced rows,
    L2M_WORDS(out_c) blocks of nwin × 32 rows and ZERO_ROWS zero words."""
    out_c, nwin = w_std.shape
    nb = _blocks(out_c)
    bits = np.zeros((nb * 32, nwin, 32), np.uint8)
    bits[:out_c] = _unpack_words(w_std)
    lanes = bits.reshape(nb, 32, nwin, 32)[..., ::-1]        # [b, j, q, t]: bit 31 − t
    r = _pack_lanes(np.transpose(lanes, (0, 2, 3, 1))).reshape(nb, nwin * 32)
    return np.concatenate([r, np.zeros((nb, ZERO_ROWS), np.uint32)], axis=1).reshape(-1)


def popcounts(w_std: np.ndarray) -> np.ndarray:
    """kc: C_j, the bits set in each filter (float outputs: acc = K − 2P − 2C_j + 4S_j)."""
    return _unpack_words(w_std).sum(axis=(1, 2)).astype(np.int32)


def planes(w_std: np.ndarray, thr: np.ndarray, k: int) -> np.ndarray:
    """The 4 sets of m counter planes per block (module docstring) for thresholds thr (int) and
    K = k real window bits."""
    out_c, _ = w_std.shape
    m = planes_count(k)
    c = popcounts(w_std).astype(np.int64)
    t = np.asarray(thr, np.int64) - k + 2 * c
    q, r = np.floor_divide(t, 4), np.mod(t, 4)
    g = np.stack([q + (r > 0), q + 1 + (r == 3)])                 # [parity, filter]
    g = np.clip(g, -(k // 2) - 1, k + 1)
    top, mod = 1 << (m - 1), 1 << m
    z = np.concatenate([(top - g) % mod, (top - c - 1 + g) % mod])   # [set, filter]
    nb = _blocks(out_c)
    zz = np.zeros((4, nb * 32), np.int64)
    zz[:, :out_c] = z
    bitsl = (zz[..., None] >> np.arange(m)) & 1                    # [set, lane, plane]
    lanes = bitsl.reshape(4, nb, 32, m)
    return _pack_lanes(np.transpose(lanes, (1, 0, 3, 2))).reshape(-1)   # [b, set, plane]
