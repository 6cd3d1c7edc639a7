"""verify reports disagreements that float rounding explains as "AGREE with notes" (with the
magnitude of the flipped pre-sign values) and exits 0; a real mismatch is DISAGREE, exit 1. The
per-tensor C values come from one pass over the ops (linear in depth) and equal a prefix re-run."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import model_cases as mc
from larq2mcu import verify
from larq2mcu.dev import zoo


def _model():
    """Dense(1) with weights 1, 1, 1 → sign → binary dense: the sign of x0 + x1 + x2."""
    m = mc._seq((3,), [mc.L.Dense(1, use_bias=False), mc.lq.quantizers.SteSign(),
                       mc.lq.layers.QuantDense(2, use_bias=False, **mc.BIN)])
    m.layers[0].set_weights([np.ones((3, 1), np.float32)])
    return m


# sample 0: exact sum −0.5 next to ±1e8 terms (float32 rounding bound ≫ 0.5); sample 1: exact −2
X = np.array([[1e8, -0.5, -1e8], [2.0, -5.0, 1.0]], np.float32)


def _flipping(monkeypatch, sample):
    """Make run_comparison pretend the C flipped the bit of sign(Dense) in `sample`."""
    real = verify.run_comparison

    def fake(exp, host, x, *a, **k):
        c = real(exp, host, x, *a, **k)
        t = next(t for t in c.tensors if t in c.mism)
        c.mism[t] = c.mism[t].copy()
        c.mism[t][sample] = True
        return c
    monkeypatch.setattr(verify, "run_comparison", fake)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import larq2mcu
    d = tmp_path_factory.mktemp("notes")
    m = _model()
    m.save(d / "m.keras")
    np.savez(d / "x.npz", x_test=X.reshape(len(X), 1, 3), y_test=np.zeros(len(X), np.int64))
    exp = larq2mcu.export(m, d / "o", name="m")
    return d, exp, exp.build_host()


def test_rounding_flip_is_agreement_with_notes(exported, monkeypatch):
    _, exp, host = exported
    assert verify.compare(exp, host, X).verdict == "AGREE"
    _flipping(monkeypatch, 0)
    ag = verify.compare(exp, host, X)
    assert ag.ok and ag.bit_mismatches == 1
    assert [(i.sample, i.kind) for i in ag.issues] == [(0, "rounding_flip")]
    assert ag.issues[0].magnitude == pytest.approx(0.5)
    text = ag.summary()
    assert text.splitlines()[-1].startswith("AGREE with notes (1 of 2 samples")
    assert "|v| ≤ 0.5" in text and "note sample 0, rounding flip" in text and "DISAGREE" not in text


def test_real_mismatch_is_disagree(exported, monkeypatch):
    _, exp, host = exported
    _flipping(monkeypatch, 1)
    ag = verify.compare(exp, host, X)
    assert not ag.ok and ag.verdict == "DISAGREE" and "REAL MISMATCH sample 1" in ag.summary()


@pytest.mark.parametrize("sample,code,verdict", [(0, 0, "AGREE with notes"), (1, 1, "DISAGREE")])
def test_cli_exit_code_follows_the_classification(exported, monkeypatch, sample, code, verdict):
    from larq2mcu.cli import main
    d, _, _ = exported
    _flipping(monkeypatch, sample)
    r = CliRunner().invoke(main, ["verify", str(d / "m.keras"), "--data", str(d / "x.npz"),
                                  "--preprocess", "none"])
    assert r.exit_code == code, r.output
    assert verdict in r.output


def test_intermediates_one_pass_equal_prefix_reruns(tmp_path):
    """host.intermediates steps through the ops once per sample (_invoke_range); each tensor must
    equal what a fresh run of the prefix up to its producer leaves in the arena."""
    import larq2mcu
    m = zoo.randomize_bn(mc.densenet_concat())
    exp = larq2mcu.export(m, tmp_path / "o", name="d")
    host = exp.build_host()
    g = exp.graph
    x = mc.inputs(m, 3, seed=2)
    tensors = [op.output for op in g.ops]
    fast = host.intermediates(x, tensors)
    host._range = None                     # the fallback: re-run the prefix for every tensor
    slow = host.intermediates(x, tensors)
    assert len(tensors) >= 4
    for t in tensors:
        np.testing.assert_array_equal(fast[t], slow[t], err_msg=t)
