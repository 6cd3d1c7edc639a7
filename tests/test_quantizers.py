"""Quantizers classified by evaluating them (frontend/quantizers.py, frontend/step_fn.py), and
the models that use them exported end to end: host C vs Keras (bits identical at every binary
tensor, floats within verify's tolerance)."""
from __future__ import annotations

import numpy as np
import pytest

import larq2mcu
import model_cases as mc
from larq2mcu.errors import UnsupportedQuantizerError
from larq2mcu.frontend import quantizers as qz
from larq2mcu.frontend.step_fn import analyse, probe_points
from larq2mcu.ops.step import step_ref
from larq2mcu.verify import compare

tf, keras, lq = mc.tf, mc.keras, mc.lq
Q = lq.quantizers
L = keras.layers


def _dorefa(k):
    return Q.DoReFa(k_bit=k, mode="activations")


def renamed_sign(x):
    """A user's sign: the forward pass of ste_sign under another name."""
    return tf.sign(tf.sign(x) + 0.1)


def sign_zero_minus(x):
    """Subtly wrong: sign(0) = −1."""
    return tf.where(x > 0, 1.0, -1.0)


def xnor_weight_scale(x):
    """larq-zoo's XNOR-Net kernel quantizer (larq_zoo/literature/xnornet.py), re-typed here."""
    x = tf.clip_by_value(x, -1, 1)
    alpha = tf.reduce_mean(tf.abs(x), axis=[0, 1, 2], keepdims=True)
    return alpha * Q.ste_sign(x)


def magnitude_aware_sign_unclipped(x):
    """larq-zoo's DoReFa-Net kernel quantizer: sign(x) · mean|x| over the whole tensor."""
    return lq.math.sign(x) * tf.reduce_mean(tf.abs(x))


def clip_by_value_activation(x):
    """larq-zoo's DoReFa-Net activation."""
    return tf.clip_by_value(x, 0, 1)


# ------------------------------------------------------------------ classification
EVERY_LARQ = {                      # every quantizer of larq 0.14.0, and what it is
    "SteSign": (Q.SteSign(), "sign"), "ApproxSign": (Q.ApproxSign(), "sign"), "SwishSign": (Q.SwishSign(), "sign"),
    "ste_sign": (Q.ste_sign, "sign"), "approx_sign": (Q.approx_sign, "sign"), "swish_sign": (Q.swish_sign, "sign"),
    "SteSign_clip3": (Q.SteSign(clip_value=3.0), "sign"),
    "SteTern": (Q.SteTern(), "step"), "ste_tern": (Q.ste_tern, "step"),
    "SteHeaviside": (Q.SteHeaviside(), "step"), "ste_heaviside": (Q.ste_heaviside, "step"),
    "DoReFa1": (_dorefa(1), "step"), "DoReFa2": (_dorefa(2), "step"), "DoReFa4": (_dorefa(4), "step"),
    "DoReFa8": (_dorefa(8), "step"),
    "NoOp": (Q.NoOp(precision=1), "identity"), "None": (None, "identity"),
    "MagnitudeAwareSign": (Q.MagnitudeAwareSign(), "other"),          # a reduction over the tensor
    "DoReFa_weights": (Q.DoReFa(k_bit=2, mode="weights"), "other"),    # a max over the tensor
    "SteTern_twn": (Q.SteTern(ternary_weight_networks=True), "other"),
    "renamed_sign": (renamed_sign, "sign"),
    "sign_zero_minus": (sign_zero_minus, "step"),
    "clip01": (clip_by_value_activation, "clip"),
    "tanh": (tf.tanh, "other"),
}


def test_every_larq_quantizer_is_listed():
    classes = {n for n in dir(Q) if not n.startswith("_") and isinstance(getattr(Q, n), type)
               and issubclass(getattr(Q, n), Q.Quantizer)}
    listed = {type(q).__name__ for q, _ in EVERY_LARQ.values()}
    assert classes - {"Quantizer", "DoReFaQuantizer", "NoOpQuantizer"} <= listed   # the two aliases


