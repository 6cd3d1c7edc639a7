"""Minimized disagreements found by larq2mcu.fuzz (docs/FUZZ.md). Each test states the bug; an
open bug is marked xfail(strict=True) so that fixing it turns the test into an XPASS failure,
prompting removal of the marker."""
from __future__ import annotations

import numpy as np
import pytest

import larq2mcu


@pytest.mark.xfail(strict=True, reason="bug: TF flushes subnormal inputs to zero (tf.sign(-1e-40) = 0, so "
                   "ste_sign gives +1) but the exported C binarizes with x < 0 and gives -1")
def test_subnormal_input_binarizes_like_keras(tmp_path, tfm):
    _, keras, lq = tfm
    m = keras.Sequential([keras.Input((4,)), lq.quantizers.SteSign()])
    exp = larq2mcu.export(m, tmp_path / "o", name="sub")
    host = exp.build_host()
    x = np.array([[-1e-40, 1e-40, -1e-38, -2e-38]], np.float32)   # -1e-38 < FLT_MIN is subnormal too
    assert np.array_equal(host.predict(x), m(x).numpy())          # Keras: [1, 1, 1, -1]; C: [-1, 1, -1, -1]


@pytest.mark.xfail(strict=True, reason="bug: hoist_quantize turns sign(Flatten(x)) into a per-pixel-packed "
                   "view (packing (H·W, C)), but a bits Concatenate chosen by the frontend assumes default "
                   "packing and reads the padded words as if contiguous → wrong bits (fuzz seed 3000117)")
def test_concat_of_flattened_sign_bits(tmp_path, tfm):
    _, keras, lq = tfm
    L = keras.layers
    inp = keras.Input((2, 2, 3))
    a = lq.quantizers.SteSign()(L.Flatten()(inp))
    m = keras.Model(inp, L.Concatenate()([a, a]))
    exp = larq2mcu.export(m, tmp_path / "o", name="cat")
    host = exp.build_host()
    x = np.random.default_rng(0).normal(size=(8, 2, 2, 3)).astype(np.float32)
    assert np.array_equal(host.predict(x), m(x).numpy())


@pytest.mark.xfail(strict=True, reason="bug: a model whose graph has no ops (Input → Dropout, output = input) "
                   "renders `<name>_invoke_partial(..., int32_t n_ops)` without using n_ops, and the host "
                   "build fails with -Werror=unused-parameter (fuzz seed 7000032)")
def test_model_without_ops_builds(tmp_path, tfm):
    _, keras, _ = tfm
    m = keras.Sequential([keras.Input((5, 3, 2)), keras.layers.Dropout(0.5)])
    exp = larq2mcu.export(m, tmp_path / "o", name="noop")
    host = exp.build_host()
    x = np.random.default_rng(0).normal(size=(3, 5, 3, 2)).astype(np.float32)
    np.testing.assert_array_equal(host.predict(x), x)
