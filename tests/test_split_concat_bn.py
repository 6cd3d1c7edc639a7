"""passes/split_concat_bn.py: BN + sign after a float Concat move in front of it per input, so the
producers get thresholds and the Concat joins bit maps — exactly (reference outputs unchanged,
host C bit-identical to Keras) and with a smaller arena; it stays off where the float Concat has
another reader (BinaryDenseNet's pattern)."""
from __future__ import annotations

import numpy as np

import model_cases as mc
from larq2mcu import frontend, ir, passes, planner, reference, verify
from larq2mcu.dev import zoo
from larq2mcu.passes.split_concat_bn import split_concat_bn

L, lq, keras = mc.L, mc.lq, mc.keras
BIN = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)


def bn_after_concat(extra_reader: bool = False):
    """float conv ‖ binary conv of sign(image) → Concat → BN → (sign inside the next convs) →
    binary 3×3 ‖ max-pooled binary 1×1 → Concat → BN → binary conv → GAP → Dense. With
    `extra_reader`, the second Concat is also added to the head (as DenseNet's next Concat would)."""
    inp = keras.Input((8, 8, 3))
    a = L.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    b = lq.layers.QuantConv2D(8, 3, padding="same", **BIN)(inp)
    x = L.BatchNormalization()(L.Concatenate()([a, b]))
    y1 = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, **BIN)(x)
    y2 = lq.layers.QuantConv2D(8, 1, **BIN)(x)
    cat = L.Concatenate()([y1, L.MaxPooling2D(1)(y2)])
    x = lq.layers.QuantConv2D(16, 3, padding="same", pad_values=1.0, **BIN)(L.BatchNormalization()(cat))
    if extra_reader:
        x = L.Add()([x, cat])
    return keras.Model(inp, L.Dense(4)(L.GlobalAveragePooling2D()(x)))


def _pipeline_without_split(g):
    return passes.run_pipeline(g, tuple(p for p in passes.PIPELINE if p is not split_concat_bn))


def _float_concats(g):
    return sum(isinstance(op, ir.Concat) and g.tensors[op.output].dtype == ir.F32 for op in g.ops)


def test_fires_exactly_and_shrinks_the_arena(tmp_path):
    import larq2mcu
    keras.utils.set_random_seed(3)
    m = zoo.randomize_bn(bn_after_concat(), seed=3)
    src = frontend.to_ir(m)
    assert sum(op.parts is not None for op in src.ops if isinstance(op, ir.BatchNorm)) == 2
    x = mc.inputs(m, 30, seed=4)
    g = passes.dedupe_quantize(passes.hoist_quantize(src))
    g2 = split_concat_bn(g)
    assert _float_concats(g) == 2 and _float_concats(g2) == 0
    before, after = reference.run(g, x, keep_all=True), reference.run(g2, x, keep_all=True)
    for t in after:
        if t in before:
            assert np.array_equal(before[t], after[t]), t
    full, old = passes.run_pipeline(src), _pipeline_without_split(src)
    assert not any(isinstance(op, ir.BatchNorm) for op in full.ops)       # every BN became thresholds
    assert planner.plan(full).arena_size < planner.plan(old).arena_size
    exp = larq2mcu.export(m, tmp_path / "o", name="s")
    ag = verify.compare(exp, exp.build_host(), x)
    assert ag.ok and ag.bit_mismatches == 0 and ag.bit_tensors, ag.summary()


def test_stays_off_when_the_float_concat_has_another_reader():
    keras.utils.set_random_seed(3)
    m = zoo.randomize_bn(bn_after_concat(extra_reader=True), seed=3)
    g = passes.dedupe_quantize(passes.hoist_quantize(frontend.to_ir(m)))
    g2 = split_concat_bn(g)
    # the first Concat (read only by its BN) is split, the second (also read by Add) is not
    assert _float_concats(g) == 2 and _float_concats(g2) == 1
