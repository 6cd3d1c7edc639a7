"""Per-layer engine choice for the sliced variants (issue #14: no layer on a slower kernel than
another available one). A binary conv/dense that the bit-sliced engine can run may also run on
the plain XOR+popcount engine of the same variant (the variant's popcount mode); both give the
same bits and floats (tests/test_spec_kernels.py), so the choice is speed alone.

Cost model, per variant, engine, layer kind (conv | dense) and output (bits | float | float_bn:
floats through a fused BatchNorm), fitted by
bench/layerchoice.py to exact instruction counts under QEMU (COSTS below is its output):

    instructions ≈ a·BMAC + b·outputs + c·pixels

with BMAC = window bits × outputs (the padded window: whole words), outputs = pixels × filters.
`use_sliced` keeps the sliced engine unless the plain one is estimated PLAIN_MARGIN cheaper; a
variant without fitted costs keeps the sliced engine (what it always did). `Variant.engines` =
"sliced" / "plain" forces one (the bench measures both that way).
"""
from __future__ import annotations

import numpy as np

# The calibration layers read random bits (density ½), the sliced engine's costliest input: its count
# depends on the data and falls by up to ~10–30 % on real activations (bench/RESULTS.md, per-word
# table), while the plain engine's does not. So the plain engine is chosen only when its estimate
# is at least 10 % below the sliced one (cifar_bnn's 4096 → 128 float dense on rv32+Zbb: plain
# estimated 2.7 % faster, measured 8.4 % slower).
PLAIN_MARGIN = 0.9

# variant → (engine, kind, out) → (a per BMAC, b per output, c per pixel); bench/layerchoice.py
COSTS: dict = {
    'clz': {
        ('plain', 'conv', 'bits'): (0.431733, 5.66145, 955.835),
        ('plain', 'conv', 'float'): (0.493519, 170.357, 0.0),
        ('plain', 'conv', 'float_bn'): (0.503799, 423.539, 0.0),
        ('plain', 'dense', 'bits'): (0.404316, 27.5454, 869.523),
        ('plain', 'dense', 'float'): (0.389445, 218.29, 46.2404),
        ('plain', 'dense', 'float_bn'): (0.393049, 456.613, 0.0),
        ('sliced', 'conv', 'bits'): (0.210447, 3.33547, 0.0),
        ('sliced', 'conv', 'float'): (0.189016, 259.559, 487.405),
        ('sliced', 'conv', 'float_bn'): (0.188116, 516.173, 552.169),
        ('sliced', 'dense', 'bits'): (0.21758, 5.86531, 1887.28),
        ('sliced', 'dense', 'float'): (0.234772, 252.312, 2049.82),
        ('sliced', 'dense', 'float_bn'): (0.240076, 491.686, 1665.03),
    },
    'hs': {
        ('plain', 'conv', 'bits'): (0.426373, 0.0, 211.425),
        ('plain', 'conv', 'float'): (0.474673, 25.4317, 0.0),
        ('plain', 'conv', 'float_bn'): (0.486199, 273.164, 0.0),
        ('plain', 'dense', 'bits'): (0.346544, 26.1239, 1092.96),
        ('plain', 'dense', 'float'): (0.307653, 97.7599, 0.0),
        ('plain', 'dense', 'float_bn'): (0.30606, 325.876, 0.0),
        ('sliced', 'conv', 'bits'): (0.279421, 1.8266, 0.0),
        ('sliced', 'conv', 'float'): (0.239812, 106.951, 308.387),
        ('sliced', 'conv', 'float_bn'): (0.240505, 358.336, 473.288),
        ('sliced', 'dense', 'bits'): (0.295643, 5.00806, 1919.77),
        ('sliced', 'dense', 'float'): (0.310615, 88.7401, 1987.96),
        ('sliced', 'dense', 'float_bn'): (0.313586, 314.103, 1869.16),
    },
    'usad8': {
        ('plain', 'conv', 'bits'): (0.368784, 0.0, 471.155),
        ('plain', 'conv', 'float'): (0.388799, 0.0, 0.0),
        ('plain', 'conv', 'float_bn'): (0.401189, 0.0, 0.0),
        ('plain', 'dense', 'bits'): (0.335809, 23.6531, 1212.75),
        ('plain', 'dense', 'float'): (0.31548, 34.4874, 0.0),
        ('plain', 'dense', 'float_bn'): (0.317303, 39.8751, 0.0),
        ('sliced', 'conv', 'bits'): (0.165592, 1.41483, 0.0),
        ('sliced', 'conv', 'float'): (0.139334, 45.4368, 268.475),
        ('sliced', 'conv', 'float_bn'): (0.139422, 52.3549, 277.156),
        ('sliced', 'dense', 'bits'): (0.168603, 4.03781, 501.222),
        ('sliced', 'dense', 'float'): (0.17808, 34.3992, 600.02),
        ('sliced', 'dense', 'float_bn'): (0.178439, 41.2301, 607.89),
    },
    'zbb': {
        ('plain', 'conv', 'bits'): (0.207913, 15.7649, 67.8676),
        ('plain', 'conv', 'float'): (0.235788, 92.6362, 8.22432),
        ('plain', 'conv', 'float_bn'): (0.246435, 339.153, 0.0),
        ('plain', 'dense', 'bits'): (0.248072, 1.50657, 0.0),
        ('plain', 'dense', 'float'): (0.219224, 100.949, 0.0),
        ('plain', 'dense', 'float_bn'): (0.221052, 325.346, 0.0),
        ('sliced', 'conv', 'bits'): (0.1925, 3.17976, 0.0),
        ('sliced', 'conv', 'float'): (0.166064, 151.225, 312.787),
        ('sliced', 'conv', 'float_bn'): (0.167485, 403.832, 382.578),
        ('sliced', 'dense', 'bits'): (0.203388, 4.74217, 1828.12),
        ('sliced', 'dense', 'float'): (0.213573, 140.588, 1887.76),
        ('sliced', 'dense', 'float_bn'): (0.215591, 368.8, 1708.04),
    },
}


