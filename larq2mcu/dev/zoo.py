"""Standard Larq/Keras models for tests, examples, benchmarks and the demo.

Every builder returns an *uncompiled* tf_keras Model and takes `input_shape` and `num_classes`.
Inputs are expected in [-1, 1] (`datasets.preprocess(x, "sym")`): binarized inputs use sign with
sign(0) = +1, so [0, 1]-scaled images would binarize to all +1.

The builders deliberately cover the layer kinds the exporter must handle: float first conv,
binary convs with pad_values=1.0 ("same") and valid padding, strides, max/average pooling
(including average pooling with "same" padding, whose divisor excludes the padding), BN with and
without scale, Add and Concatenate shortcuts, global average pooling, QuantDense with binary or
float weights, float Dense heads, sigmoid and softmax.
"""
from __future__ import annotations

import numpy as np

from .._tf import tf_modules


# Binary input + binary weights, the usual BNN layer arguments (Courbariaux et al. 2016).
def _bin_kw(lq, clip: float = 1.0) -> dict:
    q = lq.quantizers.SteSign(clip_value=clip) if clip != 1.0 else "ste_sign"
    return dict(input_quantizer=q, kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
                use_bias=False)


def mnist_bnn(input_shape=(28, 28, 1), num_classes: int = 10):
    """Courbariaux-style BNN (Sequential): float-input binary-weight conv 32 → BN → MaxPool →
    binary conv 64 (same, pad 1.0, sign clip 0.5) → BN → MaxPool → Flatten → binary Dense 128 →
    BN → binary Dense num_classes → BN → softmax. All BN have scale=False."""
    tf, keras, lq = tf_modules()
    L = keras.layers
    kw = _bin_kw(lq)
    return keras.Sequential([
        keras.Input(tuple(input_shape)),
        # First layer: real-valued pixels, binary weights (no input quantizer).
        lq.layers.QuantConv2D(32, 3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
                              use_bias=False),
        L.BatchNormalization(scale=False), L.MaxPool2D(2),
        lq.layers.QuantConv2D(64, 3, padding="same", pad_values=1.0, **_bin_kw(lq, 0.5)),
        L.BatchNormalization(scale=False), L.MaxPool2D(2),
        L.Flatten(),
        lq.layers.QuantDense(128, **kw), L.BatchNormalization(scale=False),
        lq.layers.QuantDense(num_classes, **kw), L.BatchNormalization(scale=False),
        L.Activation("softmax"),
    ], name="mnist_bnn")


def seed_mixed_cnn(input_shape=(28, 28, 1), num_classes: int = 10, filters: int = 16):
    """The seed paper's mixed binary/float net (Sequential).

    sign(image) → binary conv 3×3 (16, valid, bias) → AvgPool 2 → sign → binary conv 3×3 (16,
    valid, bias) → AvgPool 2 (padding "same") → sign → Flatten → Dense 120 sigmoid (float weights
    on the binary vector: QuantDense with input_quantizer=ste_sign, kernel_quantizer=None) →
    Dense num_classes softmax (float).

    Shapes for 28×28: 28 →conv 26 →pool 13 →conv 11 →pool(same) 6; 6·6·16 = 576 flattened
    values, as in the paper (a valid pool would give 5·5·16 = 400). Each binarization is the
    next layer's input_quantizer; the biases act as learned thresholds since there is no BN.
    """
    tf, keras, lq = tf_modules()
    L = keras.layers
    conv = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                kernel_constraint="weight_clip", use_bias=True, padding="valid")
    return keras.Sequential([
        keras.Input(tuple(input_shape)),
        lq.layers.QuantConv2D(filters, 3, **conv),
        L.AveragePooling2D(2),
        lq.layers.QuantConv2D(filters, 3, **conv),
        L.AveragePooling2D(2, padding="same"),
        L.Flatten(),
        lq.layers.QuantDense(120, input_quantizer="ste_sign", kernel_quantizer=None,
                             activation="sigmoid"),
        L.Dense(num_classes, activation="softmax"),
    ], name="seed_mixed_cnn")


