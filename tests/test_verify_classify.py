"""verify classifies every disagreement with the fuzzer's classifier and fails only on real ones:
a sign flip within float rounding of zero is explained, the same flip far from zero is a failure."""
from __future__ import annotations

import numpy as np

import model_cases as mc
from larq2mcu import verify


def _model():
    """Dense(1) with weights 1, 1, 1 → sign → binary dense: the sign of x0 + x1 + x2."""
    m = mc._seq((3,), [mc.L.Dense(1, use_bias=False), mc.lq.quantizers.SteSign(),
                       mc.lq.layers.QuantDense(2, use_bias=False, **mc.BIN)])
    m.layers[0].set_weights([np.ones((3, 1), np.float32)])
    return m


def _comparison(exp, host, x, flip_sample):
    c = verify.run_comparison(exp, host, x)
    t = next(t for t in c.tensors if t in c.mism)        # the bits of sign(Dense)
    c.mism[t] = c.mism[t].copy()
    c.mism[t][flip_sample] = True                        # pretend the C flipped this sample's bit
    return c


def test_flip_within_rounding_is_explained_and_far_from_zero_is_a_failure(tmp_path):
    import larq2mcu
    m = _model()
    exp = larq2mcu.export(m, tmp_path / "o", name="m")
    host = exp.build_host()
    # sample 0: exact sum −0.5 next to ±1e8 terms (float32 error bound ≫ 0.5); sample 1: exact −2
    x = np.array([[1e8, -0.5, -1e8], [2.0, -5.0, 1.0]], np.float32)
    assert verify.compare(exp, host, x).ok                # no disagreement at all: nothing to explain
    issues = verify.classify(exp, _comparison(exp, host, x, 0), x)
    assert [(i.sample, i.kind) for i in issues] == [(0, "rounding_flip")]
    issues = verify.classify(exp, _comparison(exp, host, x, 1), x)
    assert [(i.sample, i.kind) for i in issues] == [(1, "failure")] and "beyond the rounding bound" in issues[0].detail
    ag = verify.Agreement(n=2, issues=issues)
    assert not ag.ok and "REAL MISMATCH sample 1" in ag.summary()
    assert verify.Agreement(n=2, issues=[verify.SampleIssue(0, "rounding_flip", "x")]).ok
