"""BinaryDenseNet's dense block and transition (larq-zoo's pattern): each Concat is read by the next
Concat and by its own BN + sign, and the last by the float transition BN → MaxPool → ReLU → 1×1
conv. flatten_concat makes every Concat read the members, split_concat_bn then moves each
BN + sign in front of its Concat, and push_through_concat runs the transition per member, so no
growing float concatenation is kept: the arena shrinks, the reference outputs and the host C
(bit for bit vs Keras) do not change."""
from __future__ import annotations

import numpy as np

import model_cases as mc
from larq2mcu import frontend, ir, passes, planner, reference, verify
from larq2mcu.dev import zoo
from larq2mcu.passes.flatten_concat import flatten_concat
from larq2mcu.passes.push_through_concat import push_through_concat

L, lq, keras = mc.L, mc.lq, mc.keras
BIN = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)


def dense_block(layers: int = 3, side: int = 8):
    """float stem → [BN → binary 3×3 conv → Concat with all before] × layers → BN → MaxPool → ReLU →
    float 1×1 conv → BN → GAP → Dense (larq_zoo.literature.BinaryDenseNet, small)."""
    inp = keras.Input((side, side, 3))
    x = L.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    for _ in range(layers):
        y = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, **BIN)(L.BatchNormalization()(x))
        x = L.Concatenate()([x, y])
    x = L.BatchNormalization()(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Activation("relu")(x)
    x = L.Conv2D(16, 1, use_bias=False)(x)
    x = L.BatchNormalization()(x)
    return keras.Model(inp, L.Dense(4)(L.GlobalAveragePooling2D()(x)))


def _float_concats(g):
    return sum(isinstance(op, ir.Concat) and g.tensors[op.output].dtype == ir.F32 for op in g.ops)


def _widest_float_concat(g):
    return max((g.tensors[op.output].numel for op in g.ops
                if isinstance(op, ir.Concat) and g.tensors[op.output].dtype == ir.F32), default=0)


def _without(*skip):
    return tuple(p for p in passes.PIPELINE if p not in skip)


def test_dense_block_keeps_no_growing_concat_and_stays_exact(tmp_path):
    import larq2mcu
    keras.utils.set_random_seed(5)
    m = zoo.randomize_bn(dense_block(), seed=5)
    src = frontend.to_ir(m)
    x = mc.inputs(m, 24, seed=6)
    old = passes.run_pipeline(src, _without(flatten_concat, push_through_concat))
    new = passes.run_pipeline(src)
    assert _float_concats(old) == 3                         # the block's three growing concatenations
    # now one float Concat: of the pooled members, in front of the 1×1 conv (4× smaller than before)
    assert _float_concats(new) == 1 and _widest_float_concat(new) * 4 == _widest_float_concat(old)
    assert np.array_equal(reference.run(old, x), reference.run(new, x))
    a_old, a_new = planner.plan(old).arena_size, planner.plan(new).arena_size
    assert a_new < a_old, (a_old, a_new)
    exp = larq2mcu.export(m, tmp_path / "o", name="d")
    ag = verify.compare(exp, exp.build_host(), x)
    assert ag.ok and ag.bit_mismatches == 0 and ag.bit_tensors, ag.summary()


def test_push_stays_off_when_the_concat_has_another_reader():
    """A Concat also read by something else stays: moving the op would not free it."""
    inp = keras.Input((6, 6, 2))
    a, b = L.Conv2D(3, 1)(inp), L.Conv2D(4, 1)(inp)
    cat = L.Concatenate()([a, b])
    m = keras.Model(inp, L.Add()([L.Activation("relu")(cat), cat]))
    g = frontend.to_ir(m)
    assert push_through_concat(g) is g                 # nothing moved: the graph comes back as is
