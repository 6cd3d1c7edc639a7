"""A fixed-seed sample of the differential fuzzer (larq2mcu.dev.fuzz): random supported models, the
exported C against Keras on 100 awkward + random + real inputs each. Zero failures; rounding flips
(signs after float layers within float32 rounding of 0) are allowed and counted. Sized for ≤ 90 s
on 2 cores; the long campaign's figures are in docs/FUZZ.md. The sample includes issue #13's kinds
(grouped / dilated / depthwise / separable / 1-D convs, evaluated quantizers, integer-input exports)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from larq2mcu.dev import fuzz
from larq2mcu import rounding as bounds
from larq2mcu.dev.fuzz import check, gen

SAMPLE_MODELS = 36
SAMPLE_SEED = 12

# Layer kinds the sample must exercise (the generator's coverage keys).
REQUIRED = [
    "QuantConv2D[bin-in,bin-w]", "QuantConv2D[float-in,bin-w]", "Conv2D", "QuantDense[bin-in,bin-w]",
    "QuantDense[float-in,bin-w]", "QuantDense[bin-in,float-w]", "Dense", "BatchNormalization[after-dot]",
    "BN γ<0", "BN γ=0", "BN tiny variance", "BN huge variance", "BN never-crossing", "Flatten",
    "GlobalAveragePooling2D", "Add", "Concatenate", "Sequential", "Functional", "padding=same",
    "padding=valid", "pad_values=0", "pad_values=1", "strides=2x2", "use_bias",
    "ir:BinaryConv2D+threshold", "ir:BinaryDense+threshold", "ir:BinaryMaxPool2D",
    # issue #13's kinds (fuzz/ext.py)
    "groups>1", "dilation_rate>1", "depth_multiplier>1", "QuantDepthwiseConv2D[bin-in]", "DepthwiseConv2D",
    "QuantSeparableConv2D", "SeparableConv2D", "QuantConv1D[bin-in]", "Conv1D", "Average", "Add[broadcast]",
    "GlobalMaxPooling2D", "ZeroPadding2D", "TFOpLambda[relu6]", "Rescaling[int-input]", "export input_dtype=int8",
    "export input_dtype=uint8", "input_quantizer=ste_heaviside", "input_quantizer=ste_tern",
    "kernel_quantizer=ste_tern", "kernel_quantizer=magnitude_aware_sign", "kernel_quantizer=xnor_scale",
    "ir:BinaryGroupConv2D+depthwise", "ir:GroupConv2D+dilation", "ir:StepQuantize", "ir:IntConv2D",
    # issue #14's integer paths: conv → avgpool → sign, the fixed-point float dense on bits
    "ir:SumPoolSign", "ir:BitDense+fixed",
]


@pytest.fixture(scope="module")
def sample():
    return fuzz.run_campaign(SAMPLE_MODELS, seed=SAMPLE_SEED)


def test_sample_has_no_failures(sample):
    assert sample.models == SAMPLE_MODELS
    assert sample.ok, sample.text()
    assert sample.failure_samples == 0
    assert sample.inputs == SAMPLE_MODELS * 100
    assert sample.bits_compared > 100_000


def test_sample_coverage(sample):
    missing = [k for k in REQUIRED if not sample.coverage.get(k)]
    assert not missing, f"missing coverage: {missing}"
    pools = [k for k in sample.coverage if k.startswith(("MaxPooling2D", "AveragePooling2D"))]
    assert len(pools) >= 3
    signs = {k for k in sample.coverage if k.startswith("kernel_quantizer=")}
    assert signs >= {f"kernel_quantizer={q}" for q in gen.SIGNS}
    dorefa = [k for k in sample.coverage if k.startswith("input_quantizer=dorefa")]
    assert len(dorefa) >= 3           # several bit widths k


def test_fixed_first_layer_sample(tfm):
    """Issue #14: the FPU-less cores' integer first layer (l2m_w1fix_impl.h, -DL2M_W1_FIXED=1)
    built on the host, on a smaller sample with float-input 1-bit-weight convs: zero failures
    against Keras and against the _ref export (the long campaign is in docs/FUZZ.md)."""
    s = fuzz.run_campaign(12, seed=SAMPLE_SEED + 1, cflags=["-DL2M_W1_FIXED=1"])
    assert s.ok and s.failure_samples == 0, s.text()
    assert s.coverage.get("QuantConv2D[float-in,bin-w]", 0) >= 2, dict(s.coverage)


def test_generator_is_deterministic(tfm):
    a, b = gen.generate(123), gen.generate(123)
    assert a.description == b.description
    for la, lb in zip(a.model.layers, b.model.layers):
        for wa, wb in zip(la.get_weights(), lb.get_weights()):
            assert np.array_equal(wa, wb)


def test_fast_build_matches_build_host(tmp_path, tfm):
    """The fuzzer's cached-runtime build computes what Export.build_host computes."""
    import larq2mcu
    g = gen.generate(11)
    exp = larq2mcu.export(g.model, tmp_path / "o", name="m")
    x = fuzz.make_inputs(tuple(g.model.inputs[0].shape[1:]), 20, np.random.default_rng(0))
    b = check.FastBuilder()
    try:
        fast = b.build(exp)
        ref = exp.build_host()
        np.testing.assert_array_equal(fast.predict(x, check_finite=False), ref.predict(x, check_finite=False))
        check.release(fast)
    finally:
        b.close()


def test_bounds_exact_for_integer_float_conv(tfm):
    """Integer inputs through an integer-kernel float conv are exact (bound 0), so a sign flip there
    would be classified as a failure, not as a rounding flip."""
    from larq2mcu import ir
    k = np.ones((3, 3, 1, 2), np.float32)
    g = ir.Graph(tensors={"x": ir.Tensor("x", (4, 4, 1), ir.F32), "y": ir.Tensor("y", (2, 2, 2), ir.F32)},
                 ops=(ir.Conv2D(name="c", inputs=("x",), output="y", kernel=k),), inputs=("x",), outputs=("y",))
    x = np.random.default_rng(0).integers(-3, 4, (5, 4, 4, 1)).astype(np.float32)
    v, e = bounds.propagate(g, x)["y"]
    assert np.all(e == 0)
    np.testing.assert_array_equal(v[..., 0], v[..., 1])
    _, e2 = bounds.propagate(g, x + np.float32(0.1))["y"]
    assert np.all(e2 > 0)             # fractional inputs: rounding possible, bound positive


def test_cli_writes_json_and_markdown(tmp_path, tfm):
    from larq2mcu.dev.fuzz.__main__ import main
    out = tmp_path / "s.json"
    rc = main(["--models", "2", "--seed", "5", "--inputs", "20", "--out", str(out), "--quiet"])
    d = json.loads(out.read_text())
    assert rc == (0 if d["ok"] else 1)
    assert d["models"] == 2 and d["inputs"] == 40
    md = out.with_suffix(".md").read_text()
    assert "models × inputs" in md and "Coverage by layer kind" in md
