"""Every unsupported layer, attribute and quantizer gets a typed error naming the layer, its class,
the attribute and the supported values — and a failed export leaves the output folder untouched."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import larq2mcu
from larq2mcu._tf import tf_modules
from larq2mcu.errors import (ModelLoadError, ModelStructureError, UnsupportedLayerError,
                             UnsupportedQuantizerError)

tf, keras, lq = tf_modules()
L = keras.layers
BIN = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")


def _seq(shape, *layers):
    return keras.Sequential([keras.Input(shape), *layers])


UNSUPPORTED = {
    "ste_tern kernel": (lambda: _seq((6, 6, 2), lq.layers.QuantConv2D(4, 3, kernel_quantizer="ste_tern")),
                        UnsupportedQuantizerError, ["kernel_quantizer", "SteTern", "ste_sign"]),
    "dorefa input": (lambda: _seq((6, 6, 2), lq.layers.QuantConv2D(4, 3, input_quantizer="dorefa_quantizer",
                                                                     kernel_quantizer="ste_sign")),
                     UnsupportedQuantizerError, ["input_quantizer", "DoReFa"]),
    "magnitude_aware_sign": (lambda: _seq((8,), lq.layers.QuantDense(4, kernel_quantizer="magnitude_aware_sign")),
                             UnsupportedQuantizerError, ["MagnitudeAwareSign"]),
    "ste_heaviside": (lambda: _seq((8,), lq.layers.QuantDense(4, input_quantizer="ste_heaviside",
                                                              kernel_quantizer="ste_sign")),
                      UnsupportedQuantizerError, ["SteHeaviside"]),
    "quantizer layer": (lambda: _seq((8,), lq.quantizers.SteTern()), UnsupportedQuantizerError, ["SteTern"]),
    "dilation": (lambda: _seq((9, 9, 2), L.Conv2D(4, 3, dilation_rate=2)), UnsupportedLayerError,
                 ["dilation_rate", "(2, 2)", "(1, 1)"]),
    "channels_first": (lambda: _seq((2, 9, 9), L.Conv2D(4, 3, data_format="channels_first")),
                       UnsupportedLayerError, ["data_format", "channels_first", "channels_last"]),
    "groups": (lambda: _seq((9, 9, 4), L.Conv2D(4, 3, groups=2)), UnsupportedLayerError, ["groups", "2"]),
    "pad_values": (lambda: _seq((6, 6, 2), lq.layers.QuantConv2D(4, 3, padding="same", pad_values=-1.0, **BIN)),
                   UnsupportedLayerError, ["pad_values", "-1.0", "0.0, 1.0"]),
    "unknown layer": (lambda: _seq((6, 6, 2), L.Conv2DTranspose(3, 3)), UnsupportedLayerError,
                      ["Conv2DTranspose", "supported"]),
    "depthwise": (lambda: _seq((6, 6, 2), lq.layers.QuantDepthwiseConv2D(3)), UnsupportedLayerError,
                  ["QuantDepthwiseConv2D"]),
    "activation": (lambda: _seq((8,), L.Dense(3, activation="elu")), UnsupportedLayerError,
                   ["activation", "elu", "relu"]),
    "relu6": (lambda: _seq((8,), L.ReLU(max_value=6.0)), UnsupportedLayerError, ["max_value"]),
    "dense on map": (lambda: _seq((4, 4, 2), L.Dense(3)), UnsupportedLayerError, ["input rank", "Flatten"]),
    "upsampling": (lambda: _seq((4, 4, 2), L.UpSampling2D()), UnsupportedLayerError, ["UpSampling2D"]),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_gives_typed_error_and_touches_nothing(case, tmp_path):
    build, err, words = UNSUPPORTED[case]
    model = build()
    out = tmp_path / "out"
    out.mkdir()
    (out / "user_notes.txt").write_text("mine")
    with pytest.raises(err) as ei:
        larq2mcu.export(model, out, name="m", force=True)
    msg = str(ei.value)
    assert model.layers[-1].name in msg or any(layer.name in msg for layer in model.layers)
    for w in words:
        assert w in msg, (w, msg)
    assert sorted(p.name for p in out.iterdir()) == ["user_notes.txt"]
    assert (out / "user_notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.l2m-")]


def test_structure_errors(tmp_path):
    a, b = keras.Input((4,)), keras.Input((4,))
    two_in = keras.Model([a, b], L.Add()([a, b]))
    with pytest.raises(ModelStructureError, match="2 inputs"):
        larq2mcu.export(two_in, tmp_path / "o")
    d = L.Dense(4)
    shared = keras.Model(a, d(d(a)))
    with pytest.raises(ModelStructureError, match="more than once"):
        larq2mcu.export(shared, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_bad_bn_statistics(tmp_path):
    m = _seq((6,), L.Dense(4), L.BatchNormalization())
    w = m.layers[1].get_weights()
    w[3] = -np.ones(4, np.float32)                       # negative variance
    m.layers[1].set_weights(w)
    with pytest.raises(UnsupportedLayerError, match="moving_variance"):
        larq2mcu.export(m, tmp_path / "o")
    w[3] = np.ones(4, np.float32)
    w[2] = np.array([0, np.nan, 0, 0], np.float32)
    m.layers[1].set_weights(w)
    with pytest.raises(UnsupportedLayerError, match="moving_mean"):
        larq2mcu.export(m, tmp_path / "o")


def test_model_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        larq2mcu.export(tmp_path / "missing.keras", tmp_path / "o")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(ModelLoadError, match="not a model file"):
        larq2mcu.export(txt, tmp_path / "o")
    m = _seq((8,), lq.layers.QuantDense(4, **BIN))
    good = tmp_path / "m.keras"
    m.save(good)
    trunc = tmp_path / "t.keras"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ModelLoadError, match="cannot load"):
        larq2mcu.export(trunc, tmp_path / "o")
    h5 = tmp_path / "c.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ModelLoadError):
        larq2mcu.export(h5, tmp_path / "o")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["1abc", "my-model", "int", "l2m_core", ""])
def test_invalid_names(name, tmp_path):
    m = _seq((8,), lq.layers.QuantDense(4, **BIN))
    with pytest.raises(larq2mcu.InvalidNameError):
        larq2mcu.export(m, tmp_path / "o", name=name)


def test_cli_user_error_is_one_line_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "larq2mcu.cli", "export", str(tmp_path / "nope.keras"),
                        "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "error: model file not found" in r.stderr


def test_cli_model_too_large_for_board(tmp_path):
    """A model that does not fit the board: exit 2, need vs have in bytes, nothing written."""
    m = _seq((64, 64, 8), L.Conv2D(32, 3, padding="same"), L.Flatten(), L.Dense(10))
    path = tmp_path / "big.keras"
    m.save(path)
    r = subprocess.run([sys.executable, "-m", "larq2mcu.cli", "export", str(path), "--board", "qemu_m0",
                        "-o", str(tmp_path / "proj")], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "does not fit qemu_m0" in r.stderr and "need" in r.stderr and "have" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "proj").exists()


def test_cli_unknown_board_suggests(tmp_path):
    m = _seq((8,), lq.layers.QuantDense(4, **BIN))
    path = tmp_path / "m.keras"
    m.save(path)
    r = subprocess.run([sys.executable, "-m", "larq2mcu.cli", "export", str(path), "--board", "qemu_m44",
                        "-o", str(tmp_path / "p")], capture_output=True, text=True)
    assert r.returncode == 2 and "qemu_m4" in r.stderr and "Traceback" not in r.stderr
