"""1-D pooling (MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D) runs as
the H = 1 2-D pool tf-keras itself computes: C == Keras (binary tensors bit for bit) on float and
bit maps, valid / same padding, strides, odd widths, keepdims; a max pool on bits stays in bits."""
from __future__ import annotations

import pytest

import larq2mcu
import model_cases as mc
from larq2mcu import ir
from larq2mcu.dev import zoo
from larq2mcu.errors import UnsupportedLayerError
from larq2mcu.verify import compare

L, lq, keras = mc.L, mc.lq, mc.keras


def kws_net():
    """A keyword-spotting-style 1-D BNN with every 1-D pool: float stem → AvgPool1D(same) →
    binary conv → BN + sign → MaxPool1D on bits → binary conv → MaxPool1D(same, stride 2) on
    floats → GlobalMaxPooling1D ‖ GlobalAveragePooling1D → Dense."""
    inp = keras.Input((29, 3))
    x = L.Conv1D(8, 5, padding="same")(inp)
    x = L.AveragePooling1D(3, strides=2, padding="same")(x)          # 15
    x = L.BatchNormalization()(x)
    x = lq.layers.QuantConv1D(33, 3, padding="same", pad_values=1.0, **mc.BIN)(x)
    x = L.BatchNormalization()(x)
    x = lq.quantizers.SteSign()(x)
    x = L.MaxPooling1D(2)(x)                                          # 7, on bits
    x = lq.layers.QuantConv1D(16, 3, **mc.BIN)(x)                     # 5, float out
    x = L.MaxPooling1D(3, strides=2, padding="same")(x)               # 3
    x = L.BatchNormalization()(x)
    a = L.GlobalMaxPooling1D()(x)
    b = L.GlobalAveragePooling1D(keepdims=True)(x)
    y = L.Concatenate()([a, L.Flatten()(b)])
    return keras.Model(inp, L.Dense(4)(y))


def test_pool1d_matches_keras(tmp_path):
    keras.utils.set_random_seed(11)
    m = zoo.randomize_bn(kws_net(), seed=11)
    x = mc.inputs(m, 40, seed=11)
    exp = larq2mcu.export(m, tmp_path / "o", name="p1")
    kinds = [type(op).__name__ for op in exp.graph.ops]
    assert "BinaryMaxPool2D" in kinds and "AvgPool2D" in kinds and "MaxPool2D" in kinds and "GlobalAvgPool" in kinds
    ag = compare(exp, exp.build_host(), x)
    assert ag.ok, ag.summary()
    assert ag.bit_tensors and all(n == 0 for n, _, _ in ag.bit_tensors.values())


def test_global_max_on_bits_stays_bits(tmp_path):
    m = mc._seq((9, 4), [lq.quantizers.SteSign(), L.GlobalMaxPooling1D(), lq.layers.QuantDense(3, **mc.BIN)])
    exp = larq2mcu.export(m, tmp_path / "o", name="g1")
    pools = [op for op in exp.graph.ops if isinstance(op, ir.BinaryMaxPool2D)]
    assert len(pools) == 1 and exp.graph.tensors[pools[0].output].dtype == ir.BITS
    ag = compare(exp, exp.build_host(), mc.inputs(m, 20, seed=3))
    assert ag.ok, ag.summary()


def test_pool1d_refuses_channels_first(tmp_path):
    with pytest.raises(UnsupportedLayerError, match="data_format"):
        larq2mcu.export(mc._seq((6, 2), [L.MaxPooling1D(2, data_format="channels_first")]), tmp_path / "o", name="x")
    assert not (tmp_path / "o").exists()
