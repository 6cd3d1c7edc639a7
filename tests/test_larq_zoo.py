"""Every larq-zoo architecture (larq-zoo 2.4.0: larq_zoo.sota and larq_zoo.literature), as a Larq
user starts from it: built with weights=None at a small input, 10 classes, include_top=True, every
BatchNormalization's statistics randomized (γ < 0 and γ = 0 included, zoo.randomize_bn), then
export → host build → C vs Keras on random inputs with verify's classifier (bits identical at
every binary tensor, or each difference a sign flip within float32 rounding of zero; argmax
identical; float outputs within the verify tolerance).

Every architecture exports: MeliusNet22 and RealToBinaryNet through their `Lambda` layers, which
frontend/lambda_graph.py traces with tf.function and lowers op by op (tf.split / tf.concat /
channel tf.pad, the identity). An architecture refused again fails here with the typed error.
Inputs are 32×32×3 where the architecture builds at that size, else the smallest size tried that builds (64, or 224 for XNORNet whose
valid 5×5 / 6×6 convolutions need it; it is refused before any compute).

Runtime (2 shared cores): building a zoo model takes 2-9 s, compiling its C 5-20 s. The
variants that repeat a family's structure with more layers (BinaryDenseNet37/45, QuickNet,
QuickNetLarge) and the heaviest (BinaryDenseNet37Dilated, DoReFaNet at 64×64, XNORNet at 224) run only with
L2M_ZOO_ALL=1 (all exact in the last run with it: docs/ZOO.md).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

try:
    import larq_zoo  # noqa: F401  (imports TensorFlow; conftest set TF_USE_LEGACY_KERAS first)
    import larq_zoo.literature as lit
    import larq_zoo.sota as sota
except Exception as e:      # not installed, or installed against an incompatible stack
    pytest.skip(f"larq_zoo cannot be imported ({type(e).__name__}: {e}); install it with "
                "`pip install --no-deps larq-zoo==2.4.0 zookeeper==1.4.0 typeguard tensorflow-datasets`",
                allow_module_level=True)

ALL = os.environ.get("L2M_ZOO_ALL") == "1"
N_SAMPLES = 3


def _large(why):
    return pytest.mark.skipif(not ALL, reason=f"set L2M_ZOO_ALL=1: {why}")


# (module, builder, input side, marks)
CASES = [
    (sota, "QuickNetSmall", 32, []),
    (sota, "QuickNet", 32, [_large("QuickNetSmall's structure with more blocks")]),
    (sota, "QuickNetLarge", 32, [_large("QuickNetSmall's structure with more blocks")]),
    (lit, "BinaryAlexNet", 64, []),                      # 32×32: a valid 3×3 max pool of a 1×1 map
    (lit, "BiRealNet", 32, []),                          # magnitude_aware_sign kernels: scaled binary dots
    (lit, "BinaryResNetE18", 32, []),
    (lit, "BinaryDenseNet28", 32, []),
    (lit, "BinaryDenseNet37", 32, [_large("BinaryDenseNet28's structure with more layers")]),
    (lit, "BinaryDenseNet37Dilated", 32, [_large("BinaryDenseNet37 with dilated convs (3.7 MB arena; ~3 min)")]),
    (lit, "BinaryDenseNet45", 32, [_large("BinaryDenseNet28's structure with more layers")]),
    (lit, "DoReFaNet", 64, [_large("87 MB of float weights at 64×64, ~10 min on 2 shared cores")]),
    (lit, "MeliusNet22", 32, []),                        # Lambda: tf.split / tf.concat / channel tf.pad
    (lit, "RealToBinaryNet", 32, []),                    # Lambda identity, attention Multiply, PReLU
    (lit, "XNORNet", 224, [_large("224×224 input (its valid 5×5/6×6 convs need it), ~2 min")]),  # scaled dots
]

_CACHE: dict = {}


def build(name: str, side: int):
    """The zoo model `name` at side×side×3, BN randomized; cached for the module (other tests
    here reuse it). Seeded, and clear_session() first so layer names are stable."""
    key = (name, side)
    if key not in _CACHE:
        from larq2mcu._tf import tf_modules
        from larq2mcu.dev import zoo
        _, keras, _ = tf_modules()
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        mod = next(m for m, n, _, _ in CASES if n == name)
        model = getattr(mod, name)(weights=None, input_shape=(side, side, 3), num_classes=10, include_top=True)
        _CACHE[key] = zoo.randomize_bn(model, seed=1)
    return _CACHE[key]


def exported(name: str, side: int, tmp_root):
    """(model, Export, HostModel) for the zoo model, cached for the module."""
    key = ("export", name, side)
    if key not in _CACHE:
        import larq2mcu
        m = build(name, side)
        exp = larq2mcu.export(m, tmp_root / f"{name}_{side}", name="zoo")
        _CACHE[key] = (m, exp, exp.build_host())
    return _CACHE[key]


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("larq_zoo")


@pytest.mark.slow
@pytest.mark.parametrize("name,side", [pytest.param(n, s, marks=marks, id=f"{n}-{s}")
                                       for _, n, s, marks in CASES])
def test_zoo_architecture_exports_exactly(name, side, tmp_root):
    from larq2mcu import ir, verify
    m, exp, host = exported(name, side, tmp_root)
    x = np.random.default_rng(3).uniform(-1, 1, (N_SAMPLES, side, side, 3)).astype(np.float32)
    ag = verify.compare(exp, host, x)
    assert ag.ok, ag.summary()
    # the comparison really looked at the binary layers, and the export really binarized them
    assert ag.bit_tensors, "no binary tensor was compared"
    assert any(isinstance(op, (ir.BinaryConv2D, ir.BinaryDense)) for op in exp.graph.ops)
    issues = ag.issues or []
    assert all(i.kind in verify.BENIGN for i in issues), ag.summary()
    # bits identical at every binary tensor, unless each difference is an explained rounding flip
    assert ag.bit_mismatches == 0 or any(i.kind == "rounding_flip" for i in issues), ag.summary()
    assert ag.argmax_agreement == 1.0 or ag.ties, ag.summary()
