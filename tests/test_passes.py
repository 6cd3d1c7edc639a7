"""Level 2: every pass preserves the reference outputs of every tensor that survives it, and the
threshold derivation handles γ>0, γ<0, γ=0 and never-crossing channels exactly."""
from __future__ import annotations

import numpy as np
import pytest

import model_cases as mc
import test_dense_block as tdb
import test_split_concat_bn as scb
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


# --- each pass fires: on a model made for it, it makes the change it exists for -----------------
def _sign_avgpool_sign():
    """±1 values average-pooled and re-binarized: Dequantize → AvgPool2D → Quantize."""
    return mc._seq((6, 6, 3), [mc.lq.quantizers.SteSign(), mc.L.AveragePooling2D(2, padding="same"),
                               mc.lq.quantizers.SteSign(), mc.L.Flatten(), mc.lq.layers.QuantDense(4, **mc.BIN)])


def _concat_of_flat_signs():
    """sign(Flatten(x)) concatenated with another bit vector: hoisting the sign before the Flatten
    leaves that input packed per pixel, which the bit concatenation cannot copy as is."""
    inp = mc.keras.Input((3, 3, 2))
    a = mc.lq.quantizers.SteSign()(mc.L.Flatten()(inp))
    b = mc.lq.quantizers.SteSign()(mc.L.Dense(5)(mc.L.Flatten()(inp)))
    x = mc.L.Concatenate()([a, b])
    return mc.keras.Model(inp, mc.lq.layers.QuantDense(4, **mc.BIN)(x))


def _zero_padded_binary_conv():
    """ZeroPadding2D then a 'valid' binary conv: sign(0) = +1 is Larq's pad_values=1.0."""
    return mc._seq((5, 6, 3), [mc.L.Conv2D(4, 1), mc.L.ZeroPadding2D(((1, 0), (1, 2))),
                               mc.lq.layers.QuantConv2D(5, 3, **mc.BIN), mc.L.Flatten(), mc.L.Dense(2)])


def _upto(g, pass_fn):
    for earlier in PIPELINE[:PIPELINE.index(pass_fn)]:
        g = earlier(g)
    return g


def _kinds(g, cls):
    return [op for op in g.ops if type(op) is cls]


def _hoistable(g):
    return [q for q in _kinds(g, ir.Quantize)
            if isinstance(g.producer(q.inputs[0]), (ir.MaxPool2D, ir.Reshape, ir.Dequantize))]


def _duplicate_quantizes(g):
    ins = [q.inputs[0] for q in _kinds(g, ir.Quantize)]
    return len(ins) - len(set(ins))


def _foldable(g):
    return [op for op in _kinds(g, ir.Quantize) if isinstance(g.producer(op.inputs[0]), ir.BatchNorm)]


def _thresholds(g):
    return [op for op in g.ops if getattr(op, "threshold", None) is not None]


def _unpacked_concat_inputs(g):
    return [t for op in _kinds(g, ir.Concat) if g.tensors[op.output].dtype == ir.BITS for t in op.inputs
            if g.tensors[t].packing != ir.default_packing(g.tensors[t].shape)]


def _flat_sign_map():
    """sign(Flatten(x)) of a 1-channel map into a binary dense: one word per pixel until packed densely."""
    return mc._seq((6, 6, 1), [mc.L.Flatten(), mc.lq.layers.QuantDense(4, **mc.BIN)])


