"""Golden snapshots of the generated C (model files, not the copied runtime) for four tiny models
(one with several outputs)
and several kernel variants: a change of the generator shows up as a reviewable diff here.

Regenerate after an intended change with one command:
    L2M_REGEN_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden.py
(then review `git diff tests/golden`). Each case also compiles and runs: the snapshot is real code."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

import model_cases as mc
from larq2mcu._tf import tf_modules

tf, keras, lq = tf_modules()
L = keras.layers
GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("L2M_REGEN_GOLDEN") == "1"


def tiny_bnn():
    """Float-input 1-bit-weight conv → binary 32→32 conv (pad 1: bit-sliced with clz variants) →
    max pool → binary dense 32 (sliced) → binary dense 4 → BN → softmax."""
    return mc._seq((6, 6, 1), [
        lq.layers.QuantConv2D(32, 3, padding="same", kernel_quantizer="ste_sign", use_bias=False),
        L.BatchNormalization(),
        lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, use_bias=False, **mc.BIN),
        L.BatchNormalization(), L.MaxPooling2D(2), L.Flatten(),
        lq.layers.QuantDense(32, use_bias=False, **mc.BIN), L.BatchNormalization(),
        lq.layers.QuantDense(4, use_bias=False, **mc.BIN), L.BatchNormalization(), L.Activation("softmax")])


def multi_out():
    """Several outputs: the float feature map of a float-input conv (also read by the binary conv
    after it), a sign map (read downstream too) and the logits of a binary dense + BN."""
    i = keras.Input((4, 4, 1))
    feat = L.BatchNormalization(name="feat")(
        lq.layers.QuantConv2D(8, 3, padding="same", kernel_quantizer="ste_sign", use_bias=False)(i))
    y = L.BatchNormalization()(lq.layers.QuantConv2D(32, 3, padding="same", use_bias=False, **mc.BIN)(feat))
    s = lq.quantizers.SteSign(name="signs")(y)
    logits = L.BatchNormalization(name="logits")(
        lq.layers.QuantDense(3, use_bias=False, **mc.BIN)(L.Flatten()(L.MaxPooling2D(2)(s))))
    return keras.Model(i, [logits, feat, s])


MODELS = {"tiny_bnn": tiny_bnn, "pooling_mix": mc.pooling_mix, "densenet_concat": mc.densenet_concat,
          "multi_out": multi_out}
CASES = [("tiny_bnn", "ref"), ("tiny_bnn", "usad8"), ("tiny_bnn", "hs"), ("pooling_mix", "ref"),
         ("pooling_mix", "builtin"), ("densenet_concat", "ref"), ("multi_out", "ref")]


def _model(name):
    from larq2mcu.dev import zoo
    keras.backend.clear_session()       # layer names (they reach comments) restart from their first number
    keras.utils.set_random_seed(7)
    return zoo.randomize_bn(MODELS[name](), seed=7)


# Float parameters derived by evaluating the model's own layers in TensorFlow (the float thresholds
# of a float-input layer followed by BN + sign) differ slightly between CPUs (TF's vectorised float
# kernels round differently with AVX-512 and AVX2: measured up to 1.2e-7 absolute on thresholds
# of magnitude ~1), and the model hash in the banner covers them. Snapshots are of the generated
# code, so those literals are compared to 1e-5 relative / 1e-6 absolute and the banner hash is not
# compared; the host run below checks the values against this machine's Keras.
_FLOAT = re.compile(r"-?0x[0-9a-f]\.[0-9a-f]+p[-+]\d+f")
_HASH = re.compile(r"from model [0-9a-f]{16}")


def _same_code(got: str, want: str) -> bool:
    """got == want, except that hex float literals may differ by rounding-level amounts (see above)
    and the banner's model hash may differ."""
    strip = lambda t: _FLOAT.sub("F", _HASH.sub("from model H", t))  # noqa: E731
    if strip(got) != strip(want):
        return False
    fl = lambda t: np.array([float.fromhex(v[:-1]) for v in _FLOAT.findall(t)], np.float64)  # noqa: E731
    return bool(np.allclose(fl(got), fl(want), rtol=1e-5, atol=1e-6))


def test_same_code_tolerates_only_rounding():
    """The snapshot comparison: a last-bit change of a float literal or another banner hash passes;
    code, an integer, a float changed in its 5th digit or a sign change fails."""
    base = "/* from model 0123456789abcdef */ static const float a[2] = { 0x1.8000000000000p+0f, -0x1.0p-2f };"
    assert _same_code(base, base.replace("0123456789abcdef", "fedcba9876543210"))
    assert _same_code(base, base.replace("0x1.8000000000000p+0f", "0x1.8000020000000p+0f"))        # 1 ulp
    assert not _same_code(base, base.replace("0x1.8000000000000p+0f", "0x1.8002000000000p+0f"))    # 2e-5
    assert not _same_code(base, base.replace("-0x1.0p-2f", "0x1.0p-2f"))
    assert not _same_code(base, base.replace("a[2]", "b[2]"))
    assert not _same_code(base, base.replace("a[2] = {", "a[2] = { 0x1.0p+0f,"))


@pytest.mark.parametrize("model,variant", CASES, ids=[f"{m}-{v}" for m, v in CASES])
def test_generated_c_matches_snapshot(tmp_path, model, variant):
    import larq2mcu
    m = _model(model)
    exp = larq2mcu.export(m, tmp_path / "out", name="gold", kernel_variant=variant)
    own = {f: t for f, t in exp.files.items() if f.startswith("gold") and f.endswith((".c", ".h"))}
    d = GOLDEN / f"{model}_{variant}"
    if REGEN:
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for f, t in own.items():
            (d / f).write_text(t)
    want = {p.name: p.read_text() for p in sorted(d.iterdir())} if d.is_dir() else {}
    assert sorted(own) == sorted(want), f"files differ from tests/golden/{d.name} (regenerate: see module doc)"
    for f in own:
        assert _same_code(own[f], want[f]), f"{f} differs from tests/golden/{d.name}/{f} (regenerate: see module doc)"
    host = exp.build_host()
    x = mc.inputs(m, 8, seed=1)
    y, yk = host.predict(x), m.predict(x, verbose=0)
    for a, b in zip(*((y, yk) if isinstance(y, list) else ([y], [yk]))):    # several outputs: each
        np.testing.assert_allclose(a, b, atol=2.5e-4, rtol=2.5e-4)
