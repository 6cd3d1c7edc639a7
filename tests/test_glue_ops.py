"""The glue layers (ZeroPadding2D, ReLU variants, LeakyReLU, PReLU, Multiply/Subtract/Maximum/
Minimum/Average with broadcasting, GlobalMaxPooling2D, TFOpLambda operators): the numpy oracle
equals Keras float32 exactly, and the exported C built on the host equals the oracle exactly
(the models here have no dot product, so there is no summation order to differ); next to binary
convs, bits are identical at every binary tensor and the pad folds into the conv."""
from __future__ import annotations

import numpy as np
import pytest

import kernel_harness as H
import larq2mcu
import model_cases as mc
from larq2mcu import frontend, ir, reference, rounding
from larq2mcu.dev import zoo
from larq2mcu.errors import UnsupportedLayerError
from larq2mcu.passes import run_pipeline
from larq2mcu.verify import compare

tf, keras, lq, L = mc.tf, mc.keras, mc.lq, mc.L
SHAPE = (5, 7)


def _model(c, body):
    inp = keras.Input(SHAPE + (c,))
    return keras.Model(inp, body(inp))


def _rand_prelu(shared):
    return L.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.7, 1.5), shared_axes=shared)


def _gap(x):
    return L.GlobalMaxPooling2D(keepdims=True)(x)   # exact (a mean has a summation order)


CASES = {
    "zeropad": lambda x: L.ZeroPadding2D(((1, 2), (0, 3)))(x),
    "relu6": lambda x: L.ReLU(max_value=6.0)(x * 4.0),
    "relu_threshold": lambda x: L.ReLU(threshold=0.5)(x),
    "relu_threshold_max": lambda x: L.ReLU(max_value=2.5, threshold=0.3)(x),
    "relu_all": lambda x: L.ReLU(max_value=2.5, negative_slope=0.1, threshold=0.3)(x),
    "relu_slope_threshold": lambda x: L.ReLU(negative_slope=0.2, threshold=0.7)(x),
    "relu_slope_max": lambda x: L.ReLU(negative_slope=0.3, max_value=1.5)(x),
    "leaky": lambda x: L.LeakyReLU(0.3)(x),
    "act_strings": lambda x: L.Activation("leaky_relu")(L.Activation("relu6")(x * 3.0) - 2.0),
    "prelu_channel": lambda x: _rand_prelu([1, 2])(x),
    "prelu_full": lambda x: _rand_prelu(None)(x),
    "prelu_rows": lambda x: _rand_prelu([2])(x),
    "multiply_scale": lambda x: L.Multiply()([x, _gap(x)]),
    "multiply_vector": lambda x: L.Multiply()([L.GlobalMaxPooling2D()(x), x, x]),
    "subtract": lambda x: L.Subtract()([_gap(x), x]),
    "maximum_minimum": lambda x: L.Minimum()([L.Maximum()([x, _gap(x), x * 0.5]), x + 0.25]),
    "add_broadcast": lambda x: L.Add()([x, _gap(x), L.GlobalMaxPooling2D()(x)]),
    "average": lambda x: L.Average()([x, x * 3.0, _gap(x)]),
    "gmp": lambda x: L.GlobalMaxPooling2D()(x),
    "gmp_keepdims": lambda x: L.GlobalMaxPooling2D(keepdims=True)(x) * x,
    "tf_arith": lambda x: ((x + 1.5) * x - 2.0) / 3.0,
    "tf_rsub_rdiv": lambda x: 1.0 - 3 * x + (2.0 / (x * x + 1.0)),
    "tf_tensors": lambda x: tf.math.subtract(x, _gap(x)) * tf.math.multiply(x, 0.1) + tf.math.add(x, x),
    "tf_pad": lambda x: tf.pad(x, [[0, 0], [2, 0], [1, 1], [0, 0]]),
    "tf_pad_channels": lambda x: tf.pad(x, [[0, 0], [0, 1], [0, 0], [1, 2]], constant_values=0.5),
    "tf_relus": lambda x: tf.nn.leaky_relu(tf.nn.relu6(tf.nn.relu(x - 0.2) * 5.0) - 3.0, alpha=0.15),
    "tf_clip_minmax": lambda x: tf.math.minimum(tf.clip_by_value(x, -1.0, 2.0), tf.math.maximum(x, y=0.5)),
    "tf_negative": lambda x: -x * _gap(x),
}


