"""Test inputs for one fuzzed model: the awkward values first, then random normals and real images.

`make_inputs(shape, n, rng)` returns float32 (n, *shape). Rows, in order:
  0 all +0.0 · 1 all −0.0 · 2 random ±0.0 · 3 ±1e30 · 4 all +1e30 · 5 all −1e30 ·
  6 ±1e30 sprinkled into normals · 7 ternary {−1, 0, +1} · 8 small integers in [−3, 3] ·
  9 ±1e-40 (subnormal) and ±0.0 · 10 ±1e6 ·
  then, split evenly, random normals (scale 0.1, 1 or 10) and real images (MNIST test set, or
  scikit-learn digits when MNIST is absent) preprocessed to [−1, 1], randomly cropped to H×W with
  one crop per channel; flat inputs take a random contiguous run of the flattened image.
Integer-valued rows make float layers exact, so any sign mismatch on them is a real failure.
"""
from __future__ import annotations

import numpy as np

_IMAGES = None


def real_images() -> np.ndarray | None:
    """(N, H, W) float32 in [−1, 1] from MNIST or digits, or None when neither loads (cached)."""
    global _IMAGES
    if _IMAGES is None:
        from ... import datasets
        try:
            ds = datasets.load_mnist()
        except Exception:
            try:
                ds = datasets.load_digits()
            except Exception:
                _IMAGES = np.zeros((0, 1, 1), np.float32)
                return None
        x = datasets.preprocess(ds.x_test[:2000], "sym", ds.max_value)
        _IMAGES = np.asarray(x, np.float32).reshape(x.shape[0], x.shape[1], x.shape[2], -1)[..., 0]
    return _IMAGES if len(_IMAGES) else None


def _image_like(shape, rng, imgs) -> np.ndarray:
    n, ih, iw = imgs.shape
    if len(shape) == 1:
        flat = imgs[rng.integers(n)].reshape(-1)
        m = shape[0]
        reps = -(-m // flat.size)
        flat = np.tile(flat, reps)
        start = rng.integers(0, flat.size - m + 1)
        return flat[start:start + m]
    if len(shape) == 2:                 # a 1-D (W, C) input: one image row per channel
        return _image_like((1, *shape), rng, imgs)[0]
    h, w, c = shape
    out = np.empty(shape, np.float32)
    for ch in range(c):
        img = imgs[rng.integers(n)]
        if h > ih or w > iw:            # never with the generator's sizes; tile to be safe
            img = np.tile(img, (-(-h // ih), -(-w // iw)))
        y0 = rng.integers(0, img.shape[0] - h + 1)
        x0 = rng.integers(0, img.shape[1] - w + 1)
        out[:, :, ch] = img[y0:y0 + h, x0:x0 + w]
    return out


def make_inputs(shape, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` float32 inputs of `shape`: the first up to 11 are edge cases (±0, ±1e30, subnormals, small
    integers), half of the rest image-like (when real images exist), the others scaled normals."""
    shape = tuple(int(s) for s in shape)
    x = rng.normal(size=(n,) + shape).astype(np.float32)
    sgn = np.where(rng.random((11,) + shape) < 0.5, -1.0, 1.0).astype(np.float32)
    special = [
        np.zeros(shape, np.float32),
        np.full(shape, -0.0, np.float32),
        sgn[0] * 0.0,
        sgn[1] * np.float32(1e30),
        np.full(shape, 1e30, np.float32),
        np.full(shape, -1e30, np.float32),
        np.where(rng.random(shape) < 0.2, sgn[2] * np.float32(1e30), x[6]),
        rng.integers(-1, 2, shape).astype(np.float32),
        rng.integers(-3, 4, shape).astype(np.float32),
        np.where(rng.random(shape) < 0.5, sgn[3] * np.float32(1e-40), sgn[4] * 0.0),
        sgn[5] * np.float32(1e6),
    ]
    k = min(len(special), n)
    x[:k] = np.stack(special[:k])
    rest = np.arange(k, n)
    imgs = real_images()
    half = len(rest) // 2 if imgs is not None else 0
    for i in rest[:half]:
        x[i] = _image_like(shape, rng, imgs)
    for i in rest[half:]:
        x[i] *= rng.choice([0.1, 1.0, 10.0])
    return x.astype(np.float32)


def make_byte_inputs(shape, n: int, dtype: str, rng: np.random.Generator) -> np.ndarray:
    """`n` inputs of `shape` for an integer-input export (input_dtype uint8 / int8), as float32
    integers in the dtype's range: all-min, all-max, all-zero, min/max alternating, then uniform."""
    lo, hi = (0, 255) if dtype == "uint8" else (-128, 127)
    x = rng.integers(lo, hi + 1, (n, *shape)).astype(np.float32)
    edge = [np.full(shape, lo), np.full(shape, hi), np.zeros(shape), rng.choice([lo, hi], shape)]
    for i, e in enumerate(edge[:n]):
        x[i] = e
    return x
