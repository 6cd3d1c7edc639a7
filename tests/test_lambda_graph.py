"""Lambda layers of in-memory models (frontend/lambda_graph.py): each supported body pattern —
channel split / concat (the grouped convs of MeliusNet), channel pads (its improvement block),
channel slices, element-wise arithmetic and activations, the identity (Real-to-Binary) — gives an
oracle equal to Keras float32 exactly and host C equal to both; next to binary convs every binary
tensor is bit-identical; a body tracing to an op without an exact export is refused naming the
layer, the TF op type and the supported ones."""
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
SHAPE = (5, 7, 6)


def _lam(fn):
    return L.Lambda(fn)


def _split_swap(x):
    a, b, c = _lam(lambda t: tf.split(t, 3, axis=-1))(x)        # a layer with three outputs
    return _lam(lambda t: tf.concat(t, axis=-1))([c, a * 2.0, b])


CASES = {
    "identity": lambda x: _lam(lambda t: t)(x),
    "split_concat": _split_swap,
    "splitv": lambda x: _lam(lambda t: tf.concat(tf.split(t, [1, 3, 2], axis=3)[::-1], axis=-1))(x),
    "pad_channels_front": lambda x: _lam(lambda t: t + tf.pad(t[..., 2:], [[0, 0], [0, 0], [0, 0], [2, 0]]))(x),
    "pad_channels_value": lambda x: _lam(lambda t: tf.pad(t, [[0, 0], [1, 0], [0, 2], [1, 3]],
                                                          constant_values=-1.5))(x),
    "slices": lambda x: _lam(lambda t: tf.concat([t[:, :, :, 4:], t[..., -1:], tf.slice(t, [0, 0, 0, 1], [-1, -1, -1, 2])],
                                                 axis=-1))(x),
    "two_inputs": lambda x: _lam(lambda ts: ts[0] * 0.5 - ts[1] / 3.0)([x, x + 1.0]),
    "arith_consts": lambda x: _lam(lambda t: tf.maximum(1.0 - t, tf.minimum(t * t, 2.0)) + -t)(x),
    "activations": lambda x: _lam(lambda t: tf.nn.leaky_relu(tf.nn.relu6(t * 4.0) - tf.nn.relu(t), alpha=0.1))(x),
    "clip": lambda x: _lam(lambda t: tf.clip_by_value(t, -0.5, 0.75))(x),
}


def _keras(m, x):
    return m(x, training=False).numpy()


