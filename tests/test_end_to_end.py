"""Level 4: the exported C, built on the host, against Keras: identical bits at every
intermediate binary tensor, classes identical, float outputs within verify's justified tolerance."""
from __future__ import annotations

import numpy as np
import pytest

import larq2mcu
import model_cases as mc
from larq2mcu.verify import compare


@pytest.mark.parametrize("case", sorted(mc.CASES))
def test_c_matches_keras(case, tmp_path):
    m = mc.build(case, seed=11)
    x = mc.inputs(m, 64, seed=11)
    exp = larq2mcu.export(m, tmp_path / "out", name="m_" + case)
    host = exp.build_host()
    ag = compare(exp, host, x)
    assert ag.ok, ag.summary()
    assert ag.bit_tensors or case == "dense_mix"


def test_seed_architecture_shape(tmp_path):
    """Seed paper: binarized image, two 3x3 valid binary convs, avg-pool + re-binarize, 576 → 120 → 10."""
    m = mc.build("seed_mixed", seed=2)
    exp = larq2mcu.export(m, tmp_path / "seed", name="seed")
    flat = [t for t in exp.graph.tensors.values() if t.shape == (576,)]
    assert flat, "flatten to 576 values"
    assert exp.graph.tensors[exp.graph.outputs[0]].shape == (10,)


def test_predict_api_shapes_and_errors(tmp_path):
    m = mc.build("conv_pad1_s1")
    exp = larq2mcu.export(m, tmp_path / "o", name="api")
    host = exp.build_host()
    x = mc.inputs(m, 3)
    y = host.predict(x)
    assert y.shape == (3, 10) and y.dtype == np.float32
    assert np.allclose(host.predict(x.astype(np.float64)), y)           # cast like Keras
    with pytest.raises(larq2mcu.InputError, match="expected"):
        host.predict(x[:, :, :3])
    with pytest.raises(larq2mcu.InputError, match="not numeric"):
        host.predict(np.array([["a"]]))
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(larq2mcu.InputError, match="NaN"):
        host.predict(bad)
    host.predict(bad, check_finite=False)


def test_report_figures(tmp_path):
    m = mc.build("conv_pad1_s1")
    exp = larq2mcu.export(m, tmp_path / "o", name="rep")
    text = exp.report()
    for word in ("BinaryConv2D", "binary MACs", "arena", "ceil(bits/8)"):
        assert word in text
    assert exp.plan.arena_size >= exp.plan.lower_bound > 0
    assert f"#define REP_ARENA_SIZE {exp.plan.arena_size}" in exp.files["rep.h"]
    rows = exp.rows()
    assert sum(r.binary_macs for r in rows) > 0


@pytest.mark.slow
def test_trained_mnist_bnn_agrees_on_real_data(tmp_path, tfm):
    """Item 2 of the spine: a BNN trained briefly on MNIST (8k train / 2k held out) — the C gives
    Keras' class on 100 % of the held-out images, identical binary activations everywhere."""
    from larq2mcu import datasets
    from larq2mcu.dev import zoo
    try:
        ds = datasets.split(datasets.load_mnist())
    except larq2mcu.DataError as e:
        pytest.skip(f"MNIST not available: {e}")
    _, keras, _ = tfm
    xtr, xte = ds.inputs("sym")
    keras.utils.set_random_seed(0)
    m = zoo.mnist_bnn()
    zoo.train(m, xtr, ds.y_train, epochs=1)
    exp = larq2mcu.export(m, tmp_path / "mnist", name="mnist_bnn")
    host = exp.build_host()
    ag = compare(exp, host, xte)
    assert ag.n == 2000
    assert ag.ok, ag.summary()
    acc = float(np.mean(host.predict(xte).argmax(1) == ds.y_test))
    assert acc > 0.5            # trained briefly: clearly better than chance (0.1)