def _bin_conv_bn(lq, L, x, filters: int, strides: int = 1, kernel: int = 3):
    """sign(x) → binary conv (same, pad 1.0) → BN (scale=True)."""
    y = lq.layers.QuantConv2D(filters, kernel, strides=strides, padding="same", pad_values=1.0,
                              **_bin_kw(lq))(x)
    return L.BatchNormalization()(y)


def _float_stem(L, inp, filters: int):
    x = L.Conv2D(filters, 3, padding="same", use_bias=False)(inp)
    return L.BatchNormalization()(x)


def bireal_tiny(input_shape=(28, 28, 1), num_classes: int = 10, filters: int = 16):
    """Bi-Real-Net style (Functional): float conv stem → BN → 2 blocks x + BN(bconv(sign x)) →
    stride-2 block AvgPool2(x) + BN(bconv_s2(sign x)) → 1 block → GlobalAveragePooling → Dense
    softmax. H and W must be even (the shortcut pool is valid, the stride-2 conv is same)."""
    tf, keras, lq = tf_modules()
    L = keras.layers
    inp = keras.Input(tuple(input_shape))
    x = _float_stem(L, inp, filters)
    for _ in range(2):
        x = L.Add()([x, _bin_conv_bn(lq, L, x, filters)])
    x = L.Add()([L.AveragePooling2D(2)(x), _bin_conv_bn(lq, L, x, filters, strides=2)])
    x = L.Add()([x, _bin_conv_bn(lq, L, x, filters)])
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inp, out, name="bireal_tiny")


def densenet_tiny(input_shape=(28, 28, 1), num_classes: int = 10, growth: int = 16,
                  stem: int = 16):
    """BinaryDenseNet style (Functional): float stem → 2 dense layers x = Concat([x, BN(bconv(
    sign x))]) → transition MaxPool 2 → binary 1×1 conv to halve channels → BN → 2 dense layers
    → GlobalAveragePooling → Dense softmax."""
    tf, keras, lq = tf_modules()
    L = keras.layers
    inp = keras.Input(tuple(input_shape))
    x = _float_stem(L, inp, stem)
    for _ in range(2):
        x = L.Concatenate()([x, _bin_conv_bn(lq, L, x, growth)])
    x = L.MaxPool2D(2)(x)
    x = _bin_conv_bn(lq, L, x, (stem + 2 * growth) // 2, kernel=1)
    for _ in range(2):
        x = L.Concatenate()([x, _bin_conv_bn(lq, L, x, growth)])
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inp, out, name="densenet_tiny")