def layer_dims(g, op, words: int) -> tuple:
    """(kind, window bits, pixels, filters) of binary conv/dense `op` of graph g whose outputs each
    read `words` weight words (the layout the kernels read: layout/weights.py) — what the cost
    model is keyed and fitted on."""
    shape = g.tensors[op.output].shape
    if len(shape) == 1:
        return "dense", 32 * words, 1, int(shape[0])
    return "conv", 32 * words, int(np.prod(shape[:-1])), int(shape[-1])


def out_kind(op) -> str:
    """bits (a threshold), float_bn (floats with a BatchNorm in the epilogue) or float."""
    if op.threshold is not None:
        return "bits"
    return "float_bn" if getattr(op, "bn", None) is not None else "float"


def estimate(variant: str, engine: str, kind: str, out: str, window_bits: int, pixels: int,
             filters: int) -> float | None:
    """Estimated instructions of one layer on `engine` (sliced | plain), None without a fit."""
    k = COSTS.get(variant, {}).get((engine, kind, out))
    if k is None:
        return None
    a, b, c = k
    outputs = pixels * filters
    return a * window_bits * outputs + b * outputs + c * pixels


def use_sliced(variant, g, op, words: int) -> bool:
    """Whether binary layer `op` (each output reading `words` weight words), which the sliced
    engine can run, should run on it (see the module docstring)."""
    if variant.engines != "auto":
        return variant.engines == "sliced"
    kind, window_bits, pixels, filters = layer_dims(g, op, words)
    out = out_kind(op)
    s = estimate(variant.name, "sliced", kind, out, window_bits, pixels, filters)
    p = estimate(variant.name, "plain", kind, out, window_bits, pixels, filters)
    return s is None or p is None or p >= PLAIN_MARGIN * s


# The nibble-table engine (firmware/runtime/l2m_nib_impl.h) against the plain XOR+popcount engine
# of a packed-window conv, per output pixel. Its counting, read off the generated Thumb-2 code:
# per nibble position one extract, one address, Q loads and Q adds (Q = ceil(filters/8) table
# words), every third position 4 instructions a word to widen the fields, per filter ~3 to take
# its byte out; the table build, ~180 instructions per (position, word) once a call, is spread
# over the pixels. The plain engine's counting is the fitted a·BMAC of COSTS (no fit: 0.4, the
# carry-save popcount), which also holds part of the epilogue both engines share — so the
# comparison leans towards the plain engine. NIB_MARGIN as PLAIN_MARGIN: chosen only when at
# least 10 % cheaper.
NIB_MARGIN = 0.9


def nib_estimate(k: int, filters: int, pixels: int = 1) -> float:
    """Estimated counting instructions of one output pixel on the nibble-table engine."""
    p, q = -(-k // 4), -(-filters // 8)
    return p * (2 + 2 * q) + -(-p // 3) * 4 * q + 3 * filters + 180 * p * q / max(pixels, 1)


def nib_cheaper(variant: str, k: int, filters: int, out: str, pixels: int = 64) -> bool:
    """Whether the nibble-table engine is estimated cheaper than the plain engine for a
    packed-window conv of k window bits and `filters` filters (see nib_estimate)."""
    fit = COSTS.get(variant, {}).get(("plain", "conv", out))
    a = fit[0] if fit is not None else 0.4
    plain = a * 32 * -(-k // 32) * filters
    return nib_estimate(k, filters, pixels) <= NIB_MARGIN * plain
