"""Random valid Larq/Keras models over everything larq2mcu claims to support.

`generate(seed)` returns a `Generated` (the uncompiled tf_keras model plus the coverage keys it
exercises). The same seed always gives the same model (weights included): layer choices come from
`random.Random(seed)`, weights and BN statistics from `numpy.random.default_rng(seed)`.

Contract: every model has one input and one output, only layers from the supported list, and
small spatial sizes (H, W ≤ 9) so export + host build take about a second. Shapes are tracked
here (not asked from Keras), so the same layer list can be assembled as a Sequential model when
the topology is a chain; shortcuts (Add, Concatenate) make it Functional.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ... import ir
from ..._tf import tf_modules
from . import ext
from .glue import maybe_glue
from .weights import MAX_FLOAT_WEIGHTS, init_weights

SIGNS = ("ste_sign", "approx_sign", "swish_sign")
# Channel counts around 32-bit word boundaries are where packing bugs live.
CHANNELS = (1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 96, 127, 128, 129, 130)
P_EXT = 0.5                    # chance a body step is one of fuzz/ext.py's op kinds (issue #13)
P_1D = 0.08                    # chance of a 1-D (Conv1D) model
P_AFFINE = 0.16               # chance of a Rescaling / Normalization first layer (half of them integer-input)


@dataclass
class T:
    """A symbolic tensor: the Keras tensor (Functional) or None (Sequential), its per-sample shape,
    whether its values are ±1 (output of a sign), and K when it is a binary dot's raw output."""
    kt: object
    shape: tuple
    bits: bool = False
    acc_k: int = 0          # fan-in of the binary dot producing it (0: not an accumulator)


@dataclass
class Generated:
    """A random model, its seed, the Counter of features it covers and a description of its layers."""
    model: object
    seed: int
    coverage: Counter = field(default_factory=Counter)
    description: list = field(default_factory=list)
    input_dtype: str = "float32"     # export(input_dtype=...): uint8 / int8 where the model qualifies


