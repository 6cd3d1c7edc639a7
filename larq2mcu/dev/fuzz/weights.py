"""Weights and batch-norm statistics of generated models (deterministic in the generator's rng).

Latent binary kernels are uniform in [−1, 1] with ~2 % exact zeros (sign(0) = +1); float kernels
are N(0, 1/fan-in); biases of binary dots are often integers or half-integers so that acc + bias
hits 0 exactly. BN statistics: see `_init_bn`.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

MAX_FLOAT_WEIGHTS = 40_000     # float weights per generated layer: keeps the hex-float C sources (and cc time) small


def init_weights(w_init, bn_init, rng) -> Counter:
    """Set every generated layer's weights; return coverage keys of the BN statistics drawn.

    w_init: (layer, mode, K) with mode bin | float_in | sep (binary separable) | bin_in_float_w | float
    and K the fan-in of a binary dot (0 otherwise); bn_init: (layer, K, input_is_bits)."""
    cov = Counter()
    for layer, mode, k in w_init:
        ws = layer.get_weights()
        for i, kernel in enumerate(ws):
            if kernel.ndim < 2:
                continue        # the bias, below
            if mode in ("bin", "float_in", "sep"):
                # Latent weights in [-1, 1]; exact zeros quantize to +1 (sign(0) = +1).
                kernel = rng.uniform(-1, 1, kernel.shape)
                kernel[rng.random(kernel.shape) < 0.02] = 0.0
            else:
                # Fan-in: a depthwise kernel (kh, kw, C, multiplier) sums kh·kw taps only.
                depthwise = "Depthwise" in type(layer).__name__ or (i == 0 and len(ws) > 1 and ws[1].ndim > 1)
                fan = np.prod(kernel.shape[:2]) if depthwise else np.prod(kernel.shape[:-1])
                kernel = rng.normal(0, 1.0 / np.sqrt(max(1, fan)), kernel.shape)
            ws[i] = kernel.astype(np.float32)
        if ws[-1].ndim == 1:
            c = ws[-1].shape[0]
            if k and rng.random() < 0.5:
                # Integer / half-integer biases put acc + bias exactly on 0 (sign(0) = +1 ties).
                bias = rng.integers(-k, k + 1, c) * rng.choice([1.0, 0.5])
            else:
                bias = rng.normal(0, np.sqrt(k) if k else 1.0, c)
            ws[-1] = bias.astype(np.float32)
        layer.set_weights(ws)
    for layer, k, on_bits in bn_init:
        cov.update(_init_bn(layer, k, on_bits, rng))
    return cov


def _init_bn(layer, k: int, on_bits: bool, rng) -> Counter:
    """Random statistics where they matter: means where a ±1 accumulator of fan-in K lives,
    γ < 0 and γ = 0 channels, tiny (< ε) and huge variances, never-crossing channels, and
    'tie' channels (integer mean, β = 0, γ = ±1) whose output is exactly 0 on an integer input."""
    c = int(layer.moving_mean.shape[-1])
    spread = np.sqrt(k) if k else (1.0 if on_bits else 2.0)
    mean = rng.normal(0.0, spread, c)
    var = (k if k else 1.0) * np.exp(rng.normal(0.0, 1.0, c))
    u = rng.random(c)
    var[u < 0.1] = 1e-6
    var[u > 0.9] = 1e6
    far = rng.random(c) < 0.1
    mean[far] = rng.choice([-1.0, 1.0], far.sum()) * rng.uniform(1e4, 1e5, far.sum())
    gamma = np.abs(rng.normal(1.0, 0.5, c)) + 0.05
    gamma[rng.random(c) < 0.25] *= -1.0
    gamma[rng.random(c) < 0.1] = 0.0
    beta = rng.normal(0.0, 1.0, c)
    tie = rng.random(c) < 0.15
    mean[tie] = np.round(mean[tie])
    beta[tie] = 0.0
    gamma[tie] = rng.choice([-1.0, 1.0], tie.sum())
    var[tie] = 1.0 - 1e-3       # var + ε = 1 exactly in float32? close; the tie is exact via β = 0
    vals = {"moving_mean": mean, "moving_variance": var, "gamma": gamma, "beta": beta}
    for w in layer.weights:
        key = w.name.split("/")[-1].split(":")[0]
        if key in vals:
            w.assign(vals[key].astype(np.float32))
    cov = Counter()
    if layer.scale:
        cov["BN γ<0"] += int((gamma < 0).any())
        cov["BN γ=0"] += int((gamma == 0).any())
    cov["BN tiny variance"] += int((var < 1e-3).any())
    cov["BN huge variance"] += int((var > 1e5).any())
    cov["BN never-crossing"] += int(far.any())
    cov["BN exact-tie channel"] += int(tie.any())
    return +cov
