"""The op kinds and quantizers of issue #13 in generated models: grouped and dilated convs, float and
binary depthwise / separable convs, 1-D models (Conv1D / QuantConv1D), quantizers recognised by
evaluation (ste_tern, ste_heaviside, DoReFa k-bit, clip-style activations, magnitude-aware and
per-channel scaled kernels, quantizers used as layers), Average / broadcast Add / relu6, and a
Rescaling / Normalization first layer (with an integer-input export where the model qualifies,
passes/integer_input.py).

Drawn from their own random stream (`b.rx`), so the choices of gen.py's stream keep their meaning.
Every helper returns a gen.T with the shape computed here (not asked from Keras)."""
from __future__ import annotations

import math

from ... import ir
from ..._tf import tf_modules
from .weights import MAX_FLOAT_WEIGHTS


# ------------------------------------------------------------------ custom quantizers (zoo style)
def xnor_weight_scale(x):
    """larq-zoo's XNOR-Net kernel quantizer: per-output-channel mean|clip(W)| · sign(W)."""
    tf, _, lq = tf_modules()
    x = tf.clip_by_value(x, -1, 1)
    alpha = tf.reduce_mean(tf.abs(x), axis=list(range(len(x.shape) - 1)), keepdims=True)
    return alpha * lq.quantizers.ste_sign(x)


def magnitude_aware_sign_unclipped(x):
    """larq-zoo's DoReFa-Net kernel quantizer: sign(x) · mean|x| over the whole tensor."""
    tf, _, lq = tf_modules()
    return lq.math.sign(x) * tf.reduce_mean(tf.abs(x))


def clip_by_value_activation(x):
    """larq-zoo's DoReFa-Net activation: clip to [0, 1]."""
    tf = tf_modules()[0]
    return tf.clip_by_value(x, 0, 1)


KERNEL_Q = ("ste_sign", "ste_sign", "magnitude_aware_sign", "xnor_scale", "mag_unclipped", "ste_tern")
INPUT_Q = ("ste_sign", "ste_sign", "ste_heaviside", "ste_tern", "dorefa1", "dorefa2", "dorefa3", "dorefa4")


def kernel_quantizer(b, name: str):
    """The kernel quantizer object of KERNEL_Q name `name`."""
    Q = b.lq.quantizers
    return {"ste_sign": "ste_sign", "magnitude_aware_sign": Q.MagnitudeAwareSign(), "xnor_scale": xnor_weight_scale,
            "mag_unclipped": magnitude_aware_sign_unclipped, "ste_tern": Q.SteTern()}[name]


def input_quantizer(b, name: str):
    """The input quantizer object of INPUT_Q name `name` (SteTern's threshold drawn from b.rx)."""
    Q = b.lq.quantizers
    if name.startswith("dorefa"):
        return Q.DoReFa(k_bit=int(name[-1]), mode="activations")
    return {"ste_sign": "ste_sign", "ste_heaviside": Q.SteHeaviside(),
            "ste_tern": Q.SteTern(threshold_value=b.rx.choice([0.05, 0.3, 0.5]))}[name]


def _out(n: int, k: int, s: int, d: int, padding: str) -> tuple:
    """(output size, pads) of a conv along one axis with dilation d."""
    ke = (k - 1) * d + 1
    pads = ir.same_pads(n, ke, s) if padding == "same" else (0, 0)
    return ir.conv_out_size(n, ke, s, *pads), pads