def _same(a, b):
    """Identical float32 arrays (±0 equal, NaN equal)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_equals_keras(case):
    keras.utils.set_random_seed(1)
    inp = keras.Input(SHAPE)
    m = keras.Model(inp, CASES[case](inp))
    x = mc.inputs(m, 24, seed=1)
    g = frontend.to_ir(m)
    assert not any(type(op).__name__ == "Lambda" for op in g.ops)
    y = _keras(m, x)
    assert _same(reference.run(g, x), y), f"{case}: oracle != Keras"
    assert _same(reference.run(run_pipeline(g), x), y), f"{case}: passes changed values"
    v, e = rounding.propagate(g, x)[g.outputs[0]]
    assert v.shape == y.shape and np.all(np.abs(y - v) <= e * (1 + 1e-9) + 1e-300), f"{case}: bound"


def test_sigmoid_tanh_as_activation_ops():
    """Sigmoid / Tanh become the Activation op Keras' Activation layer gets: not bit-exact (TF's
    own approximations), within the bound verify uses."""
    inp = keras.Input(SHAPE)
    m = keras.Model(inp, _lam(lambda t: tf.sigmoid(t) * tf.tanh(t * 0.5))(inp))
    g = frontend.to_ir(m)
    assert sorted(op.fn for op in g.ops if isinstance(op, ir.Activation)) == ["sigmoid", "tanh"]
    x = mc.inputs(m, 24, seed=4)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(reference.run(g, x), _keras(m, x), rtol=1e-6, atol=1e-7)


def test_split_and_pad_lower_to_channel_windows():
    inp = keras.Input(SHAPE)
    g = frontend.to_ir(keras.Model(inp, CASES["split_concat"](inp)))
    wins = [op for op in g.ops if isinstance(op, ir.ChannelWindow)]
    assert sorted(op.begin for op in wins) == [0, 2, 4] and all(g.tensors[op.output].shape[-1] == 2 for op in wins)
    g = frontend.to_ir(keras.Model(inp, CASES["pad_channels_front"](inp)))
    assert sorted(op.begin for op in g.ops if isinstance(op, ir.ChannelWindow)) == [-2, 2]


def test_c_equals_keras(tmp_path):
    """Every case as a branch of one model (flattened, concatenated), one host build."""
    keras.utils.set_random_seed(5)
    inp = keras.Input(SHAPE)
    outs = [L.Flatten()(CASES[k](inp)) for k in sorted(CASES)]
    m = keras.Model(inp, L.Concatenate()(outs))
    x = mc.inputs(m, 16, seed=2)
    exp = larq2mcu.export(m, tmp_path / "o", name="lam")
    assert ir.ChannelWindow in {type(op) for op in exp.graph.ops}
    y, yk, yr = exp.build_host().predict(x), _keras(m, x), reference.run(exp.graph, x)
    start = 0
    for name, o in zip(sorted(CASES), outs):
        sl = slice(start, start + int(o.shape[-1]))
        assert _same(y[:, sl], yk[:, sl]), f"{name}: C != Keras"
        assert _same(y[:, sl], yr[:, sl]), f"{name}: C != oracle"
        start = sl.stop


@pytest.mark.parametrize("begin,out_c", [(0, 3), (2, 5), (-3, 10), (-2, 3), (5, 1), (-1, 9)])
def test_chanwindow_kernel(begin, out_c):
    r = np.random.default_rng(begin + 10)
    x = r.normal(size=(4, 3, 7)).astype(np.float32)
    x.reshape(-1)[:4] = [-0.0, np.inf, np.nan, 1e-42]
    op = ir.ChannelWindow(name="k", inputs=("a",), output="y", begin=begin, value=-2.5)
    expect = reference.run_op(op, [x[None]], ir.Tensor("y", (4, 3, out_c), ir.F32))[0]
    got = H.chanwindow(x, begin, out_c, -2.5)
    assert _same(got, expect) and np.array_equal(np.signbit(got), np.signbit(expect))


def _melius_like():
    """MeliusNet's blocks at toy size: a grouped float conv by tf.split / Conv2D per group /
    tf.concat, a dense block (concat of a binary conv), an improvement block (x + channel-padded
    binary conv), a Real-to-Binary identity Lambda."""
    BIN = mc.BIN
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    x = L.ReLU()(L.BatchNormalization()(x))
    parts = _lam(lambda t: tf.split(t, 4, axis=-1))(x)
    x = _lam(lambda t: tf.concat(t, axis=-1))([L.Conv2D(3, 3, padding="same", use_bias=False)(p) for p in parts])
    x = L.BatchNormalization()(x)
    w = lq.layers.QuantConv2D(6, 3, padding="same", use_bias=False, **BIN)(L.BatchNormalization()(x))
    x = _lam(lambda t: tf.concat(t, axis=-1))([x, w])
    w = lq.layers.QuantConv2D(6, 3, padding="same", use_bias=False, **BIN)(L.BatchNormalization()(x))
    f_in = int(x.shape[-1])
    x = L.Lambda(lambda t: t[0] + tf.pad(t[1], [[0, 0], [0, 0], [0, 0], [f_in - 6, 0]]))([x, w])
    x = _lam(lambda t: t)(x)
    x = L.ReLU()(L.MaxPool2D()(L.BatchNormalization()(x)))
    return keras.Model(inp, L.Dense(4)(L.GlobalAveragePooling2D()(x)))


def test_binary_model_bit_identical(tmp_path):
    keras.utils.set_random_seed(3)
    m = zoo.randomize_bn(_melius_like(), seed=3)
    exp = larq2mcu.export(m, tmp_path / "o", name="mel")
    ag = compare(exp, exp.build_host(), mc.inputs(m, 32, seed=3))
    assert ag.ok, ag.summary()
    assert ag.bit_tensors and all(v[0] == 0 for v in ag.bit_tensors.values()), ag.summary()
    assert sum(isinstance(op, ir.BinaryConv2D) for op in exp.graph.ops) == 2


# ----------------------------------------------------------------------------------- refusals
_VAR = tf.Variable(np.ones(6, np.float32))


@pytest.mark.parametrize("body,match", [
    (lambda t: tf.abs(t), r"layer 'lam'.*Lambda.*TF op.*'Abs'.*supported.*ConcatV2"),
    (lambda t: tf.concat([t, t], axis=1), r"ConcatV2 axis.*1.*-1, 3"),
    (lambda t: t[:, ::2], r"StridedSlice selection"),
    (lambda t: t[..., ::2], r"StridedSlice selection"),
    (lambda t: tf.reshape(t, (-1, 7, 5, 6)), r"TF op.*'Reshape'"),
    (lambda t: t * tf.constant([1, 2, 3, 4, 5, 6], tf.float32), r"Mul constant.*shape \(6,\).*float32 scalar"),
    (lambda t: t * _VAR, r"captured tensors"),
    (lambda t: tf.pad(t, [[1, 0], [0, 0], [0, 0], [0, 0]]), r"Pad output shape=\(2, 5, 7, 6\).*batch axis"),
    (lambda t: t + t[0, 0, 0, 0], r"StridedSlice output shape=\(\).*batch axis"),
], ids=["unknown_op", "concat_axis", "strided_rows", "strided_channels", "reshape", "vector_const", "variable",
        "pad_batch", "scalar_of_tensor"])
def test_refusals_name_layer_op_and_supported(body, match):
    inp = keras.Input(SHAPE)
    m = keras.Model(inp, L.Lambda(body, name="lam")(inp))
    with pytest.raises(UnsupportedLayerError, match=match):
        frontend.to_ir(m)


# ------------------------------------------------------------------------ files: explicit opt-in
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_file_needs_trust_lambda(suffix, tmp_path):
    """A saved Lambda model is refused before loading; with trust_lambda (CLI --trust-lambda) it
    loads, running the file's code, and exports bit-identical to the in-memory model."""
    from click.testing import CliRunner

    from larq2mcu.cli import main as cli_main
    keras.utils.set_random_seed(4)
    m = zoo.randomize_bn(_melius_like(), seed=4)
    path = tmp_path / f"m{suffix}"
    m.save(path)
    with pytest.raises(UnsupportedLayerError, match=r"Lambda.*before loading.*--trust-lambda"):
        larq2mcu.export(path, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    exp = larq2mcu.export(path, tmp_path / "o", name="mel", trust_lambda=True)
    x = mc.inputs(m, 16, seed=5)
    ag = compare(exp, exp.build_host(), x)
    assert ag.ok and all(v[0] == 0 for v in ag.bit_tensors.values()), ag.summary()
    assert _same(_keras(exp.model, x), _keras(m, x))     # the file's model is the original
    r = CliRunner().invoke(cli_main, ["export", str(path), "-o", str(tmp_path / "cli"), "--trust-lambda"])
    assert r.exit_code == 0 and (tmp_path / "cli").is_dir(), r.output
    r = CliRunner().invoke(cli_main, ["export", str(path), "-o", str(tmp_path / "cli2")])
    assert r.exit_code == 2 and "--trust-lambda" in r.stderr and not (tmp_path / "cli2").exists()
