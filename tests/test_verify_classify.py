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


def test_propagation_follows_the_bits_both_sides_computed(tmp_path):
    """x = [1e8, −0.5, −1e8]: the exact sum is −0.5 (float64 sign −1), while float32 in this order
    gives 0 (sign +1) on both sides. The values after that sign must follow the agreed +1, or a
    later flip is judged against a pre-sign value neither side computed (fuzz seed 2041006592)."""
    import larq2mcu
    from larq2mcu import ir, rounding
    exp = larq2mcu.export(_model(), tmp_path / "o", name="m")
    src = exp.source_graph
    q = next(op.output for op in src.ops if isinstance(op, ir.Quantize))
    after = next(op.output for op in src.ops if op.inputs == (q,))
    x = np.array([[1e8, -0.5, -1e8]], np.float32)
    free = rounding.propagate(src, x)
    held = rounding.propagate(src, x, {q: np.ones((1, 1))})
    assert free[q][0].item() == -1 and held[q][0].item() == 1 and held[q][1].item() == 0
    np.testing.assert_array_equal(held[after][0], -free[after][0])  # one ±1 input: the dot flips
    c = verify.run_comparison(exp, exp.build_host(), x)
    assert verify._observed_bits(src, c, [0])[q].tolist() == [[1]]  # what Keras computed


def test_flip_after_flatten_of_a_sign_is_judged_by_the_value_before_the_sign(tmp_path):
    """Conv → SteSign → Flatten: the compared bits carry the Flatten's name; their pre-sign value is
    the conv output, element for element (fuzz seeds 2041006244, 2040007918)."""
    import larq2mcu
    from larq2mcu import ir
    m = mc._seq((3, 3, 2), [mc.L.Conv2D(4, 2), mc.lq.quantizers.SteSign(), mc.L.Flatten(),
                            mc.lq.layers.QuantDense(2, use_bias=False, **mc.BIN)])
    exp = larq2mcu.export(m, tmp_path / "o", name="m")
    src = exp.source_graph
    pre = verify._presign_sources(src)
    flat = next(ln.name for ln in m.layers if isinstance(ln, mc.L.Flatten))
    assert src.tensors[pre[flat]].dtype == ir.F32 and src.tensors[pre[flat]].shape == (2, 2, 4)


def test_samples_whose_float32_values_may_overflow_are_not_failures(tmp_path):
    """Dense(1) with weights 1e16 on [1e30, −1e30, 1]: the exact value is 1e16, but the products are
    ±1e46, beyond float32, so |v| + e > FLT_MAX: either side may compute ±inf or NaN (fuzz seed
    2040006130); the same model on ordinary inputs has no such sample."""
    import larq2mcu
    from larq2mcu import rounding
    m = mc._seq((3,), [mc.L.Dense(1, use_bias=False), mc.L.Activation("sigmoid")])
    m.layers[0].set_weights([np.full((3, 1), 1e16, np.float32)])
    exp = larq2mcu.export(m, tmp_path / "o", name="m")
    x = np.array([[1e30, -1e30, 1.0], [1.0, -2.0, 0.5]], np.float32)
    hit = verify._overflow_possible(exp.source_graph, rounding.propagate(exp.source_graph, x), 2)
    assert hit[0] and not hit[1]
