"""Integer first layers (issue #14): Rescale/Normalize kernels bit for bit as Keras computes
them; the raw-byte conv/dense kernels (l2m_affine.c) against their numpy oracle over awkward
sizes; export(input_dtype=...) end to end against Keras on the same bytes as float32; typed
errors for models that do not qualify (passes/integer_input.py, docs/MATH.md §8)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import kernel_harness as H
from larq2mcu import bits, ir, reference
from larq2mcu.errors import UnsupportedLayerError
from larq2mcu.layout import weights as wt
from larq2mcu.ops.affine import affine_f32
from larq2mcu.passes.integer_input import _classes

KIND = {"u8": (np.uint8, 0, 256), "s8": (np.int8, -128, 128)}


def conv_8(kind, g, cls_y, cls_x, n_cls_x, u, wbits, thr, impl="ref"):
    dt = KIND[kind][0]
    u8, w = H._in(u, dt), H._in(wbits, np.uint32)
    cy, cx, t = H._in(cls_y, np.int8), H._in(cls_x, np.int8), H._in(thr, np.int32)
    out = H._Out((g.out_h, g.out_w, bits.words(g.out_c)), np.uint32)
    return H._call(f"l2m_conv2d_{kind}_b32_{impl}", out,
                   [ctypes.byref(g), H._p(cy), H._p(cx), n_cls_x, H._p(u8), H._p(w), H._p(t), out.ptr], [u8, w, cy, cx, t])


def dense_8(kind, n_in, n_out, u, wbits, thr):
    u8, w, t = H._in(u, KIND[kind][0]), H._in(wbits, np.uint32), H._in(thr, np.int32)
    out = H._Out((bits.words(n_out),), np.uint32)
    return H._call(f"l2m_dense_{kind}_b32_ref", out, [n_in, n_out, H._p(u8), H._p(w), H._p(t), out.ptr], [u8, w, t])


def affine_c(op, x):
    x = H._in(x, np.float32)
    c = x.shape[-1]
    a, b = (op.scale, op.offset) if isinstance(op, ir.Rescale) else (op.mean, op.denom)
    a, b = H._in(a, np.float32), H._in(b, np.float32)
    out = H._Out(x.shape, np.float32)
    fn = "l2m_rescale_f32_f32_ref" if isinstance(op, ir.Rescale) else "l2m_normalize_f32_f32_ref"
    return H._call(fn, out, [x.size // c, c, H._p(x), H._p(a), H._p(b), out.ptr], [x, a, b])


@pytest.mark.parametrize("kind", ["u8", "s8"])
@pytest.mark.parametrize("cin", [1, 3, 31, 32, 33])
@pytest.mark.parametrize("k,stride,padding", [(3, 1, "same"), (3, 2, "valid"), (3, 2, "same"), (5, 1, "same")])
def test_conv_bytes_kernel_matches_oracle(kind, cin, k, stride, padding):
    rng = H.seeded("u8conv", kind, cin, k, stride, padding)
    dt, lo, hi = KIND[kind]
    cout = 33
    g, pads = H.geom(7, 5, cin, cout, k, k, stride, stride, padding)
    u = rng.integers(lo, hi, (7, 5, cin)).astype(dt)
    u.reshape(-1)[:2] = (lo, hi - 1)                                # the extreme bytes
    w = H.pm1(rng, (k, k, cin, cout))
    cy, my = _classes(7, k, stride, pads[0], g.out_h)
    cx, mx = _classes(5, k, stride, pads[2], g.out_w)
    acc_scale = 255 * k * k * cin
    tau = rng.integers(-acc_scale // 8, acc_scale // 8 + 1, (len(my), len(mx), cout)).astype(np.int32)
    op = ir.IntConv2D(name="c", inputs=("x",), output="y", weights=w, strides=(stride, stride), pads=pads,
                      cls_y=cy, cls_x=cx, tau=tau)
    want = reference.run_op(op, [u[None]], None)[0]
    for impl in ("ref", "tab"):
        got = conv_8(kind, g, cy, cx, len(mx), u, wt.pack_w1_conv(w), tau.reshape(-1), impl)
        assert np.array_equal(bits.unpack(got, cout), want), impl
    assert 0 < (want < 0).mean() < 1                                # both outcomes occur


# The table engine packs two pixels per 32-bit word and groups taps by four (a lone last tap
# joins the group before it): windows of 1, 4, 5, 9, 17, 18, 25, 32, 33 taps and 34 (the
# reference fallback); blocks of 1, 16, 17, 32, 33 filters (both 16-filter halves of a word);
# odd and even output widths (the lone last pixel); thresholds at and past the clamp edges
# (±bt, ±bt ± 1, 0x8000 - bt, INT32 extremes), where a packed half could borrow from the other.
@pytest.mark.parametrize("kind", ["u8", "s8"])
@pytest.mark.parametrize("k_h,k_w,cin", [(1, 1, 1), (1, 1, 4), (1, 1, 5), (3, 3, 1), (1, 1, 17), (3, 3, 2),
                                         (5, 5, 1), (1, 2, 16), (3, 11, 1), (1, 1, 34)])
@pytest.mark.parametrize("cout", [1, 16, 17, 32, 33])
def test_conv_bytes_table_engine_edges(kind, k_h, k_w, cin, cout):
    rng = H.seeded("u8tab", kind, k_h, k_w, cin, cout)
    dt, lo, hi = KIND[kind]
    h, w_ = 6, 13
    for stride, padding in ((1, "same"), (2, "valid")):
        g, pads = H.geom(h, w_, cin, cout, k_h, k_w, stride, stride, padding)
        if g is None:
            continue
        u = rng.integers(lo, hi, (h, w_, cin)).astype(dt)
        u.reshape(-1)[: 2 * cin] = lo if kind == "s8" else hi - 1        # saturated corners
        w = H.pm1(rng, (k_h, k_w, cin, cout))
        cy, my = _classes(h, k_h, stride, pads[0], g.out_h)
        cx, mx = _classes(w_, k_w, stride, pads[2], g.out_w)
        bt = (128 if kind == "s8" else 255) * k_h * k_w * cin
        edges = np.array([-bt - 1, -bt, -bt + 1, bt, bt + 1, 0x8000 - bt, 0x8000 - bt - 1, 0, 1,
                          -(2**31), 2**31 - 1], np.int64)
        tau = rng.integers(-bt // 6, bt // 6 + 1, (len(my), len(mx), cout))
        tau.reshape(-1)[: len(edges)] = edges[: tau.size]
        tau = tau.astype(np.int32)
        op = ir.IntConv2D(name="c", inputs=("x",), output="y", weights=w, strides=(stride, stride), pads=pads,
                          cls_y=cy, cls_x=cx, tau=tau)
        want = reference.run_op(op, [u[None]], None)[0]
        for impl in ("ref", "tab"):
            got = conv_8(kind, g, cy, cx, len(mx), u, wt.pack_w1_conv(w), tau.reshape(-1), impl)
            assert np.array_equal(bits.unpack(got, cout), want), (impl, stride, padding)
            if cout % 32:
                last = got.reshape(-1, bits.words(cout))[:, -1]
                assert not np.any(last >> np.uint32(cout % 32)), (impl, "pad bits must be 0")


@pytest.mark.parametrize("kind", ["u8", "s8"])
@pytest.mark.parametrize("n_in", [1, 31, 32, 33, 100])
def test_dense_bytes_kernel_matches_oracle(kind, n_in):
    rng = H.seeded("u8dense", kind, n_in)
    dt, lo, hi = KIND[kind]
    n_out = 37
    u = rng.integers(lo, hi, n_in).astype(dt)
    w = H.pm1(rng, (n_in, n_out))
    tau = rng.integers(-40 * n_in, 40 * n_in + 1, n_out).astype(np.int32)
    op = ir.IntDense(name="d", inputs=("x",), output="y", weights=w, tau=tau)
    want = reference.run_op(op, [u[None]], None)[0]
    got = dense_8(kind, n_in, n_out, u, wt.pack_w1_dense(w), tau)
    assert np.array_equal(bits.unpack(got, n_out), want)


@pytest.mark.parametrize("form", ["rescale", "normalize"])
def test_affine_kernels_match_keras_bit_for_bit(form):
    from larq2mcu._tf import tf_modules
    tf, keras, _ = tf_modules()
    rng = H.seeded("affine", form)
    c = 3
    x = np.concatenate([np.arange(-128, 256, dtype=np.float32).repeat(c).reshape(-1, 1, c),
                        rng.normal(0, 100, (64, 1, c)).astype(np.float32)])
    if form == "rescale":
        layer = keras.layers.Rescaling([1 / 127.5, 1 / 255, 0.3], [-1.0, 0.1, -0.7])
    else:
        layer = keras.layers.Normalization(axis=-1, mean=[127.5, 3.0, -2.0], variance=[5000.0, 1e-20, 2.0])
    keras_y = np.asarray(layer(x[None]))[0]
    from larq2mcu.frontend.registry import Builder
    from larq2mcu.frontend.affine import normalization, rescaling
    b = Builder()
    t = b.tensor(x.shape, ir.F32)
    (rescaling if form == "rescale" else normalization)(b, layer, [t])
    op = b.ops[-1]
    assert np.array_equal(affine_f32(op, x).view(np.uint32), keras_y.view(np.uint32))
    assert np.array_equal(affine_c(op, x).view(np.uint32), keras_y.view(np.uint32))


# ------------------------------------------------------------------------------- end to end
def _mnist_with(first):
    """The zoo MNIST BNN (BN randomized) behind the `first` layers."""
    from larq2mcu._tf import tf_modules
    from larq2mcu.dev import zoo
    tf, keras, lq = tf_modules()
    base = zoo.randomize_bn(zoo.mnist_bnn(), seed=3)
    return keras.Sequential([keras.Input((28, 28, 1)), *first, *base.layers])


def _first_bits(model, x, upto: int):
    """Keras' own sign of layer `upto`'s output (layers applied eagerly to float32(x))."""
    y = np.asarray(x, np.float32)
    for la in model.layers[:upto + 1]:
        y = la(y, training=False)
    return np.asarray(y) < 0


@pytest.mark.parametrize("scale,offset,exact", [(1 / 127.5, -1.0, False), (1 / 128, -1.0, True)])
def test_mnist_uint8_bit_identical_to_keras(tmp_path, scale, offset, exact):
    from larq2mcu import export
    from larq2mcu._tf import tf_modules
    _, keras, _ = tf_modules()
    m = _mnist_with([keras.layers.Rescaling(scale, offset)])
    exp = export(m, tmp_path / "m", name="mn", input_dtype="uint8")
    first = exp.graph.ops[0]
    assert isinstance(first, ir.IntConv2D) and first.exact is exact
    assert exp.graph.tensors[exp.graph.inputs[0]].dtype == ir.U8
    assert "const uint8_t *input" in exp.files["mn.h"]
    rng = np.random.default_rng(7)
    u = rng.integers(0, 256, (64, 28, 28, 1)).astype(np.uint8)
    u[0], u[1] = 0, 255
    last = exp.graph.ops[-1]
    assert isinstance(last, ir.Activation) and last.fn == "softmax"
    logits = last.inputs[0]
    with exp.build_host() as h:
        got = h.intermediates(u, [first.output, logits])
        y = h.predict(u)
    assert np.array_equal(got[first.output] < 0, _first_bits(m, u, 2))    # Rescaling, conv, BN → sign
    ref = reference.run(exp.graph, u, keep_all=True)
    # everything up to the logits is integer arithmetic + the folded BN: bit for bit; the softmax is
    # libm expf against the float64 oracle, within its error bound (tests/test_kernels_float.py)
    assert np.array_equal(ref[logits].view(np.uint32), np.asarray(got[logits], np.float32).view(np.uint32))
    from test_kernels_float import U, assert_close, ulps
    expect = ref[last.output].astype(np.float64)
    d = np.abs(ref[logits].astype(np.float64) - ref[logits].max(axis=-1, keepdims=True))
    c = expect.shape[-1]
    assert_close(y, expect, (d + (expect * d).sum(axis=-1, keepdims=True) + c + 6) * U * np.abs(expect)
                 + ulps(expect))
    assert np.array_equal(y.argmax(-1), m.predict(u.astype(np.float32), verbose=0).argmax(-1))
    assert np.allclose(y, m.predict(u.astype(np.float32), verbose=0), atol=1e-6)


@pytest.mark.parametrize("variant", ["ref", "usad8"])
def test_int8_same_padding_per_channel_offsets(tmp_path, variant):
    """Border classes: a 'same' conv, stride 2, 3 channels with different offsets, int8 bytes;
    `usad8` lowers to the table engine (l2mi_conv_s8_tab, in a layer-specialised function)."""
    import larq as lq_
    from larq2mcu import export
    from larq2mcu._tf import tf_modules
    _, keras, _ = tf_modules()
    from larq2mcu.dev import zoo
    m = keras.Sequential([
        keras.Input((9, 7, 3)), keras.layers.Rescaling(1 / 64, [0.5, -1.0, 0.25]),
        lq_.layers.QuantConv2D(33, 3, strides=2, padding="same", kernel_quantizer="ste_sign", use_bias=False),
        keras.layers.BatchNormalization(),
        lq_.layers.QuantConv2D(8, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False),
        keras.layers.Flatten()])
    zoo.randomize_bn(m, seed=5)
    exp = export(m, tmp_path / "m", name="s8", input_dtype="int8", kernel_variant=variant)
    assert ("l2m_conv2d_s8_b32_ref(" if variant == "ref" else "l2mi_conv_s8_tab(") in exp.files["s8.c"]
    first = exp.graph.ops[0]
    assert isinstance(first, ir.IntConv2D) and first.exact and first.tau.shape[:2] == (3, 3)
    u = np.random.default_rng(1).integers(-128, 128, (40, 9, 7, 3)).astype(np.int8)
    with exp.build_host() as h:
        got = h.intermediates(u, [first.output])[first.output] < 0
    assert np.array_equal(got, _first_bits(m, u, 2))


def test_normalization_dense_uint8(tmp_path):
    import larq as lq_
    from larq2mcu import export
    from larq2mcu._tf import tf_modules
    _, keras, _ = tf_modules()
    from larq2mcu.dev import zoo
    m = keras.Sequential([
        keras.Input((6, 6, 2)), keras.layers.Normalization(mean=[100.0, 30.0], variance=[400.0, 400.0]),
        keras.layers.Flatten(), lq_.layers.QuantDense(40, kernel_quantizer="ste_sign", use_bias=True),
        keras.layers.BatchNormalization(),
        lq_.layers.QuantDense(5, input_quantizer="ste_sign", kernel_quantizer="ste_sign")])
    zoo.randomize_bn(m, seed=2)
    m.layers[2].bias.assign(np.random.default_rng(0).normal(0, 3, 40).astype(np.float32))
    exp = export(m, tmp_path / "m", name="nd", input_dtype="uint8")
    assert isinstance(exp.graph.ops[0], ir.IntDense)
    u = np.random.default_rng(2).integers(0, 256, (200, 6, 6, 2)).astype(np.uint8)
    with exp.build_host() as h:
        y = h.predict(u)
    assert np.array_equal(y, m.predict(u.astype(np.float32), verbose=0))


# ----------------------------------------------------------------------------------- errors
def _err(model, tmp_path, dtype="uint8"):
    from larq2mcu import export
    with pytest.raises(UnsupportedLayerError) as ei:
        export(model, tmp_path / "e", name="e", input_dtype=dtype)
    return ei.value


def test_float_weights_first_layer_refused(tmp_path):
    from larq2mcu._tf import tf_modules
    _, keras, _ = tf_modules()
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255),
                          keras.layers.Conv2D(4, 3, name="floaty"), keras.layers.Flatten()])
    e = _err(m, tmp_path)
    assert e.layer == "floaty" and e.cls == "Conv2D" and e.attribute == "input_dtype"


def test_per_channel_scale_refused(tmp_path):
    import larq as lq_
    from larq2mcu._tf import tf_modules
    _, keras, _ = tf_modules()
    m = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Rescaling([0.5, 0.25], name="resc"),
                          lq_.layers.QuantConv2D(4, 3, kernel_quantizer="ste_sign"),
                          keras.layers.BatchNormalization(),
                          lq_.layers.QuantConv2D(4, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign")])
    e = _err(m, tmp_path)
    assert e.layer == "resc" and e.cls == "Rescaling" and "per-channel" in str(e)


def test_unbinarized_output_and_bad_dtype_refused(tmp_path):
    import larq as lq_
    from larq2mcu._tf import tf_modules
    _, keras, _ = tf_modules()
    m = keras.Sequential([keras.Input((8, 8, 1)),
                          lq_.layers.QuantConv2D(4, 3, kernel_quantizer="ste_sign", name="first"),
                          keras.layers.Flatten()])
    e = _err(m, tmp_path)
    assert e.layer == "first" and "not binarized" in str(e)
    assert _err(m, tmp_path, "uint16").value == "uint16"


def test_cli_input_dtype(tmp_path):
    """`larq2mcu export --input-dtype uint8` writes the byte API; the default stays float."""
    import subprocess
    import sys

    import larq as lq_
    from larq2mcu._tf import tf_modules
    _, keras, _ = tf_modules()
    m = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Rescaling(1 / 128, -1.0),
                          lq_.layers.QuantConv2D(4, 3, kernel_quantizer="ste_sign", use_bias=False),
                          keras.layers.BatchNormalization(),
                          lq_.layers.QuantConv2D(2, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign")])
    p = tmp_path / "m.keras"
    m.save(p)
    for dt, want in (("uint8", "const uint8_t *input"), ("float32", "const float *input")):
        r = subprocess.run([sys.executable, "-m", "larq2mcu.cli", "export", str(p), "-o", str(tmp_path / dt),
                            "--name", "cm", "--input-dtype", dt], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert want in (tmp_path / dt / "cm.h").read_text()


# ------------------------------------------------- the engine as generated code instantiates it
# (h, w, in_c, out_c, k_h, k_w, stride, same): the layer-specialised functions of generated code
# call l2mi_conv_{u8,s8}_tab with the geometry as a compile-time constant, where every tap offset,
# group count and filter loop folds — a different compiled path from the run-time _tab kernel.
INT_SPEC = [(28, 28, 1, 32, 3, 3, 1, False), (9, 7, 3, 33, 3, 3, 2, True), (8, 9, 1, 16, 5, 5, 1, True),
            (7, 6, 2, 17, 3, 3, 1, True), (6, 5, 5, 1, 1, 1, 1, False), (7, 8, 1, 64, 3, 11, 1, True),
            (5, 5, 34, 3, 1, 1, 1, False)]                      # 34 taps: the reference fallback


def _int_spec_source() -> str:
    out = ['#include "l2m_intconv_impl.h"', ""]
    for ci, (h, w, c, oc, kh, kw, s, same) in enumerate(INT_SPEC):
        g, _ = H.geom(h, w, c, oc, kh, kw, s, s, "same" if same else "valid")
        gs = ", ".join(str(getattr(g, f)) for f, _ in g._fields_)
        for kind, ct in (("u8", "uint8_t"), ("s8", "int8_t")):
            out += [f"void spec_{kind}_{ci}(int32_t n, const {ct} *in, const uint32_t *w, const int8_t *cy, "
                    "const int8_t *cx, const int32_t *t, uint32_t *o) {",
                    f"    const l2m_geom g = {{ {gs} }};", f"    l2mi_conv_{kind}_tab(&g, n, in, w, cy, cx, t, o);", "}"]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def int_spec_libs(tmp_path_factory):
    import engine_libs
    return engine_libs.build(tmp_path_factory.mktemp("intspec"), "l2m_intspec_test", _int_spec_source())


@pytest.mark.parametrize("kind", ["u8", "s8"])
@pytest.mark.parametrize("ci", range(len(INT_SPEC)))
def test_table_engine_specialised_matches_oracle(int_spec_libs, kind, ci):
    h, w_, cin, cout, k_h, k_w, stride, same = INT_SPEC[ci]
    padding = "same" if same else "valid"
    rng = H.seeded("intspec", kind, ci)
    dt, lo, hi = KIND[kind]
    g, pads = H.geom(h, w_, cin, cout, k_h, k_w, stride, stride, padding)
    u = rng.integers(lo, hi, (h, w_, cin)).astype(dt)
    w = H.pm1(rng, (k_h, k_w, cin, cout))
    cy, my = _classes(h, k_h, stride, pads[0], g.out_h)
    cx, mx = _classes(w_, k_w, stride, pads[2], g.out_w)
    bt = (128 if kind == "s8" else 255) * k_h * k_w * cin
    tau = rng.integers(-bt // 6, bt // 6 + 1, (len(my), len(mx), cout)).astype(np.int32)
    tau.reshape(-1)[:4] = (-(2**31), 2**31 - 1, -bt, bt)[: tau.size]
    op = ir.IntConv2D(name="c", inputs=("x",), output="y", weights=w, strides=(stride, stride), pads=pads,
                      cls_y=cy, cls_x=cx, tau=tau)
    want = reference.run_op(op, [u[None]], None)[0]
    u8, wb = H._in(u, dt), H._in(wt.pack_w1_conv(w), np.uint32)
    cyy, cxx, t = H._in(cy, np.int8), H._in(cx, np.int8), H._in(tau.reshape(-1), np.int32)
    n_words = g.out_h * g.out_w * bits.words(cout)
    for cc, lib in int_spec_libs.items():
        out = np.full(n_words + 4, 0x7FC0DEAD, np.uint32)          # garbage + guard words
        fn = getattr(lib, f"spec_{kind}_{ci}")
        fn.restype = None
        fn(len(mx), *(x.ctypes.data_as(ctypes.c_void_p) for x in (u8, wb, cyy, cxx, t, out)))
        assert (out[n_words:] == 0x7FC0DEAD).all(), f"{cc}: wrote past its output"
        got = out[:n_words].reshape(g.out_h, g.out_w, -1)
        assert np.array_equal(bits.unpack(got, cout), want), cc
