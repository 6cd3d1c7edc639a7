"""ExportOnTrainEnd: exports `self.model` when fit() ends, verifies it, stores the results, and
reports failures (raise or log); RichProgress drives a progress bar without errors."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from larq2mcu import datasets
from larq2mcu.errors import BoardError, OutputDirError, VerificationError


def _tiny(keras, lq):
    """Float-input binary-weight conv → BN → MaxPool → binary Dense → BN → softmax (8×8 input)."""
    kw = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
              use_bias=False)
    L = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        lq.layers.QuantConv2D(8, 3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False),
        L.BatchNormalization(scale=False), L.MaxPool2D(2), L.Flatten(),
        lq.layers.QuantDense(10, **kw), L.BatchNormalization(scale=False), L.Activation("softmax")])


@pytest.fixture(scope="module")
def digits():
    ds = datasets.load_digits()
    xtr, xte = ds.inputs("sym")
    return xtr, ds.y_train, xte[:120], ds.y_test[:120]


def _fit(tfm, digits, cb, epochs=2):
    tf, keras, lq = tfm
    keras.utils.set_random_seed(0)
    m = _tiny(keras, lq)
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    xtr, ytr, _, _ = digits
    m.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0, callbacks=cb)
    return m


def test_exports_and_verifies(tfm, digits, tmp_path, capsys):
    from larq2mcu.keras import ExportOnTrainEnd, RichProgress
    _, _, xte, yte = digits
    cb = ExportOnTrainEnd(tmp_path / "cb", name="cb_model", verify_data=(xte, yte), html=tmp_path / "r.html")
    m = _fit(tfm, digits, [RichProgress("t"), cb])
    assert cb.export is not None and cb.export.name == "cb_model"
    manifest = json.loads((tmp_path / "cb" / "larq2mcu.json").read_text())
    assert manifest["model_hash"] == cb.export.model_hash
    assert (tmp_path / "cb" / "cb_model.c").is_file()
    ag = cb.agreement
    assert ag is not None and ag.n == len(xte)
    assert ag.bit_mismatches == 0 and ag.outputs_within_tol and ag.ok
    # the C accuracy equals Keras' (same argmax everywhere), and is above chance
    acc_k = float(np.mean(m.predict(xte, verbose=0).argmax(1) == yte))
    assert cb.accuracy == pytest.approx(acc_k) and cb.accuracy > 0.1
    out = capsys.readouterr().out
    assert "AGREE" in out and "exported 'cb_model'" in out
    assert (tmp_path / "r.html").is_file()


def test_x_only_verify_data_and_board(tfm, digits, tmp_path):
    from larq2mcu.keras import ExportOnTrainEnd
    _, _, xte, _ = digits
    cb = ExportOnTrainEnd(tmp_path / "b", board="qemu_m4", verify_data=xte[:16], quiet=True)
    _fit(tfm, digits, [cb], epochs=1)
    assert cb.board == "qemu_m4" and cb.accuracy is None and cb.agreement.n == 16


def test_unknown_board_rejected_before_training(tmp_path):
    from larq2mcu.keras import ExportOnTrainEnd
    with pytest.raises(BoardError, match="qemu_m4"):
        ExportOnTrainEnd(tmp_path / "x", board="qemu_m5")


def _disagreeing(monkeypatch):
    from larq2mcu import verify
    real = verify.compare

    def fake(exp, host, x, **kw):
        ag = real(exp, host, x, **kw)
        ag.argmax_agreement = 0.5          # as if half the classes differed
        ag.class_mismatches = len(x) // 2
        return ag
    monkeypatch.setattr(verify, "compare", fake)


def test_disagreement_raises(tfm, digits, tmp_path, monkeypatch):
    from larq2mcu.keras import ExportOnTrainEnd
    _disagreeing(monkeypatch)
    cb = ExportOnTrainEnd(tmp_path / "d", verify_data=digits[2][:8], quiet=True)
    with pytest.raises(VerificationError, match="disagrees with Keras"):
        _fit(tfm, digits, [cb], epochs=1)
    assert cb.export is not None and not cb.agreement.ok


def test_disagreement_logged(tfm, digits, tmp_path, monkeypatch, caplog):
    from larq2mcu.keras import ExportOnTrainEnd
    _disagreeing(monkeypatch)
    cb = ExportOnTrainEnd(tmp_path / "d", verify_data=digits[2][:8], quiet=True, on_failure="log")
    with caplog.at_level(logging.ERROR, logger="larq2mcu"):
        _fit(tfm, digits, [cb], epochs=1)
    assert any("disagrees with Keras" in r.getMessage() for r in caplog.records)


def test_foreign_folder_refused(tfm, digits, tmp_path):
    from larq2mcu.keras import ExportOnTrainEnd
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match="did not write"):
        _fit(tfm, digits, [ExportOnTrainEnd(tmp_path / "f", quiet=True)], epochs=1)
    cb = ExportOnTrainEnd(tmp_path / "f", quiet=True, force=True)
    _fit(tfm, digits, [cb], epochs=1)
    assert (tmp_path / "f" / "notes.txt").read_text() == "mine" and cb.export is not None
    assert np.isfinite(cb.export.plan.arena_size)