def _keras(m, x):
    return m(x, training=False).numpy()


def _same(a, b):
    """Identical float32 arrays (±0 equal, NaN equal)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_equals_keras(case):
    for c in (1, 3, 33):
        keras.utils.set_random_seed(c)
        m = _model(c, CASES[case])
        x = mc.inputs(m, 24, seed=c)
        g = frontend.to_ir(m)
        assert not any(isinstance(op, ir.Activation) and op.fn not in ("relu", "linear") for op in g.ops)
        y = _keras(m, x)
        assert _same(reference.run(g, x), y), f"{case} C={c}: oracle != Keras"
        assert _same(reference.run(run_pipeline(g), x), y), f"{case} C={c}: passes changed values"
        v, e = rounding.propagate(g, x)[g.outputs[0]]          # the bound covers the float32 result
        assert v.shape == y.shape and np.all(np.abs(y - v) <= e * (1 + 1e-9) + 1e-300), f"{case} C={c}: bound"


def _all_cases(c):
    """Every case as a branch of one model (flattened and concatenated: views and copies, exact),
    so that one host build covers them; returns the model and each branch's (name, size)."""
    inp = keras.Input(SHAPE + (c,))
    outs = [L.Flatten()(CASES[k](inp)) for k in sorted(CASES)]
    return keras.Model(inp, L.Concatenate()(outs)), [(k, int(o.shape[-1])) for k, o in zip(sorted(CASES), outs)]


@pytest.mark.parametrize("c", [1, 3, 33])
def test_c_equals_reference(c, tmp_path):
    keras.utils.set_random_seed(c + 7)
    m, parts = _all_cases(c)
    x = mc.inputs(m, 16, seed=c)
    exp = larq2mcu.export(m, tmp_path / "o", name="glue")
    assert {type(op) for op in exp.graph.ops} >= {ir.Pad, ir.Relu, ir.PRelu, ir.Arith, ir.MaxPool2D}
    y, yk, yr = exp.build_host().predict(x), _keras(m, x), reference.run(exp.graph, x)
    start = 0
    for name, n in parts:
        sl = slice(start, start + n)
        assert _same(y[:, sl], yk[:, sl]), f"{name} C={c}: C != Keras"
        assert _same(y[:, sl], yr[:, sl]), f"{name} C={c}: C != oracle"
        start += n


# ------------------------------------------------------------------------------ the C kernels
def _awkward(shape, seed=0):
    """Normals at three scales with zeros, −0.0, ±inf and the relu parameters themselves."""
    r = np.random.default_rng(seed)
    x = (r.normal(size=shape) * r.choice([1e-3, 1.0, 1e4], shape)).astype(np.float32).reshape(-1)
    special = np.array([0.0, -0.0, np.inf, -np.inf, 0.3, 0.5, 2.5, 6.0, -0.3, 1e-42], np.float32)
    n = min(x.size, special.size)
    x[:n] = special[:n]
    return x.reshape(shape)


def _op(cls, n_in=1, **kw):
    return cls(name="k", inputs=("a", "b")[:n_in], output="y", **kw)


@pytest.mark.parametrize("alpha,threshold,max_value", [(0.0, 0.0, 6.0), (0.2, 0.0, None), (0.0, 0.5, None),
                                                       (0.1, 0.3, 2.5), (0.3, 0.0, 1.5), (0.0, 0.5, 2.5),
                                                       (-0.5, 0.0, None), (0.0, 0.0, None)])
def test_relu_kernel(alpha, threshold, max_value):
    x = _awkward((7, 33))
    expect = reference.run_op(_op(ir.Relu, alpha=alpha, theta=threshold, max_value=max_value), [x[None]], None)
    assert _same(H.relu(x, alpha, threshold, max_value), expect[0].reshape(-1))
    assert _same(H.relu(x, alpha, threshold, max_value, alias=True), expect[0].reshape(-1))     # in place


