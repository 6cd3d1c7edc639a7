"""The glue layers in generated models: ZeroPadding2D, ReLU(max_value, negative_slope, threshold),
LeakyReLU, PReLU and, in Functional models, Multiply / Subtract / Maximum / Minimum with a per-channel
(1, 1, C) map, TF operators (x·s + c, tf.pad, tf.clip_by_value) and Lambda layers (channel
split / reorder / concat, x + channel-padded slice, identity: frontend/lambda_graph.py). Drawn from their own
random stream (`rng`), so the choices of the rest of the generator keep their meaning per seed."""
from __future__ import annotations

import random


def maybe_glue(b, x, rng: random.Random, p: float = 0.25):
    """With probability p, one glue layer on spatial tensor x (a gen.T); returns the new T."""
    if len(x.shape) != 3 or rng.random() >= p:
        return x
    from ..._tf import tf_modules
    T = type(x)                 # gen.T (not imported: gen imports this module)
    tf = tf_modules()[0]
    L, keras = b.L, b.keras
    h, w, c = x.shape
    kinds = ["zeropad", "zeropad", "relu", "leaky", "prelu"]
    if b.functional:
        kinds += ["merge", "merge", "tfop", "tfpad", "lambda"]
    kind = rng.choice(kinds)
    if kind == "zeropad":
        t, bo, l, r = (rng.choice([0, 0, 1, 1, 2]) for _ in range(4))
        return b.apply(L.ZeroPadding2D(((t, bo), (l, r))), [x], (h + t + bo, w + l + r, c), key="ZeroPadding2D")
    if kind == "relu":
        kw = dict(max_value=rng.choice([None, 6.0, 1.5]), negative_slope=rng.choice([0.0, 0.0, 0.1]),
                  threshold=rng.choice([0.0, 0.0, 0.5]))
        return b.apply(L.ReLU(**kw), [x], x.shape, key="ReLU[" + ",".join(k for k, v in kw.items() if v) + "]")
    if kind == "leaky":
        return b.apply(L.LeakyReLU(rng.choice([0.01, 0.2, 0.3])), [x], x.shape, key="LeakyReLU")
    if kind == "prelu":
        shared = rng.choice([[1, 2], None])
        init = keras.initializers.Constant(round(rng.uniform(-0.5, 1.5), 3))
        return b.apply(L.PReLU(alpha_initializer=init, shared_axes=shared), [x], x.shape,
                       key=f"PReLU[{'channel' if shared else 'full'}]")
    if kind == "merge":
        s = L.GlobalMaxPooling2D(keepdims=rng.random() < 0.7)(x.kt)
        cls = rng.choice([L.Multiply, L.Multiply, L.Subtract, L.Maximum, L.Minimum])
        b.cov["GlobalMaxPooling2D"] += 1
        args = [x.kt, s] if rng.random() < 0.5 else [s, x.kt]
        b.cov[f"{cls.__name__}[broadcast]"] += 1
        b.desc.append(f"{cls.__name__}{list(x.shape)}")
        return T(cls()(args), x.shape)
    if kind == "tfop":
        s, k = round(rng.uniform(-2, 2), 2), round(rng.uniform(-1, 1), 2)
        y = x.kt * s + k if rng.random() < 0.5 else tf.clip_by_value(x.kt - k, -1.0, 2.0)
        b.cov["TFOpLambda[arith]"] += 1
        b.desc.append(f"TFOpLambda{list(x.shape)}")
        return T(y, x.shape)
    if kind == "lambda":
        return _lambda(b, x, rng, tf)
    t, bo, l, r = (rng.choice([0, 1, 2]) for _ in range(4))
    y = tf.pad(x.kt, [[0, 0], [t, bo], [l, r], [0, 0]])
    b.cov["TFOpLambda[pad]"] += 1
    b.desc.append(f"TFOpLambda[pad]{[h + t + bo, w + l + r, c]}")
    return T(y, (h + t + bo, w + l + r, c))


def _lambda(b, x, rng: random.Random, tf):
    """A shape-preserving Lambda: channel groups reversed (tf.split → tf.concat), x plus its
    channels from k on padded back to C in front (MeliusNet's improvement merge), or the identity."""
    c = x.shape[-1]
    form = rng.choice(["split", "padadd", "identity"])
    if form == "split":
        n = rng.choice([d for d in range(1, c + 1) if c % d == 0][-3:])
        fn = lambda t, n=n: tf.concat(tf.split(t, n, axis=-1)[::-1], axis=-1)  # noqa: E731
    elif form == "padadd":
        k = rng.randrange(c)
        fn = lambda t, k=k: t + tf.pad(t[..., k:], [[0, 0], [0, 0], [0, 0], [k, 0]])  # noqa: E731
    else:
        fn = lambda t: t  # noqa: E731
    return b.apply(b.L.Lambda(fn), [x], x.shape, key=f"Lambda[{form}]")