def _geometry(b, h: int, w: int, allow_dilation: bool = True, equal_strides: bool = False):
    """(kh, kw, sh, sw, dh, dw, padding, oh, ow): random kernel / stride / dilation that fit.

    equal_strides: TF's CPU DepthwiseConv2dNative (also under Separable) refuses unequal row and
    column strides, so the depthwise generators ask for sh == sw (Keras would crash, not larq2mcu).
    """
    r = b.rx
    kh = r.randint(1, 4)
    kw = kh if r.random() < 0.7 else r.randint(1, 4)
    d = r.choice([1, 1, 2, 3]) if allow_dilation else 1
    dh, dw = (d, d) if r.random() < 0.7 else (d, r.choice([1, 2]))
    if dh > 1 or dw > 1:
        sh = sw = 1                 # Keras: strides > 1 with dilation > 1 is not allowed
    else:
        sh = r.choice([1, 1, 2])
        sw = sh if equal_strides or r.random() < 0.8 else r.choice([1, 2])
    padding = r.choice(["valid", "same"])
    if (kh - 1) * dh + 1 > h or (kw - 1) * dw + 1 > w:
        padding = "same"
    oh, _ = _out(h, kh, sh, dh, padding)
    ow, _ = _out(w, kw, sw, dw, padding)
    return kh, kw, sh, sw, dh, dw, padding, oh, ow


def _cov_geometry(b, padding, sh, sw, dh, dw, pad_values=None):
    b.cov[f"padding={padding}"] += 1
    b.cov[f"strides={sh}x{sw}"] += 1
    if dh > 1 or dw > 1:
        b.cov["dilation_rate>1"] += 1
    if pad_values is not None and padding == "same":
        b.cov[f"pad_values={pad_values:g}"] += 1