@pytest.mark.parametrize("name", sorted(EVERY_LARQ))
def test_classification(name):
    q, want = EVERY_LARQ[name]
    f = qz.found(q)
    got = "sign" if qz.is_sign(q) else f.kind
    assert got == want, f"{name}: {f}"
    if f.kind == "step":                         # the found step reproduces q on fresh values
        x = np.random.default_rng(5).normal(0, 2, 4000).astype(np.float32)
        x = np.concatenate([x, f.breakpoints, np.nextafter(f.breakpoints, np.float32(-np.inf)),
                            np.float32([0.0, -0.0])]).astype(np.float32)
        y = np.asarray(q(x.reshape(-1, 1)), np.float32).reshape(-1) + np.float32(0)   # −0.0 → +0.0
        assert np.array_equal(y.view(np.uint32), step_ref(x, f.breakpoints, f.levels).view(np.uint32))


def test_step_details():
    f = qz.found(_dorefa(2))
    assert np.allclose(f.levels, [0, 1 / 3, 2 / 3, 1]) and f.breakpoints.size == 3
    t = qz.found(Q.SteTern(threshold_value=0.25))
    assert list(t.levels) == [-1.0, 0.0, 1.0] and np.allclose(t.breakpoints, [-0.25, 0.25])
    h = qz.found(Q.SteHeaviside())
    assert list(h.levels) == [0.0, 1.0] and 0 < h.breakpoints[0] <= np.finfo(np.float32).tiny
    z = qz.found(sign_zero_minus)                # +1 only from the smallest positive float on
    assert list(z.levels) == [-1.0, 1.0] and z.breakpoints[0] > 0 and not qz.is_sign(sign_zero_minus)
    assert qz.is_binary(sign_zero_minus)


def test_cached_per_object_or_larq_config():
    q = Q.SteTern(threshold_value=0.125)
    assert qz.found(q) is qz.found(q) is qz.found(Q.SteTern(threshold_value=0.125))      # same config
    assert qz.found(Q.SteTern(threshold_value=0.25)) is not qz.found(q)
    assert qz.found(Q.SteTern(threshold_value=0.25)).breakpoints[1] == np.float32(0.25)
    f1, f2 = (lambda x: tf.sign(x)), (lambda x: tf.sign(x))                                # functions: per object
    assert qz.found(f1) is qz.found(f1) and qz.found(f1) is not qz.found(f2)


def test_probes_are_deterministic():
    assert np.array_equal(probe_points(), probe_points())
    assert analyse(_dorefa(3)).breakpoints.tobytes() == analyse(_dorefa(3)).breakpoints.tobytes()


def _kernel_layer(kq, shape=(3, 3, 4, 5)):
    layer = lq.layers.QuantConv2D(shape[-1], shape[:2], input_quantizer="ste_sign", kernel_quantizer=kq)
    layer.build((None, 8, 8, shape[2]))
    layer.kernel.assign(np.random.default_rng(0).uniform(-1.2, 1.2, shape).astype(np.float32))
    return layer


@pytest.mark.parametrize("kq,scaled", [("ste_sign", False), (Q.MagnitudeAwareSign(), True),
                                       (xnor_weight_scale, True), (magnitude_aware_sign_unclipped, True)])
def test_kernel_sign_times_scale(kq, scaled):
    layer = _kernel_layer(kq)
    k = qz.kernel(layer)
    assert k.binary and (k.scale is not None) == scaled
    w = layer.kernel.numpy()
    assert np.array_equal(k.signs, np.where(w < 0, -1, 1))
    if scaled:
        qw = np.asarray(qz.resolve(kq)(w), np.float32)
        assert np.array_equal(k.signs * k.scale, qw) and np.all(k.scale > 0)


def test_kernel_other_is_the_float_kernel():
    layer = _kernel_layer(Q.SteTern())
    k = qz.kernel(layer)
    assert not k.binary and set(np.unique(k.values)) <= {-1.0, 0.0, 1.0}


# ------------------------------------------------------------------ errors
def test_non_elementwise_input_quantizer_is_refused():
    m = keras.Sequential([keras.Input((4, 4, 3)), lq.layers.QuantConv2D(
        4, 3, input_quantizer=Q.MagnitudeAwareSign(), kernel_quantizer="ste_sign")])
    with pytest.raises(UnsupportedQuantizerError, match=r"input_quantizer='MagnitudeAwareSign'.*not element-wise"):
        larq2mcu.frontend.to_ir(m)