def test_prelu_and_pad_kernels():
    x = _awkward((5, 7, 33), seed=1)
    r = np.random.default_rng(1)
    for n in (1, 33, x.size):
        alpha = r.normal(size=n).astype(np.float32)
        expect = reference.run_op(_op(ir.PRelu, alpha=alpha), [x[None]], None)[0].reshape(-1)
        assert _same(H.prelu(x, alpha), expect) and _same(H.prelu(x, alpha, alias=True), expect)
    for pads, value in [((1, 2, 0, 3), 0.0), ((0, 0, 4, 0), -1.5), ((3, 3, 3, 3), 0.0)]:
        expect = reference.run_op(_op(ir.Pad, pads=pads, value=value), [x[None]], None)[0]
        assert _same(H.pad(x, pads, value), expect)


@pytest.mark.parametrize("fn", ["add", "sub", "mul", "div", "max", "min"])
def test_arith_kernel(fn):
    from larq2mcu.ops.glue import ARITH
    kind = list(ARITH).index(fn)
    for sa, sb in [((5, 7, 33), (5, 7, 33)), ((5, 7, 33), (1, 1, 33)), ((33,), (5, 7, 33)), ((5, 1, 3), (1, 7, 1)),
                   ((9,), (9,)), ((1, 1, 1), (5, 7, 3))]:
        a, b = _awkward(sa, 2), _awkward(sb, 3)
        out_shape = np.broadcast_shapes(sa, sb)
        t = ir.Tensor("y", out_shape, ir.F32)
        expect = reference.run_op(_op(ir.Arith, 2, fn=fn), [a[None], b[None]], t)[0]
        with np.errstate(invalid="ignore"):
            assert _same(H.arith(kind, a, b, out_shape), expect), (fn, sa, sb)
            if sa == out_shape:
                assert _same(H.arith(kind, a, b, out_shape, alias="a"), expect), (fn, sa, sb)
            if sb == out_shape:
                assert _same(H.arith(kind, a, b, out_shape, alias="b"), expect), (fn, sa, sb)
    a = _awkward((5, 7, 3), 4)
    t = ir.Tensor("y", a.shape, ir.F32)
    for first in (False, True):                 # x fn c and c fn x: the constant is a 1-element array
        expect = reference.run_op(_op(ir.Arith, fn=fn, const=0.1, const_first=first), [a[None]], t)[0]
        k = np.array([0.1], np.float32).reshape(1, 1, 1)
        got = H.arith(kind, k, a, a.shape) if first else H.arith(kind, a, k, a.shape)
        assert _same(got, expect), (fn, first)


# ------------------------------------------------------------------------ next to binary convs
BIN = mc.BIN


def _zp_binary():
    """ZeroPadding2D before 'valid' and 'same'/pad 1 binary convs (folded: pad_one), before a
    'same'/pad 0 conv (not foldable: the pad stays a float Pad), on a bit map and after a BN."""
    inp = keras.Input((7, 5, 3))
    x = lq.layers.QuantConv2D(33, 3, padding="same", kernel_quantizer="ste_sign", use_bias=False)(inp)
    x = L.BatchNormalization()(x)
    x = L.ZeroPadding2D(((1, 0), (2, 1)))(x)
    x = lq.layers.QuantConv2D(31, 3, use_bias=False, **BIN)(x)
    x = L.BatchNormalization()(x)
    x = L.ZeroPadding2D(1)(x)
    x = lq.layers.QuantConv2D(17, 3, padding="same", pad_values=1.0, use_bias=False, **BIN)(x)
    x = L.BatchNormalization()(x)
    s = lq.quantizers.SteSign()(x)
    y = L.ZeroPadding2D(((0, 1), (1, 0)))(s)
    y = lq.layers.QuantConv2D(9, 2, padding="same", pad_values=0.0, use_bias=False, **BIN)(y)
    y = L.BatchNormalization()(y)
    y = L.GlobalMaxPooling2D()(lq.quantizers.SteSign()(y))        # max of ±1 = AND of bits
    return keras.Model(inp, L.Dense(4, activation="softmax")(y))