# ------------------------------------------------------------------ spatial ops
def quant_conv(b, x, groups: bool = False):
    """QuantConv2D / Conv2D with evaluated quantizers, groups > 1 and / or dilation."""
    r = b.rx
    h, w, cin = x.shape
    kh, kw, sh, sw, dh, dw, padding, oh, ow = _geometry(b, h, w)
    g = 1
    if groups:
        divs = [d for d in range(2, cin + 1) if cin % d == 0]
        g = r.choice(divs) if divs else 1
    cout = g * r.randint(1, max(1, 48 // g)) if g > 1 else b.channels()
    float_layer = r.random() < 0.2
    use_bias = r.random() < 0.4
    if float_layer:
        cout = max(g, min(cout, (MAX_FLOAT_WEIGHTS // (kh * kw * max(1, cin // g))) // g * g))
        layer = b.L.Conv2D(cout, (kh, kw), strides=(sh, sw), dilation_rate=(dh, dw), groups=g, padding=padding,
                           use_bias=use_bias)
        key, k = "Conv2D", 0
        if g == 1 and dh == dw == 1:
            key = "Conv2D"
        b.w_init.append((layer, "float", 0))
    else:
        iqn = r.choice(INPUT_Q + ("none",))
        kqn = r.choice(KERNEL_Q)
        pad_values = r.choice([0.0, 1.0]) if padding == "same" and iqn in ("ste_sign", "none") else 0.0
        layer = b.lq.layers.QuantConv2D(
            cout, (kh, kw), strides=(sh, sw), dilation_rate=(dh, dw), groups=g, padding=padding,
            pad_values=pad_values, input_quantizer=None if iqn == "none" else input_quantizer(b, iqn),
            kernel_quantizer=kernel_quantizer(b, kqn),
            kernel_constraint="weight_clip" if kqn != "mag_unclipped" else None, use_bias=use_bias)
        b.cov[f"kernel_quantizer={kqn}"] += 1
        if iqn != "none":
            b.cov[f"input_quantizer={iqn}"] += 1
        k = kh * kw * (cin // g) if iqn == "ste_sign" and kqn == "ste_sign" else 0
        key = "QuantConv2D[" + ("bin-in" if iqn == "ste_sign" else "float-in" if iqn == "none" else "step-in") \
              + ("," + ("bin-w" if kqn == "ste_sign" else "tern-w" if kqn == "ste_tern" else "scaled-w")) + "]"
        b.w_init.append((layer, "bin" if iqn != "none" else "float_in", k))
        _cov_geometry(b, padding, sh, sw, dh, dw, pad_values)
    if float_layer:
        _cov_geometry(b, padding, sh, sw, dh, dw)
    if g > 1:
        b.cov["groups>1"] += 1
        key += "[groups]"
    return b.apply(layer, [x], (oh, ow, cout), acc_k=k, key=key)


def depthwise(b, x):
    """DepthwiseConv2D (float) or QuantDepthwiseConv2D (binary / float input, ±1 kernel), depth_multiplier."""
    r = b.rx
    h, w, c = x.shape
    kh, kw, sh, sw, dh, dw, padding, oh, ow = _geometry(b, h, w, equal_strides=True)
    dm = r.choice([1, 1, 2, 3])
    dm = max(1, min(dm, MAX_FLOAT_WEIGHTS // max(1, kh * kw * c)))
    use_bias = r.random() < 0.4
    if r.random() < 0.4:
        layer = b.L.DepthwiseConv2D((kh, kw), strides=(sh, sw), dilation_rate=(dh, dw), padding=padding,
                                    depth_multiplier=dm, use_bias=use_bias,
                                    activation=r.choice([None, None, "relu"]))
        key, k = "DepthwiseConv2D", 0
        b.w_init.append((layer, "float", 0))
        _cov_geometry(b, padding, sh, sw, dh, dw)
    else:
        bin_in = r.random() < 0.6
        pad_values = r.choice([0.0, 1.0]) if padding == "same" and bin_in else 0.0
        layer = b.lq.layers.QuantDepthwiseConv2D(
            (kh, kw), strides=(sh, sw), dilation_rate=(dh, dw), padding=padding, depth_multiplier=dm,
            pad_values=pad_values, input_quantizer=b.sign() if bin_in else None, depthwise_quantizer=b.sign(),
            depthwise_constraint="weight_clip", use_bias=use_bias)
        key = f"QuantDepthwiseConv2D[{'bin' if bin_in else 'float'}-in]"
        k = kh * kw if bin_in else 0
        b.w_init.append((layer, "bin" if bin_in else "float_in", k))
        _cov_geometry(b, padding, sh, sw, dh, dw, pad_values)
    if dm > 1:
        b.cov["depth_multiplier>1"] += 1
    return b.apply(layer, [x], (oh, ow, c * dm), acc_k=k, key=key)


def separable(b, x):
    """SeparableConv2D (float) or QuantSeparableConv2D (binary depthwise + ±1 pointwise)."""
    r = b.rx
    h, w, c = x.shape
    kh, kw, sh, sw, dh, dw, padding, oh, ow = _geometry(b, h, w, equal_strides=True)
    dm = r.choice([1, 1, 2])
    cout = b.channels(64)
    use_bias = r.random() < 0.4
    if r.random() < 0.4:
        cout = max(1, min(cout, MAX_FLOAT_WEIGHTS // max(1, c * dm)))
        layer = b.L.SeparableConv2D(cout, (kh, kw), strides=(sh, sw), dilation_rate=(dh, dw), padding=padding,
                                    depth_multiplier=dm, use_bias=use_bias,
                                    activation=r.choice([None, None, "relu", "tanh"]))
        key, k = "SeparableConv2D", 0
        b.w_init.append((layer, "float", 0))
        _cov_geometry(b, padding, sh, sw, dh, dw)
    else:
        pad_values = r.choice([0.0, 1.0]) if padding == "same" else 0.0
        layer = b.lq.layers.QuantSeparableConv2D(
            cout, (kh, kw), strides=(sh, sw), dilation_rate=(dh, dw), padding=padding, depth_multiplier=dm,
            pad_values=pad_values, input_quantizer=b.sign(), depthwise_quantizer=b.sign(),
            pointwise_quantizer=b.sign(), depthwise_constraint="weight_clip", pointwise_constraint="weight_clip",
            use_bias=use_bias)
        key, k = "QuantSeparableConv2D", 0
        b.w_init.append((layer, "sep", 0))
        _cov_geometry(b, padding, sh, sw, dh, dw, pad_values)
    return b.apply(layer, [x], (oh, ow, cout), acc_k=k, key=key)


def quant_layer(b, x):
    """A step quantizer or a clip-style function used as a layer / Activation."""
    r = b.rx
    kind = r.choice(["heaviside", "tern", "dorefa", "clip01", "relu6"])
    if kind == "heaviside":
        return b.apply(b.lq.quantizers.SteHeaviside(), [x], x.shape, key="SteHeaviside layer")
    if kind == "tern":
        return b.apply(b.lq.quantizers.SteTern(threshold_value=r.choice([0.05, 0.3])), [x], x.shape,
                       key="SteTern layer")
    if kind == "dorefa":
        kb = r.choice([1, 2, 3, 4, 8])
        return b.apply(b.lq.quantizers.DoReFa(k_bit=kb, mode="activations"), [x], x.shape,
                       key="DoReFa layer")
    if kind == "clip01":
        return b.apply(b.L.Activation(clip_by_value_activation), [x], x.shape, key="Activation[clip_by_value]")
    return b.apply(b.L.Activation("relu6"), [x], x.shape, key="Activation[relu6]")


def merge(b, x):
    """Functional only: Average / broadcast Add (with a (1, 1, C) map), or tf.nn.relu6 / x·s + y."""
    tf = tf_modules()[0]
    r = b.rx
    L = b.L
    T = type(x)
    kind = r.choice(["average", "badd", "tf_relu6", "tf_xy", "subtract", "maximum", "minimum", "multiply"])
    if kind in ("subtract", "maximum", "minimum", "multiply"):
        cls = {"subtract": L.Subtract, "maximum": L.Maximum, "minimum": L.Minimum, "multiply": L.Multiply}[kind]
        s = L.GlobalAveragePooling2D(keepdims=True)(x.kt) if r.random() < 0.5 else L.ReLU()(x.kt)
        args = [x.kt, s] if r.random() < 0.5 else [s, x.kt]
        b.cov[f"{cls.__name__}[ext]"] += 1
        b.desc.append(f"{cls.__name__}{list(x.shape)}")
        return T(cls()(args), x.shape)
    if kind == "average":
        y = L.ReLU()(x.kt) if r.random() < 0.5 else x.kt * round(r.uniform(-2, 2), 2)
        s = L.GlobalAveragePooling2D(keepdims=True)(x.kt)
        args = r.choice([[x.kt, y], [x.kt, s], [s, x.kt, y]])
        b.cov["Average"] += 1
        b.desc.append(f"Average{list(x.shape)}")
        return T(L.Average()(args), x.shape)
    if kind == "badd":
        s = L.GlobalMaxPooling2D(keepdims=True)(x.kt) if r.random() < 0.5 else \
            L.GlobalAveragePooling2D(keepdims=True)(x.kt)
        args = [x.kt, s] if r.random() < 0.5 else [s, x.kt]
        b.cov["Add[broadcast]"] += 1
        b.desc.append(f"Add[broadcast]{list(x.shape)}")
        return T(L.Add()(args), x.shape)
    if kind == "tf_relu6":
        b.cov["TFOpLambda[relu6]"] += 1
        b.desc.append(f"TFOpLambda[relu6]{list(x.shape)}")
        return T(tf.nn.relu6(x.kt * round(r.uniform(1, 5), 2)), x.shape)
    b.cov["TFOpLambda[x*s+y]"] += 1
    b.desc.append(f"TFOpLambda[x*s+y]{list(x.shape)}")
    return T(x.kt * round(r.uniform(-2, 2), 2) + L.ReLU()(x.kt), x.shape)


def spatial_op(b, x):
    """One of the ops above on spatial tensor x (then sometimes a BN)."""
    r = b.rx
    kinds = ["qconv", "qconv", "gconv", "gconv", "dw", "dw", "sep", "qlayer", "qlayer"]
    if b.functional:
        kinds += ["merge"] * 4
    kind = r.choice(kinds)
    if kind in ("qconv", "gconv"):
        x = quant_conv(b, x, groups=kind == "gconv")
    elif kind == "dw":
        x = depthwise(b, x)
    elif kind == "sep":
        x = separable(b, x)
    elif kind == "qlayer":
        return quant_layer(b, x)
    else:
        return merge(b, x)
    if r.random() < 0.7:
        x = b.bn(x)
    if b.functional and r.random() < 0.35:
        x = merge(b, x)
    return x


def dense_op(b, x):
    """QuantDense with evaluated quantizers (step inputs, ternary / scaled kernels)."""
    r = b.rx
    n = x.shape[0]
    units = b.channels()
    iqn = r.choice(INPUT_Q + ("none",))
    kqn = r.choice(KERNEL_Q)
    layer = b.lq.layers.QuantDense(units, input_quantizer=None if iqn == "none" else input_quantizer(b, iqn),
                                   kernel_quantizer=kernel_quantizer(b, kqn),
                                   kernel_constraint="weight_clip" if kqn != "mag_unclipped" else None,
                                   use_bias=r.random() < 0.5)
    b.cov[f"kernel_quantizer={kqn}"] += 1
    if iqn != "none":
        b.cov[f"input_quantizer={iqn}"] += 1
    k = n if iqn == "ste_sign" and kqn == "ste_sign" else 0
    b.w_init.append((layer, "bin" if iqn != "none" else "float_in", k))
    key = "QuantDense[" + ("bin-in" if iqn == "ste_sign" else "float-in" if iqn == "none" else "step-in") \
          + "," + ("bin-w" if kqn == "ste_sign" else "tern-w" if kqn == "ste_tern" else "scaled-w") + "]"
    y = b.apply(layer, [x], (units,), acc_k=k, key=key)
    if r.random() < 0.6:
        y = b.bn(y)
    if r.random() < 0.2:
        y = quant_layer_flat(b, y)
    return y


def quant_layer_flat(b, x):
    """A step / clip quantizer layer on a flat tensor."""
    kind = b.rx.choice(["heaviside", "dorefa", "clip01"])
    if kind == "heaviside":
        return b.apply(b.lq.quantizers.SteHeaviside(), [x], x.shape, key="SteHeaviside layer")
    if kind == "dorefa":
        return b.apply(b.lq.quantizers.DoReFa(k_bit=b.rx.choice([2, 3]), mode="activations"), [x], x.shape,
                       key="DoReFa layer")
    return b.apply(b.L.Activation(clip_by_value_activation), [x], x.shape, key="Activation[clip_by_value]")


# ------------------------------------------------------------------ first layers and 1-D models
def first_affine(b, x, integer: bool):
    """Rescaling / Normalization on the input. With `integer` the model is built to qualify for an
    integer-input export: one scale for every channel, then a ±1-kernel conv/dense on the float
    input, BN, and a binarizing consumer (passes/integer_input.py); returns (T, input_dtype)."""
    r = b.rx
    c = x.shape[-1]
    dtype = r.choice(["uint8", "int8"]) if integer else "float32"
    if r.random() < 0.6:
        if integer:
            scale = r.choice([1 / 128, 1 / 255, 1 / 127.5, 1 / 64, 0.02])
            offset = r.choice([0.0, -1.0, [round(r.uniform(-1, 1), 3) for _ in range(c)]])
        else:
            scale = r.choice([1 / 255, 1 / 127.5, 0.5, [round(r.uniform(0.1, 2), 3) for _ in range(c)]])
            offset = r.choice([0.0, -1.0, 0.25])
        layer = b.L.Rescaling(scale, offset)
        key = "Rescaling"
    else:
        mean = [round(r.uniform(-2, 130), 2) for _ in range(c)] if r.random() < 0.7 else round(r.uniform(0, 100), 1)
        if integer:
            var = round(r.uniform(1, 5000), 1)
        else:
            var = [round(r.uniform(0.1, 5000), 1) for _ in range(c)] if r.random() < 0.5 else 4.0
        layer = b.L.Normalization(axis=-1, mean=mean, variance=var)
        key = "Normalization"
    x = b.apply(layer, [x], x.shape, key=key + ("[int-input]" if integer else ""))
    if not integer:
        return x, dtype
    b.cov[f"input_dtype={dtype}"] += 1
    if len(x.shape) == 3:
        x = b.conv(x, "float_in", act_ok=False)
        x = b.bn(x)
        x = b.conv(x, "bin")
    else:
        x = b.dense(x, "float_in", act="linear")
        x = b.bn(x)
        x = b.dense(x, "bin", act="linear")
    return x, dtype


def conv1d_model(b, x):
    """1-D body on a (W, C) input: (Quant)Conv1D with groups / dilation / causal padding, BN, a
    1-D max / average pool now and then, then Flatten or a global 1-D pool."""
    r = b.rx
    w, c = x.shape
    for _ in range(r.randint(1, 4)):
        k = r.randint(1, 5)
        d = r.choice([1, 1, 2])
        s = 1 if d > 1 else r.choice([1, 1, 2])
        padding = r.choice(["valid", "same", "causal"])
        ke = (k - 1) * d + 1
        if padding == "valid" and ke > w:
            padding = "same"
        if padding == "valid":
            ow = (w - ke) // s + 1
        else:
            ow = math.ceil(w / s)
        divs = [g for g in range(2, c + 1) if c % g == 0]
        g = r.choice(divs) if divs and r.random() < 0.3 else 1
        cout = g * r.randint(1, max(1, 40 // g))
        bin_in = r.random() < 0.7
        use_bias = r.random() < 0.3
        if r.random() < 0.35:
            layer = b.L.Conv1D(cout, k, strides=s, dilation_rate=d, groups=g, padding=padding, use_bias=use_bias,
                               activation=r.choice([None, "relu"]))
            key, kk, mode = "Conv1D", 0, "float"
        else:
            pv = r.choice([0.0, 1.0]) if padding == "same" and bin_in else 0.0
            layer = b.lq.layers.QuantConv1D(cout, k, strides=s, dilation_rate=d, groups=g, padding=padding,
                                            pad_values=pv, input_quantizer=b.sign() if bin_in else None,
                                            kernel_quantizer=b.sign(), kernel_constraint="weight_clip",
                                            use_bias=use_bias)
            key = f"QuantConv1D[{'bin' if bin_in else 'float'}-in]"
            kk, mode = (k * (c // g), "bin") if bin_in else (0, "float_in")
        b.w_init.append((layer, mode, kk))
        b.cov[f"padding={padding}"] += 1
        if d > 1:
            b.cov["dilation_rate>1"] += 1
        if g > 1:
            b.cov["groups>1"] += 1
        x = b.apply(layer, [x], (ow, cout), acc_k=kk, key=key)
        if r.random() < 0.7:
            x = b.bn(x)
        w, c = ow, cout
        if r.random() < 0.35 and w >= 2:
            pk, ps = r.randint(2, min(3, w)), r.choice([1, 2])
            pp = r.choice(["valid", "same"])
            pw = (w - pk) // ps + 1 if pp == "valid" else math.ceil(w / ps)
            kind = r.choice(["MaxPooling1D", "AveragePooling1D"])
            mx = kind == "MaxPooling1D"        # a max pool keeps ±1 values (as gen.py's 2-D pool)
            x = b.apply(getattr(b.L, kind)(pk, strides=ps, padding=pp), [x], (pw, c), bits=x.bits and mx,
                        acc_k=x.acc_k if mx else 0, key=kind)
            w = pw
    u = r.random()
    if u < 0.2:
        return b.apply(b.L.GlobalAveragePooling1D(), [x], (c,), key="GlobalAveragePooling1D")
    if u < 0.4:
        return b.apply(b.L.GlobalMaxPooling1D(), [x], (c,), bits=x.bits, key="GlobalMaxPooling1D")
    return b.apply(b.L.Flatten(), [x], (w * c,), key="Flatten")