def test_tanh_activation_quantizer_is_refused_with_what_was_seen():
    m = keras.Sequential([keras.Input((6,)), lq.layers.QuantDense(3, input_quantizer=lambda x: tf.tanh(x) * 2,
                                                                  kernel_quantizer="ste_sign")])
    with pytest.raises(UnsupportedQuantizerError, match="not monotone") as e:
        larq2mcu.frontend.to_ir(m)
    assert "ste_tern" in str(e.value)


# ------------------------------------------------------------------ end to end
def _bn(**kw):
    return L.BatchNormalization(**kw)


def _latent_uniform(m, seed):
    """Latent kernels uniform in [−1, 1]: α = mean|W| ≈ 0.5, so BN statistics in accumulator units cross."""
    r = np.random.default_rng(seed)
    for layer in m.layers:
        if hasattr(layer, "kernel"):
            layer.kernel.assign(r.uniform(-1, 1, layer.kernel.shape).astype(np.float32))


def scaled_model(kq):
    """Bi-Real / XNOR style: scaled binary kernels, then BN → sign, pools, a scaled dense output
    with no BN after it (the float epilogue acc·α + bias)."""
    kw = dict(input_quantizer="ste_sign", kernel_quantizer=kq)
    return mc._seq((9, 9, 3), [
        L.Conv2D(16, 3, padding="same"), _bn(),
        lq.layers.QuantConv2D(24, 3, padding="same", pad_values=1.0, use_bias=False, **kw), _bn(),
        L.MaxPooling2D(2),
        lq.layers.QuantConv2D(20, 3, padding="valid", use_bias=True, **kw), L.MaxPooling2D(2), _bn(),
        lq.layers.QuantConv2D(12, 1, use_bias=True, **kw),          # no BN: float output scale
        L.Flatten(), lq.layers.QuantDense(10, input_quantizer="ste_sign",
                                          kernel_quantizer=Q.MagnitudeAwareSign(), use_bias=True),
        L.Activation("softmax")])


def step_model(iq):
    """Multi-level input quantizers feeding float convs/dense (±1, ±α and ternary kernels)."""
    return mc._seq((8, 8, 3), [
        L.Conv2D(8, 3, padding="same"), _bn(),
        lq.layers.QuantConv2D(10, 3, padding="same", input_quantizer=iq, kernel_quantizer="ste_sign"), _bn(),
        lq.layers.QuantConv2D(12, 3, strides=2, input_quantizer=iq, kernel_quantizer=magnitude_aware_sign_unclipped,
                              use_bias=False), _bn(),
        L.Flatten(), lq.layers.QuantDense(16, input_quantizer=iq, kernel_quantizer=Q.SteTern()), _bn(),
        L.Activation(clip_by_value_activation), L.Dense(5), L.Activation("softmax")])


def _run(m, tmp_path, name, n=48, seed=3, variant="ref"):
    from larq2mcu.dev import zoo
    _latent_uniform(m, seed)
    zoo.randomize_bn(m, seed=seed)
    x = mc.inputs(m, n, seed=seed)
    exp = larq2mcu.export(m, tmp_path / name, name=name, kernel_variant=variant)
    ag = compare(exp, exp.build_host(), x)
    assert ag.ok, ag.summary()
    return exp, ag


@pytest.mark.parametrize("kq", ["magnitude_aware_sign", "xnor"])
def test_scaled_binary_end_to_end(kq, tmp_path):
    keras.utils.set_random_seed(1)
    m = scaled_model(Q.MagnitudeAwareSign() if kq == "magnitude_aware_sign" else xnor_weight_scale)
    exp, ag = _run(m, tmp_path, "sc_" + kq)
    binary = [op for op in exp.graph.ops if type(op).__name__ in ("BinaryConv2D", "BinaryDense")]
    assert len(binary) == 4 and ag.bit_tensors
    assert any(op.scale is not None and op.threshold is None for op in binary)      # the float epilogue
    assert sum(op.threshold is not None for op in binary) >= 2                        # folded thresholds


@pytest.mark.parametrize("variant", ["hs", "clz"])
def test_scaled_binary_optimized_variants(variant, tmp_path):
    """The unscaled dot of a specialised / bit-sliced engine, then the scale epilogue."""
    keras.utils.set_random_seed(1)
    _run(scaled_model(xnor_weight_scale), tmp_path, "scv_" + variant, n=24, variant=variant)