def cifar_bnn(input_shape=(32, 32, 3), num_classes: int = 10):
    """Small 32×32×3 BNN (Sequential): binary-weight conv 32 on float input → BN → binary conv 64
    stride 2 → BN → binary conv 64 stride 2 → BN → Flatten (8·8·64) → binary Dense 128 → BN →
    float Dense num_classes softmax."""
    tf, keras, lq = tf_modules()
    L = keras.layers
    kw = _bin_kw(lq)
    return keras.Sequential([
        keras.Input(tuple(input_shape)),
        lq.layers.QuantConv2D(32, 3, padding="same", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip", use_bias=False),
        L.BatchNormalization(scale=False),
        lq.layers.QuantConv2D(64, 3, strides=2, padding="same", pad_values=1.0, **kw),
        L.BatchNormalization(scale=False),
        lq.layers.QuantConv2D(64, 3, strides=2, padding="same", pad_values=1.0, **kw),
        L.BatchNormalization(scale=False),
        L.Flatten(),
        lq.layers.QuantDense(128, **kw), L.BatchNormalization(),
        L.Dense(num_classes, activation="softmax"),
    ], name="cifar_bnn")


BUILDERS = {f.__name__: f for f in (mnist_bnn, seed_mixed_cnn, bireal_tiny, densenet_tiny,
                                    cifar_bnn)}


# ------------------------------------------------------------------------------ BN statistics
def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:  # nested Model / Sequential
            yield from _all_layers(layer)
        else:
            yield layer


def _fan_in(model, layer) -> int:
    """Accumulator length K of the layer feeding `layer` (kernel size × input channels), so the
    random means land where a ±1 accumulator in [-K, K] actually lives; 1 when unknown."""
    try:
        src = layer.inbound_nodes[0].inbound_layers
    except (AttributeError, IndexError):
        src = None
    if isinstance(src, (list, tuple)):
        src = src[0] if len(src) == 1 else None
    if src is None:  # fall back to the previous layer in order
        layers = list(model.layers)
        i = layers.index(layer) if layer in layers else 0
        src = layers[i - 1] if i > 0 else None
    kernel = getattr(src, "kernel", None)
    if kernel is None and getattr(src, "depthwise_kernel", None) is not None:
        return max(1, int(np.prod(src.depthwise_kernel.shape[:2])))     # per channel: kh·kw taps
    if kernel is None:
        return 1
    return max(1, int(np.prod(kernel.shape[:-1])))


def randomize_bn(model, seed: int = 0):
    """Overwrite every BatchNormalization's statistics and affine parameters with random values,
    so tests never run on the init statistics (mean 0, variance 1, gamma 1, beta 0) where many
    folding bugs cancel out. Per layer with C channels and fan-in K of the feeding layer:

    * moving_mean ~ N(0, sqrt(K)) (where ±1 accumulators live); ~10 % of channels (at least one
      when C ≥ 4) get |mean| = 1e4..1e5, beyond any accumulator here: never-crossing channels.
    * moving_variance = K·lognormal > 0; ~10 % tiny (1e-6, below epsilon) and ~10 % huge (1e6).
    * gamma (when scale=True): |N(1, 0.5)| with ~25 % negated and ~10 % exactly 0; at least one
      negative and one zero per layer when C ≥ 3.
    * beta (when center=True): N(0, 1).

    Deterministic in `seed`. Returns the model (modified in place).
    """
    rng = np.random.default_rng(seed)
    tf, keras, lq = tf_modules()
    for layer in _all_layers(model):
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        c = int(layer.moving_mean.shape[-1])
        k = _fan_in(model, layer)
        mean = rng.normal(0.0, np.sqrt(k), c)
        far = rng.random(c) < 0.1
        if c >= 4 and not far.any():
            far[rng.integers(c)] = True
        mean[far] = rng.choice([-1.0, 1.0], far.sum()) * rng.uniform(1e4, 1e5, far.sum())
        var = k * np.exp(rng.normal(0.0, 1.0, c))
        u = rng.random(c)
        var[u < 0.1] = 1e-6
        var[u > 0.9] = 1e6
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(var.astype(np.float32))
        if layer.gamma is not None:
            gamma = np.abs(rng.normal(1.0, 0.5, c)) + 0.05
            gamma[rng.random(c) < 0.25] *= -1.0
            gamma[rng.random(c) < 0.1] = 0.0
            if c >= 3:
                i, j = rng.choice(c, 2, replace=False)
                gamma[i] = -abs(gamma[i]) if gamma[i] != 0 else -0.5
                gamma[j] = 0.0
            layer.gamma.assign(gamma.astype(np.float32))
        if layer.beta is not None:
            layer.beta.assign(rng.normal(0.0, 1.0, c).astype(np.float32))
    return model


# ------------------------------------------------------------------------------------ training
def train(model, x, y, epochs: int = 1, batch_size: int = 64, verbose: int = 0, seed: int = 0,
          **fit_kwargs):
    """Compile (Adam, sparse_categorical_crossentropy, accuracy) and fit with
    `keras.utils.set_random_seed(seed)` (Python, NumPy and TF seeds), shuffling per epoch.

    `x` must already be preprocessed (float32 NHWC, see datasets.preprocess). The seed fixes the
    batch order; the weights were initialised when the model was built, so call
    `keras.utils.set_random_seed` before building for a repeatable init. TF's multi-threaded CPU
    kernels may still differ in the last float bits between runs. Returns the keras History."""
    tf, keras, lq = tf_modules()
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=verbose, shuffle=True,
                     **fit_kwargs)
