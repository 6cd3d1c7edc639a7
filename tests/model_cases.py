"""Small Keras/Larq models covering every supported layer, shared by the reference, pass and
end-to-end tests. Every BatchNormalization gets random statistics (γ<0, γ=0, never-crossing
channels) via zoo.randomize_bn — tests never run on initial statistics."""
from __future__ import annotations

import numpy as np

from larq2mcu._tf import tf_modules

tf, keras, lq = tf_modules()
L = keras.layers
BIN = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")


def _seq(shape, layers):
    return keras.Sequential([keras.Input(shape)] + layers)


def conv_stack(pad=1.0, stride=1, padding="same", bias=False, c_in=3, c_mid=33, quant="ste_sign"):
    kw = dict(BIN, input_quantizer=quant, kernel_quantizer=quant)
    return _seq((9, 7, c_in), [
        lq.layers.QuantConv2D(c_mid, 3, kernel_quantizer=quant, kernel_constraint="weight_clip", use_bias=bias,
                              padding=padding, pad_values=pad),
        L.BatchNormalization(), L.MaxPooling2D(2, padding="same"),
        lq.layers.QuantConv2D(31, 3, strides=stride, padding=padding, pad_values=pad, use_bias=bias, **kw),
        L.BatchNormalization(),
        lq.layers.QuantConv2D(5, 1, use_bias=bias, **kw), L.BatchNormalization(),
        L.Flatten(), lq.layers.QuantDense(10, use_bias=bias, **BIN), L.BatchNormalization(), L.Activation("softmax")])


def dense_mix():
    """Float-in/binary-weight, binary/binary, binary-in/float-weight dense layers."""
    return _seq((40,), [
        lq.layers.QuantDense(33, kernel_quantizer="ste_sign", kernel_constraint="weight_clip"),
        L.BatchNormalization(),
        lq.layers.QuantDense(64, **BIN), L.BatchNormalization(),
        lq.layers.QuantDense(17, input_quantizer="ste_sign", kernel_quantizer=None), L.Activation("tanh"),
        L.Dense(6, activation="sigmoid")])


def pooling_mix():
    return _seq((11, 11, 4), [
        lq.quantizers.SteSign(),
        lq.layers.QuantConv2D(8, 3, padding="same", pad_values=0.0, **BIN),
        L.MaxPooling2D(3, strides=2, padding="valid"),        # max pool *before* BN (γ<0 → OR)
        L.BatchNormalization(),
        lq.layers.QuantConv2D(12, 2, padding="valid", **BIN), L.BatchNormalization(),
        L.AveragePooling2D(2, padding="same"),
        lq.layers.QuantConv2D(6, 3, padding="same", pad_values=1.0, **BIN),
        L.ReLU(), L.GlobalAveragePooling2D(), L.Dense(4), L.Softmax()])


def seed_mixed():
    """The seed paper: image binarized, two binary 3x3 valid convs, avg-pool + re-binarize,
    flatten 576, dense 120 sigmoid, dense 10 softmax."""
    from larq2mcu.dev import zoo
    return zoo.seed_mixed_cnn()


def bireal_add():
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(16, 3, padding="same", use_bias=False)(inp)
    x = L.BatchNormalization()(x)
    for stride in (1, 2):
        y = lq.layers.QuantConv2D(16, 3, strides=stride, padding="same", pad_values=1.0, use_bias=False, **BIN)(x)
        y = L.BatchNormalization()(y)
        sc = x if stride == 1 else L.AveragePooling2D(2)(x)
        x = L.Add()([sc, y])
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(5, activation="softmax")(x))


def densenet_concat():
    inp = keras.Input((7, 7, 2))
    x = lq.layers.QuantConv2D(8, 3, padding="same", kernel_quantizer="ste_sign", use_bias=False)(inp)
    x = L.BatchNormalization()(x)
    for _ in range(2):
        y = lq.layers.QuantConv2D(5, 3, padding="same", pad_values=1.0, use_bias=False, **BIN)(x)
        y = L.BatchNormalization()(y)
        x = L.Concatenate()([x, y])
    b = lq.quantizers.SteSign()(x)
    b2 = lq.quantizers.SteSign()(L.MaxPooling2D(2)(x))
    x = L.Concatenate()([L.MaxPooling2D(2)(b), b2])            # concatenation of bit maps
    x = L.Flatten()(x)
    x = lq.layers.QuantDense(7, **BIN)(x)
    return keras.Model(inp, L.Activation("softmax")(L.BatchNormalization()(x)))


def reshape_mix():
    return _seq((6, 6, 2), [
        lq.quantizers.ApproxSign(),
        lq.layers.QuantConv2D(9, 3, input_quantizer="approx_sign", kernel_quantizer="swish_sign", use_bias=True),
        L.BatchNormalization(), L.Reshape((4, 36)), lq.quantizers.SteSign(), L.Reshape((144,)),
        L.Dropout(0.3), lq.layers.QuantDense(5, **BIN), L.Activation("relu"), L.Dense(3)])


CASES = {
    "conv_pad1_s1": lambda: conv_stack(1.0, 1),
    "conv_pad0_s2": lambda: conv_stack(0.0, 2),
    "conv_valid_bias": lambda: conv_stack(0.0, 1, "valid", bias=True, c_in=1, c_mid=32),
    "conv_approx_c64": lambda: conv_stack(1.0, 2, c_in=2, c_mid=64, quant="approx_sign"),
    "dense_mix": dense_mix,
    "pooling_mix": pooling_mix,
    "seed_mixed": seed_mixed,
    "bireal_add": bireal_add,
    "densenet_concat": densenet_concat,
    "reshape_mix": reshape_mix,
}


def build(case: str, seed: int = 0):
    from larq2mcu.dev import zoo
    keras.utils.set_random_seed(seed)
    m = CASES[case]()
    zoo.randomize_bn(m, seed=seed)
    return m


def inputs(model, n=32, seed=0):
    """Random normals plus the awkward values: zeros, −0.0, large magnitudes."""
    r = np.random.default_rng(seed)
    shape = (max(n, 4),) + tuple(model.input_shape[1:])
    x = r.normal(size=shape).astype(np.float32)
    x[0] = 0.0
    x[1] = -0.0
    x[2] = 1e4 * np.sign(x[2])
    x[3] = np.where(r.random(shape[1:]) < 0.5, -0.0, 0.0)
    return x[:n]
