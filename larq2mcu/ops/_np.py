"""numpy window helpers shared by the oracles and the rounding bounds (NHWC, batch first)."""
from __future__ import annotations

import numpy as np


def pad_nhwc(x: np.ndarray, pads, value) -> np.ndarray:
    t, b, l, r = pads
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def patches(x: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """(N, H, W, C) already padded → (N, OH, OW, kh·kw·C) in HWC tap order (matches HWIO)."""
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = x.strides
    view = np.lib.stride_tricks.as_strided(
        x, (n, oh, ow, kh, kw, c), (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]), writeable=False)
    return view.reshape(n, oh, ow, kh * kw * c)


def pool_windows(x, op, fill):
    """(N, OH, OW, kh, kw, C) windows of a pooling op over x padded with `fill`."""
    xp = pad_nhwc(x, op.pads, fill)
    kh, kw = op.pool
    n, h, w, c = xp.shape
    sh, sw = op.strides
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (n, oh, ow, kh, kw, c), (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]), writeable=False)


def valid_counts(op, h, w):
    """Number of taps inside the image per output position: (1, OH, OW, 1)."""
    ones = np.ones((1, h, w, 1), np.float32)
    return pool_windows(ones, op, np.float32(0)).sum(axis=(3, 4))