class _Builder:
    def __init__(self, seed: int, functional: bool):
        self.r = random.Random(seed)
        self.rg = random.Random(seed ^ 0x6C7E)     # the glue layers' own stream (fuzz/glue.py)
        self.rx = random.Random(seed ^ 0xE713)     # fuzz/ext.py's own stream
        self.np = np.random.default_rng(seed)
        self.functional = functional
        self.layers: list = []       # Sequential mode: the chain
        self.cov: Counter = Counter()
        self.desc: list = []
        self.bn_init: list = []      # (layer, K or 0) → statistics set after the model is built
        self.w_init: list = []       # (layer, kind) → weights set after the model is built
        _, self.keras, self.lq = tf_modules()
        self.L = self.keras.layers

    # ------------------------------------------------------------------ plumbing
    def apply(self, layer, inputs, shape, bits=False, acc_k=0, key=None) -> T:
        if self.functional:
            args = [t.kt for t in inputs]
            kt = layer(args if len(args) > 1 else args[0])
        else:
            self.layers.append(layer)
            kt = None
        self.cov[key or type(layer).__name__] += 1
        self.desc.append(f"{type(layer).__name__}{list(shape)}" + (f" {key}" if key else ""))
        return T(kt, tuple(int(s) for s in shape), bits, acc_k)

    def sign(self) -> str:
        return self.r.choice(SIGNS)

    def channels(self, hi: int = 130) -> int:
        c = self.r.choice(CHANNELS) if self.r.random() < 0.7 else self.r.randint(1, 130)
        return max(1, min(c, hi))

    # ------------------------------------------------------------------ spatial layers
    def conv(self, x: T, mode: str, act_ok: bool = True) -> T:
        """A random Conv2D / QuantConv2D of `mode`; act_ok=False: no activation= (an integer-input
        first layer must be BN + sign after the dot, passes/integer_input.py)."""
        h, w, cin = x.shape
        kh = self.r.randint(1, 5)
        kw = kh if self.r.random() < 0.7 else self.r.randint(1, 5)
        padding = self.r.choice(["valid", "same"])
        if padding == "valid" and (kh > h or kw > w):
            padding = "same"
        sh = self.r.choice([1, 1, 2])
        sw = sh if self.r.random() < 0.8 else self.r.choice([1, 2])
        if cin == 1:
            sw = sh     # TF's conv2d miscomputes cin=1, strides (1, 2) on 1–2 pixel wide inputs (check.py)
        pads = ir.same_pads(h, kh, sh) + ir.same_pads(w, kw, sw) if padding == "same" else (0,) * 4
        oh, ow = ir.conv_out_size(h, kh, sh, *pads[:2]), ir.conv_out_size(w, kw, sw, *pads[2:])
        cout = self.channels()
        if mode in ("float", "bin_in_float_w"):     # float kernels: bound the C source size
            cout = max(1, min(cout, MAX_FLOAT_WEIGHTS // (kh * kw * cin)))
        pad_values = self.r.choice([0.0, 1.0]) if padding == "same" else 0.0
        use_bias = self.r.random() < 0.4
        act = None
        if self.r.random() < 0.1:
            act = self.r.choice(["relu", "tanh", "ste_sign"])
            act = act if act_ok else None
        kq = self.sign()
        if mode == "float":
            layer = self.L.Conv2D(cout, (kh, kw), strides=(sh, sw), padding=padding, use_bias=use_bias,
                                  activation=act if act != "ste_sign" else None)
            key, bits, k = "Conv2D", False, 0
        else:
            iq = self.sign() if mode in ("bin", "bin_in_float_w") else None
            kq = None if mode == "bin_in_float_w" else kq
            act_fn = self.lq.quantizers.get(act) if act == "ste_sign" else act
            layer = self.lq.layers.QuantConv2D(
                cout, (kh, kw), strides=(sh, sw), padding=padding, pad_values=pad_values,
                input_quantizer=iq, kernel_quantizer=kq, kernel_constraint="weight_clip" if kq else None,
                use_bias=use_bias, activation=act_fn)
            key = {"bin": "QuantConv2D[bin-in,bin-w]", "float_in": "QuantConv2D[float-in,bin-w]",
                   "bin_in_float_w": "QuantConv2D[bin-in,float-w]"}[mode]
            bits = act == "ste_sign"
            k = kh * kw * cin if mode == "bin" and act is None else 0
            if kq:
                self.cov[f"kernel_quantizer={kq}"] += 1
            if iq:
                self.cov[f"input_quantizer={iq}"] += 1
        self.cov[f"padding={padding}"] += 1
        if padding == "same" and mode != "float":
            self.cov[f"pad_values={pad_values:g}"] += 1
        self.cov[f"strides={sh}x{sw}"] += 1
        self.cov[f"kernel={kh}x{kw}"] += 1
        if use_bias:
            self.cov["use_bias"] += 1
        if act:
            self.cov[f"activation={act}"] += 1
        self.w_init.append((layer, mode, k))
        return self.apply(layer, [x], (oh, ow, cout), bits=bits, acc_k=k, key=key)

    def pool(self, x: T, kind: str) -> T:
        h, w, c = x.shape
        p = self.r.randint(1, 3)
        s = self.r.choice([1, 2, 2, 3]) if self.r.random() < 0.5 else p
        padding = self.r.choice(["valid", "same"])
        if padding == "valid" and (p > h or p > w):
            padding = "same"
        pads = ir.same_pads(h, p, s) + ir.same_pads(w, p, s) if padding == "same" else (0,) * 4
        oh, ow = ir.conv_out_size(h, p, s, *pads[:2]), ir.conv_out_size(w, p, s, *pads[2:])
        cls = self.L.MaxPooling2D if kind == "max" else self.L.AveragePooling2D
        layer = cls(p, strides=s, padding=padding)
        key = f"{cls.__name__}[{'bits' if x.bits else 'float'},{padding}]"
        # A max pool keeps ±1 values and commutes with the accumulator's threshold (docs/MATH.md §4).
        return self.apply(layer, [x], (oh, ow, c), bits=x.bits and kind == "max",
                          acc_k=x.acc_k if kind == "max" else 0, key=key)

    def bn(self, x: T) -> T:
        kw = {}
        if self.r.random() < 0.25:
            kw["scale"] = False
        if self.r.random() < 0.1:
            kw["center"] = False
        layer = self.L.BatchNormalization(**kw)
        k = x.acc_k if x.acc_k else 0
        self.bn_init.append((layer, k, x.bits))
        src = "after-dot" if k else ("on-bits" if x.bits else "float-in")
        return self.apply(layer, [x], x.shape, key=f"BatchNormalization[{src}]")

    def sign_layer(self, x: T) -> T:
        q = self.r.choice([self.lq.quantizers.SteSign, self.lq.quantizers.ApproxSign, self.lq.quantizers.SwishSign])
        return self.apply(q(), [x], x.shape, bits=True, key=f"{q.__name__} layer")

    def activation(self, x: T) -> T:
        fn = self.r.choice(["relu", "relu", "tanh", "sigmoid", "linear", "relu_layer", "softmax_layer"])
        if fn == "relu_layer":
            return self.apply(self.L.ReLU(), [x], x.shape, key="ReLU")
        if fn == "softmax_layer":
            return self.apply(self.L.Softmax(), [x], x.shape, key="Softmax")
        return self.apply(self.L.Activation(fn), [x], x.shape, key=f"Activation[{fn}]")

    def spatial_reshape(self, x: T) -> T:
        h, w, c = x.shape
        options = [(w, h, c), (h * w, 1, c), (1, h * w, c), (h, w * c, 1), (h * w * c, 1, 1)]
        shape = self.r.choice(options)
        return self.apply(self.L.Reshape(shape), [x], shape, bits=x.bits, key="Reshape[3d]")

    # ------------------------------------------------------------------ flat layers
    def dense(self, x: T, mode: str, units: int | None = None, act=None) -> T:
        n = x.shape[0]
        units = units or self.channels()
        if mode in ("float", "float_in", "bin_in_float_w"):
            units = max(1, min(units, MAX_FLOAT_WEIGHTS // max(n, 1)))
        use_bias = self.r.random() < 0.5
        if act is None and self.r.random() < 0.1:
            act = self.r.choice(["relu", "tanh", "sigmoid", "ste_sign"])
        act_fn = self.lq.quantizers.get(act) if act == "ste_sign" else act
        if mode == "float":
            layer = self.L.Dense(units, use_bias=use_bias, activation=act_fn)
            key = "Dense"
        else:
            iq = self.sign() if mode in ("bin", "bin_in_float_w") else None
            kq = None if mode == "bin_in_float_w" else self.sign()
            layer = self.lq.layers.QuantDense(units, input_quantizer=iq, kernel_quantizer=kq,
                                              kernel_constraint="weight_clip" if kq else None,
                                              use_bias=use_bias, activation=act_fn)
            key = {"bin": "QuantDense[bin-in,bin-w]", "float_in": "QuantDense[float-in,bin-w]",
                   "bin_in_float_w": "QuantDense[bin-in,float-w]"}[mode]
        if use_bias:
            self.cov["use_bias"] += 1
        if act:
            self.cov[f"activation={act}"] += 1
        k = n if mode == "bin" and act is None else 0
        self.w_init.append((layer, mode, k))
        return self.apply(layer, [x], (units,), bits=act == "ste_sign", acc_k=k, key=key)

    # ------------------------------------------------------------------ shortcuts
    def shortcut(self, x: T) -> T:
        """x + f(x) or concat(x, f(x)); f = [sign] → conv/dense (shape-preserving) → [BN] → [sign]."""
        spatial = len(x.shape) == 3
        if spatial:
            h, w, c = x.shape
            k = self.r.choice([1, 3, 3, 5])
            mode = self.r.choice(["bin", "bin", "float_in"])
            cout = c if self.r.random() < 0.6 else self.channels()
            layer = self.lq.layers.QuantConv2D(
                cout, k, padding="same", pad_values=self.r.choice([0.0, 1.0]),
                input_quantizer=self.sign() if mode == "bin" else None, kernel_quantizer=self.sign(),
                kernel_constraint="weight_clip", use_bias=self.r.random() < 0.3)
            kk = k * k * c if mode == "bin" else 0
            self.w_init.append((layer, mode, kk))
            y = self.apply(layer, [x], (h, w, cout), acc_k=kk,
                           key="QuantConv2D[bin-in,bin-w]" if mode == "bin" else "QuantConv2D[float-in,bin-w]")
        else:
            cout = x.shape[0] if self.r.random() < 0.6 else self.channels()
            y = self.dense(x, self.r.choice(["bin", "float_in"]), units=cout)
        if self.r.random() < 0.8:
            y = self.bn(y)
        if y.shape == x.shape and self.r.random() < 0.6:
            if self.r.random() < 0.2:
                y = self.sign_layer(y)
            return self.apply(self.L.Add(), [x, y], x.shape, key="Add")
        both_bits = self.r.random() < 0.4
        if both_bits:       # concatenation of bit maps stays packed
            if not x.bits:
                x = self.sign_layer(x)
            y = self.sign_layer(y)
        shape = x.shape[:-1] + (x.shape[-1] + y.shape[-1],)
        return self.apply(self.L.Concatenate(), [x, y], shape, bits=x.bits and y.bits,
                          key="Concatenate[bits]" if x.bits and y.bits else "Concatenate")


def _body(b: _Builder, x: T, depth: int) -> T:
    r = b.r
    for _ in range(depth):
        if len(x.shape) in (1, 3) and b.rx.random() < P_EXT:
            x = ext.spatial_op(b, x) if len(x.shape) == 3 else ext.dense_op(b, x)
            x = maybe_glue(b, x, b.rg)
            continue
        if len(x.shape) == 3:
            h, w, c = x.shape
            choices = ["bin_conv"] * 6 + ["float_in_conv", "float_conv", "bin_in_float_w_conv", "bn", "bn",
                                           "maxpool", "avgpool", "sign", "act", "dropout", "reshape"]
            if b.functional:
                choices += ["shortcut"] * 3
            if h * w * c <= 1500:
                choices += ["flatten"]
            if h * w * c > 3000:               # keep maps small: pool or stride them down
                choices = ["maxpool", "avgpool", "bin_conv"]
            op = r.choice(choices)
            if op == "bin_conv":
                x = b.conv(x, "bin")
                if r.random() < 0.7:
                    if r.random() < 0.3:
                        x = b.pool(x, "max")     # max pool between the dot and BN
                    x = b.bn(x)
                elif b.rx.random() < 0.6:
                    # the seed CNN's block: binary conv (+ bias) → average pool, then whatever sign
                    # comes next (passes/fuse_conv_avgpool_sign.py)
                    x = b.pool(x, "avg")
            elif op in ("float_in_conv", "float_conv", "bin_in_float_w_conv"):
                mode = {"float_in_conv": "float_in", "float_conv": "float",
                        "bin_in_float_w_conv": "bin_in_float_w"}[op]
                x = b.conv(x, mode)
                if r.random() < 0.6:
                    x = b.bn(x)
            elif op == "bn":
                x = b.bn(x)
            elif op in ("maxpool", "avgpool"):
                x = b.pool(x, op[:3])
            elif op == "sign":
                x = b.sign_layer(x)
            elif op == "act":
                x = b.activation(x)
            elif op == "dropout":
                x = b.apply(b.L.Dropout(0.3), [x], x.shape, bits=x.bits, acc_k=x.acc_k, key="Dropout")
            elif op == "reshape":
                x = b.spatial_reshape(x)
            elif op == "shortcut":
                x = b.shortcut(x)
            elif op == "flatten":
                x = b.apply(b.L.Flatten(), [x], (h * w * c,), bits=x.bits, key="Flatten")
            x = maybe_glue(b, x, b.rg)
        else:
            n = x.shape[0]
            choices = ["bin_dense"] * 4 + ["float_in_dense", "bin_in_float_w_dense", "float_dense", "bn",
                                            "sign", "act", "dropout"]
            if b.functional:
                choices += ["shortcut"] * 2
            if n <= 1200:
                choices += ["to_spatial"]
            op = r.choice(choices)
            if op.endswith("_dense"):
                x = b.dense(x, op[:-len("_dense")])
                if r.random() < 0.6:
                    x = b.bn(x)
            elif op == "bn":
                x = b.bn(x)
            elif op == "sign":
                x = b.sign_layer(x)
            elif op == "act":
                x = b.activation(x)
            elif op == "dropout":
                x = b.apply(b.L.Dropout(0.2), [x], x.shape, bits=x.bits, key="Dropout")
            elif op == "shortcut":
                x = b.shortcut(x)
            elif op == "to_spatial":
                divs = [d for d in range(1, min(n, 9) + 1) if n % d == 0]
                hh = r.choice(divs)
                rest = n // hh
                ww = r.choice([d for d in range(1, min(rest, 9) + 1) if rest % d == 0])
                x = b.apply(b.L.Reshape((hh, ww, rest // ww)), [x], (hh, ww, rest // ww), bits=x.bits,
                            key="Reshape[flat->3d]")
    return x


def _head(b: _Builder, x: T) -> T:
    r = b.r
    if len(x.shape) == 3:
        if r.random() < 0.1:                       # spatial output: no head at all
            return x
        h, w, c = x.shape
        if r.random() < 0.45 or h * w * c > 4000:
            keep = r.random() < 0.2
            gp = b.L.GlobalMaxPooling2D if b.rg.random() < 0.3 else b.L.GlobalAveragePooling2D
            x = b.apply(gp(keepdims=keep), [x], (1, 1, c) if keep else (c,), key=gp.__name__)
            if keep:
                x = b.apply(b.L.Flatten(), [x], (c,), key="Flatten")
        else:
            x = b.apply(b.L.Flatten(), [x], (h * w * c,), bits=x.bits, key="Flatten")
    classes = r.randint(2, 12)
    mode = r.choice(["bin", "bin", "float", "float_in", "bin_in_float_w"])
    x = b.dense(x, mode, units=classes, act="linear")
    if r.random() < 0.5:
        x = b.bn(x)
    fin = r.choice(["softmax", "softmax", "softmax_layer", "none", "sigmoid", "tanh", "sign"])
    if fin == "softmax_layer":
        return b.apply(b.L.Softmax(), [x], x.shape, key="Softmax")
    if fin == "sign":
        return b.sign_layer(x)
    if fin != "none":
        return b.apply(b.L.Activation(fin), [x], x.shape, key=f"Activation[{fin}]")
    return x


def _random_input_shape(r: random.Random) -> tuple:
    if r.random() < 0.2:
        return (r.choice([1, 2, 7, 31, 32, 33, 64, 65, 100, 130, r.randint(1, 130)]),)
    h = r.choice([1, 2, 3, 4, 5, 6, 7, 8, 9]) if r.random() < 0.3 else r.randint(4, 9)
    w = h if r.random() < 0.6 else r.randint(max(1, h - 3), 9)
    c = r.choice([1, 1, 2, 3, 4]) if r.random() < 0.85 else r.choice([16, 32, 33, 64, 130])
    return (h, w, c)


def generate(seed: int) -> Generated:
    """Build a random model for `seed` (deterministic). See the module docstring."""
    r0 = random.Random(seed ^ 0x5EED)
    functional = r0.random() < 0.6
    b = _Builder(seed, functional)
    keras = b.keras
    shape = _random_input_shape(b.r)
    inp = keras.Input(shape)
    x = T(inp if functional else None, shape)
    b.cov["Functional" if functional else "Sequential"] += 1
    input_dtype = "float32"
    u = b.rx.random()
    if u < P_1D:                                    # a 1-D model: (W, C) input
        w, c = b.rx.randint(3, 40), b.rx.choice([1, 2, 3, 4, 8])
        inp = keras.Input((w, c))
        x = ext.conv1d_model(b, T(inp if functional else None, (w, c)))
        b.cov["1-D model"] += 1
    elif u < P_1D + P_AFFINE:                       # Rescaling / Normalization first
        x, input_dtype = ext.first_affine(b, x, integer=b.rx.random() < 0.5)
    elif b.r.random() < 0.35:
        x = b.sign_layer(x)                         # binarized image, as in the seed paper
    x = _body(b, x, b.r.randint(1, 6))
    x = _head(b, x)
    if functional:
        model = keras.Model(inp, x.kt)
    else:
        if not b.layers:
            b.layers.append(b.L.Dropout(0.1))
        model = keras.Sequential([inp] + b.layers)
    b.cov.update(init_weights(b.w_init, b.bn_init, b.np))
    return Generated(model, seed, b.cov, b.desc, input_dtype)