def _wasteful_flat_bits(g):
    return [t for t in g.tensors.values() if t.dtype == ir.BITS and len(t.shape) == 1
            and t.packing[0] * ((t.packing[1] + 31) // 32) > (t.numel + 31) // 32]


def _float_dense_on_signs():
    """A float-weight Dense on sign(x) (QuantDense with only an input quantizer), then BN."""
    return mc._seq((4, 5, 3), [mc.L.Flatten(), mc.lq.layers.QuantDense(9, input_quantizer="ste_sign"),
                               mc.L.BatchNormalization()])


FIRES = {
    "hoist_quantize": ("conv_pad1_s1", lambda b, a: _hoistable(b) and not _hoistable(a)
                       and len(_kinds(a, ir.BinaryMaxPool2D)) > len(_kinds(b, ir.BinaryMaxPool2D))),
    "dedupe_quantize": ("densenet_concat", lambda b, a: _duplicate_quantizes(b) > 0 and _duplicate_quantizes(a) == 0),
    "fold_threshold": ("conv_pad1_s1", lambda b, a: _foldable(b) and not _foldable(a) and _thresholds(a)
                       and not _thresholds(b)),
    "fold_binary_avgpool": (_sign_avgpool_sign, lambda b, a: _kinds(b, ir.AvgPool2D) and not _kinds(a, ir.AvgPool2D)
                            and _kinds(a, ir.BinaryAvgPool2D)),
    "fold_pad": (_zero_padded_binary_conv, lambda b, a: _kinds(b, ir.Pad) and not _kinds(a, ir.Pad)
                 and [op.pads for op in _kinds(a, ir.BinaryConv2D) if op.pad_one] == [(1, 0, 1, 2)]),
    "concat_packing": (_concat_of_flat_signs, lambda b, a: _unpacked_concat_inputs(b) and not _unpacked_concat_inputs(a)),
    "flatten_packing": (_flat_sign_map, lambda b, a: _wasteful_flat_bits(b) and not _wasteful_flat_bits(a)),
    "flatten_concat": (tdb.dense_block, lambda b, a: tdb._float_concats(b) == 3 and all(
        not isinstance(a.producer(t), ir.Concat) for op in _kinds(a, ir.Concat) for t in op.inputs)),
    "push_through_concat": (tdb.dense_block, lambda b, a: tdb._widest_float_concat(a) * 4
                            == tdb._widest_float_concat(b) and len(_kinds(a, ir.MaxPool2D)) == 4),
    "fuse_batchnorm": ("bireal_add", lambda b, a: len(_kinds(b, ir.BatchNorm)) == 3 and not _kinds(a, ir.BatchNorm)
                       and sum(op.bn is not None for op in a.ops if hasattr(op, "bn")) == 3),
    "fuse_dequantize_dense": (_float_dense_on_signs, lambda b, a: _kinds(b, ir.Dequantize) and not _kinds(a, ir.Dequantize)
                              and len(_kinds(b, ir.Dense)) == 1 and not _kinds(a, ir.Dense)
                              and [op.bn is not None for op in _kinds(a, ir.BitDense)] == [True]),
    "fuse_conv_avgpool_sign": ("seed_mixed", lambda b, a: len(_kinds(b, ir.AvgPool2D)) == 2
                               and not _kinds(a, ir.AvgPool2D) and len(_kinds(a, ir.SumPoolSign)) == 2
                               and [op.bias is None for op in _kinds(a, ir.BinaryConv2D)] == [True, True]
                               and [op.bias is None for op in _kinds(b, ir.BinaryConv2D)] == [False, False]),
    "split_concat_bn": (scb.bn_after_concat, lambda b, a: scb._float_concats(b) == 2 and scb._float_concats(a) == 0),
}


def test_every_pass_has_a_fires_test():
    assert sorted(FIRES) == sorted(p.__name__ for p in PIPELINE)


@pytest.mark.parametrize("pass_fn", PIPELINE, ids=lambda p: p.__name__)
def test_pass_fires(pass_fn):
    case, fired = FIRES[pass_fn.__name__]
    from larq2mcu.dev import zoo
    m = mc.build(case, seed=2) if isinstance(case, str) else zoo.randomize_bn(case(), seed=2)
    before = _upto(frontend.to_ir(m), pass_fn)
    after = pass_fn(before)
    assert fired(before, after), f"{pass_fn.__name__} did not fire on {case}"
    x = mc.inputs(m, 16, seed=2)
    assert np.array_equal(reference.run(before, x), reference.run(after, x))