@pytest.mark.parametrize("iq", ["ste_tern", "dorefa2", "ste_heaviside", "sign_zero_minus"])
def test_step_input_quantizers_end_to_end(iq, tmp_path):
    keras.utils.set_random_seed(2)
    q = {"ste_tern": Q.SteTern(threshold_value=0.3), "dorefa2": _dorefa(2), "ste_heaviside": Q.SteHeaviside(),
         "sign_zero_minus": sign_zero_minus}[iq]
    exp, ag = _run(step_model(q), tmp_path, "st_" + iq)
    kinds = [type(op).__name__ for op in exp.graph.ops]
    assert "StepQuantize" in kinds and "Clip" in kinds


def test_quantizer_layers_end_to_end(tmp_path):
    """Quantizers used as layers: DoReFa as a layer, a renamed sign as an Activation (→ bits)."""
    keras.utils.set_random_seed(4)
    m = mc._seq((6, 6, 2), [_dorefa(3), L.Conv2D(8, 3), _bn(), L.Activation(renamed_sign),
                            lq.layers.QuantConv2D(6, 3, kernel_quantizer="ste_sign"), _bn(), L.Flatten(),
                            L.Dense(4)])
    exp, ag = _run(m, tmp_path, "ql")
    assert ag.bit_tensors and any(type(op).__name__ == "BinaryConv2D" for op in exp.graph.ops)


def xnornet_mini():
    """larq-zoo XNORNet's structure (literature/xnornet.py) at 16×16: float stem, BN(scale=False),
    ste_sign inputs, xnor_weight_scale kernels, max pools between the conv and its BN."""
    kw = dict(input_quantizer="ste_sign", kernel_quantizer=xnor_weight_scale, kernel_constraint="weight_clip",
              use_bias=False)
    return mc._seq((16, 16, 3), [
        L.Conv2D(12, 5, strides=2, padding="same", use_bias=False), _bn(scale=False, epsilon=1e-5),
        L.Activation("relu"), L.MaxPool2D(3, 2), _bn(scale=False, epsilon=1e-4),
        lq.layers.QuantConv2D(16, 3, padding="same", **kw), L.MaxPool2D(3, 2), _bn(scale=False, epsilon=1e-4),
        lq.layers.QuantConv2D(16, 1, padding="valid", **kw), _bn(scale=False, epsilon=1e-3),
        L.Activation("relu"), L.Flatten(), L.Dense(10, use_bias=False), L.Activation("softmax")])


def dorefanet_mini():
    """larq-zoo DoReFaNet's structure (literature/dorefanet.py) at 16×16: DoReFa 2-bit inputs,
    magnitude_aware_sign_unclipped kernels, BN(scale=False), clip_by_value_activation, float head."""
    kw = dict(input_quantizer=Q.DoReFaQuantizer(k_bit=2), kernel_quantizer=magnitude_aware_sign_unclipped,
              use_bias=False)
    return mc._seq((16, 16, 3), [
        L.Conv2D(12, 4, strides=2, padding="valid"),
        lq.layers.QuantConv2D(16, 3, padding="same", **kw), _bn(scale=False, epsilon=1e-4),
        L.MaxPool2D(3, 2, padding="same"),
        lq.layers.QuantConv2D(16, 3, padding="same", **kw), _bn(scale=False, epsilon=1e-4), L.Flatten(),
        lq.layers.QuantDense(32, **kw), _bn(scale=False, epsilon=1e-4),
        L.Activation(clip_by_value_activation), L.Dense(10), L.Activation("softmax")])


@pytest.mark.parametrize("arch", ["xnornet", "dorefanet"])
def test_zoo_style_architectures(arch, tmp_path):
    keras.utils.set_random_seed(6)
    exp, ag = _run({"xnornet": xnornet_mini, "dorefanet": dorefanet_mini}[arch](), tmp_path, "zoo_" + arch)
    kinds = {type(op).__name__ for op in exp.graph.ops}
    if arch == "xnornet":
        assert ag.bit_tensors and "BinaryConv2D" in kinds
    else:
        assert {"StepQuantize", "Clip"} <= kinds
