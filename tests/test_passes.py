"""Level 2: every pass preserves the reference outputs of every tensor that survives it, and the
threshold derivation handles γ>0, γ<0, γ=0 and never-crossing channels exactly."""
from __future__ import annotations

import numpy as np
import pytest

import model_cases as mc
from larq2mcu import frontend, ir, reference
from larq2mcu.bits import sign_bits
from larq2mcu.passes import PIPELINE
from larq2mcu.passes.fold_threshold import thresholds


@pytest.fixture(scope="module")
def graphs():
    out = {}
    for case in sorted(mc.CASES):
        m = mc.build(case, seed=5)
        out[case] = (frontend.to_ir(m), mc.inputs(m, 40, seed=5))
    return out


@pytest.mark.parametrize("pass_fn", PIPELINE, ids=lambda p: p.__name__)
def test_pass_preserves_reference(graphs, pass_fn):
    for case, (g, x) in graphs.items():
        for earlier in PIPELINE[:PIPELINE.index(pass_fn)]:
            g = earlier(g)
        before = reference.run(g, x, keep_all=True)
        g2 = pass_fn(g)
        after = reference.run(g2, x, keep_all=True)
        assert np.array_equal(before[g.outputs[0]], after[g2.outputs[0]]), case
        for t in after:
            if t in before:
                assert np.array_equal(before[t], after[t]), f"{case}: {pass_fn.__name__} changed {t}"


def test_pipeline_folds_every_bn_before_a_sign(graphs):
    """After the pipeline no BatchNorm feeds a Quantize (all such BNs became thresholds)."""
    from larq2mcu.passes import run_pipeline
    for case, (g, _) in graphs.items():
        g2 = run_pipeline(g)
        for op in g2.ops:
            if isinstance(op, ir.Quantize):
                assert not isinstance(g2.producer(op.inputs[0]), ir.BatchNorm) or \
                    g2.producer(op.inputs[0]).probe is None, case


def _bn(x, gamma, beta, mean, var, eps=1e-3):
    x = np.asarray(x, np.float32)
    return ((x - mean) * (np.float32(gamma) / np.sqrt(np.float32(var) + np.float32(eps))) + beta).astype(np.float32)


@pytest.mark.parametrize("gamma,beta,mean,var", [
    (1.0, 0.0, 2.5, 1.0),      # γ>0: bit = x < τ
    (-2.0, 0.3, -1.0, 4.0),    # γ<0: flipped
    (0.0, -1.0, 0.0, 1.0),     # γ=0, β<0: always −1
    (0.0, 1.0, 0.0, 1.0),      # γ=0, β>0: always +1
    (1.0, 0.0, 1e5, 1.0),      # never crosses: always −1
    (1.0, 0.0, -1e5, 1.0),     # never crosses: always +1
    (1e-30, 0.0, 3.0, 1e30),   # tiny slope: rounding decides; the table is the truth
])
def test_thresholds_reproduce_every_accumulator(gamma, beta, mean, var):
    k = 27
    xs = np.arange(-k, k + 1)
    y = _bn(xs, gamma, beta, mean, var)[:, None]
    tau, flip = thresholds(y, -k)
    acc = -xs if flip[0] else xs
    assert np.array_equal(acc < tau[0], sign_bits(y[:, 0]))      # Keras' sign: subnormals flush to +1


def test_thresholds_refuse_non_monotone():
    y = np.array([[1.0], [-1.0], [1.0]], np.float32)
    assert thresholds(y, -1) is None
