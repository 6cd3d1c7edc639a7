"""Model zoo: every builder builds with the right shapes, randomize_bn really randomizes, and a
tiny training step runs."""
from __future__ import annotations

import numpy as np
import pytest

from larq2mcu.dev import zoo
from larq2mcu._tf import tf_modules

tf, keras, lq = tf_modules()


def _bns(model):
    return [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("name", sorted(zoo.BUILDERS))
def test_builds_and_predicts(name):
    m = zoo.BUILDERS[name]()
    assert isinstance(m, keras.Model) and not m.optimizer  # uncompiled
    assert m.output_shape == (None, 10)
    x = np.random.default_rng(0).uniform(-1, 1, (2,) + m.input_shape[1:]).astype(np.float32)
    y = m(x, training=False).numpy()
    assert y.shape == (2, 10)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)  # softmax head
    assert any(isinstance(l, (lq.layers.QuantConv2D, lq.layers.QuantDense)) for l in m.layers)


def test_custom_shapes():
    assert zoo.mnist_bnn((16, 16, 1), num_classes=3).output_shape == (None, 3)
    assert zoo.bireal_tiny((8, 8, 1), num_classes=4).output_shape == (None, 4)
    assert zoo.densenet_tiny((8, 8, 1), num_classes=5).output_shape == (None, 5)
    assert zoo.cifar_bnn((16, 16, 3), num_classes=2).output_shape == (None, 2)


def test_seed_model_flattens_to_576():
    m = zoo.seed_mixed_cnn()
    flat = [l for l in m.layers if isinstance(l, keras.layers.Flatten)]
    assert len(flat) == 1 and flat[0].output_shape == (None, 576)
    convs = [l for l in m.layers if isinstance(l, lq.layers.QuantConv2D)]
    assert all(c.input_quantizer is not None for c in convs)  # the image is binarized too
    dense = [l for l in m.layers if isinstance(l, lq.layers.QuantDense)]
    assert dense[0].units == 120 and dense[0].kernel_quantizer is None
    assert dense[0].input_quantizer is not None


def test_shortcut_models_use_merge_layers():
    assert any(isinstance(l, keras.layers.Add) for l in zoo.bireal_tiny().layers)
    assert any(isinstance(l, keras.layers.Concatenate) for l in zoo.densenet_tiny().layers)


def test_mnist_bnn_layout():
    m = zoo.mnist_bnn()
    convs = [l for l in m.layers if isinstance(l, lq.layers.QuantConv2D)]
    assert convs[0].input_quantizer is None and not convs[0].use_bias
    assert convs[1].input_quantizer.get_config()["clip_value"] == 0.5
    assert convs[1].pad_values == 1.0 and convs[1].padding == "same"
    assert all(not b.scale for b in _bns(m))


def test_randomize_bn():
    m = zoo.bireal_tiny()
    before = [[w.copy() for w in b.get_weights()] for b in _bns(m)]
    zoo.randomize_bn(m, seed=3)
    gammas, means, vars_ = [], [], []
    for b, old in zip(_bns(m), before):
        for w0, w1 in zip(old, b.get_weights()):
            assert not np.allclose(w0, w1)
        gammas.append(b.gamma.numpy())
        means.append(b.moving_mean.numpy())
        vars_.append(b.moving_variance.numpy())
    g, mu, v = map(np.concatenate, (gammas, means, vars_))
    assert (g < 0).any() and (g == 0).any() and (g > 0).any()
    assert (v > 0).all() and v.min() <= 1e-5 and v.max() >= 1e5
    assert np.abs(mu).max() >= 1e4  # never-crossing channels
    # deterministic in the seed
    m2 = zoo.randomize_bn(zoo.bireal_tiny(), seed=3)
    for a, b in zip(_bns(m), _bns(m2)):
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)


def test_randomize_bn_without_scale():
    m = zoo.randomize_bn(zoo.mnist_bnn(), seed=0)
    for b in _bns(m):
        assert b.gamma is None
        assert not np.allclose(b.moving_variance.numpy(), 1.0)
    assert np.isfinite(m(np.zeros((1, 28, 28, 1), np.float32)).numpy()).all()


def test_train_step():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (32, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    m = zoo.seed_mixed_cnn()
    w0 = [w.copy() for w in m.get_weights()]
    h = zoo.train(m, x, y, epochs=1, batch_size=16)
    assert len(h.history["loss"]) == 1 and np.isfinite(h.history["loss"][0])
    assert "accuracy" in h.history
    assert any(not np.array_equal(a, b) for a, b in zip(w0, m.get_weights()))