def _attention_binary():
    """Real-to-Binary style: PReLU, a per-channel scale by Multiply, leaky and relu6 glue."""
    inp = keras.Input((9, 9, 1))
    x = L.Conv2D(8, 3, padding="same")(inp)
    x = L.BatchNormalization()(x)
    x = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, use_bias=False, **BIN)(x)
    x = L.BatchNormalization()(x)
    x = L.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.25))(x)
    g = L.Dense(8, activation="sigmoid")(L.GlobalAveragePooling2D()(x))
    x = L.Multiply()([x, L.Reshape((1, 1, 8))(g)])
    x = L.LeakyReLU(0.1)(x + 0.5)
    x = lq.layers.QuantConv2D(12, 3, strides=2, use_bias=False, **BIN)(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]))
    x = L.ReLU(max_value=6.0)(L.BatchNormalization()(x))
    return keras.Model(inp, L.Dense(3)(L.GlobalMaxPooling2D()(x)))


@pytest.mark.parametrize("build", [_zp_binary, _attention_binary], ids=lambda f: f.__name__)
def test_binary_models_bit_identical(build, tmp_path):
    keras.utils.set_random_seed(3)
    m = zoo.randomize_bn(build(), seed=3)
    x = mc.inputs(m, 48, seed=3)
    exp = larq2mcu.export(m, tmp_path / "o", name="gb")
    ag = compare(exp, exp.build_host(), x)
    assert ag.ok, ag.summary()
    assert ag.bit_tensors and all(v[0] == 0 for v in ag.bit_tensors.values())
    g = exp.graph
    pads = [op for op in g.ops if isinstance(op, ir.Pad)]
    assert all(g.tensors[op.inputs[0]].dtype == ir.F32 for op in pads)     # bit maps: only pad_one
    if build is _zp_binary:
        convs = [op for op in g.ops if isinstance(op, ir.BinaryConv2D)]
        assert [op.pads for op in convs[:2]] == [(1, 0, 2, 1), (2, 2, 2, 2)] and convs[0].pad_one and convs[1].pad_one
        assert len(pads) == 1 and not convs[2].pad_one        # pad_values=0 conv: the Pad stays
    else:
        assert not pads


# ----------------------------------------------------------------------------------- refusals
def _refused(body, match, shape=SHAPE + (3,)):
    inp = keras.Input(shape)
    m = keras.Model(inp, body(inp))
    with pytest.raises(UnsupportedLayerError, match=match):
        frontend.to_ir(m)


@pytest.mark.parametrize("body,match", [
    (lambda x: tf.math.abs(x), r"TFOpLambda.*function.*'math.abs'.*supported.*math.multiply"),
    (lambda x: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT"), r"mode.*REFLECT.*CONSTANT"),
    (lambda x: tf.pad(x, [[1, 0], [1, 1], [1, 1], [0, 0]]), r"paddings"),
    (lambda x: x + np.float32(np.inf), r"finite"),
    (lambda x: x * L.GlobalAveragePooling2D()(x), r"operand ranks.*\[4, 2\]"),
    (lambda x: tf.clip_by_value(x, _gap(x), 2.0), r"clip_value_min.*a tensor"),
    (lambda x: L.ReLU(max_value=float("inf"))(x), r"ReLU.*max_value"),
    (lambda x: L.ZeroPadding2D(1, data_format="channels_first")(x), r"data_format.*channels_first"),
    (lambda x: L.Activation("elu")(x), r"activation.*elu.*relu6.*leaky_relu"),
], ids=["unknown_fn", "pad_mode", "pad_batch", "inf_const", "rank_mix", "tensor_clip", "relu_inf",
        "zp_channels_first", "activation"])
def test_refusals_name_what_is_supported(body, match):
    _refused(body, match)


def test_rank5_maps_are_refused():
    _refused(lambda x: L.Multiply()([x, x]), r"Multiply.*output rank.*5", shape=(2, 3, 2, 2))
