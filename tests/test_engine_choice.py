"""Per-layer engine choice (larq2mcu/ops/engine_choice.py, issue #14): the cost model covers every
sliced variant, the exporter follows it layer by layer, either engine can be forced, and the
choice changes no output bit (the engines are bit-identical: tests/test_spec_kernels.py)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import model_cases as mc
from larq2mcu.ops import engine_choice
from larq2mcu.variants import VARIANTS, get_variant

KEYS = {(e, k, o) for e in ("sliced", "plain") for k in ("conv", "dense") for o in ("bits", "float", "float_bn")}


def test_costs_cover_every_sliced_variant():
    """A sliced variant without fitted costs would silently keep the sliced engine everywhere."""
    for v in VARIANTS.values():
        if v.sliced:
            assert set(engine_choice.COSTS.get(v.name, {})) == KEYS, v.name
            assert all(min(c) >= 0 and max(c) > 0 for c in engine_choice.COSTS[v.name].values()), v.name


def _dense_float(n_in, n_out):
    """sign(x) → binary Dense with float outputs: a layer both engines take."""
    return mc._seq((n_in,), [mc.lq.layers.QuantDense(n_out, use_bias=False, **mc.BIN)])


def _engine(exp) -> str:
    c = (exp.out_dir / f"{exp.name}.c").read_text()
    return "sliced" if "_dense_sliced_b32_f32_" in c else "plain" if "_dense_b32_f32_" in c else "?"


def test_auto_follows_the_estimates_and_forcing_wins(tmp_path):
    """2048 → 32 float dense: on rv32+Zbb the plain cpop loop is estimated ≥ 10 % faster, on the
    Cortex-M4 (usad8) the sliced engine is; engines="sliced"/"plain" force either."""
    import larq2mcu
    m = _dense_float(2048, 32)
    est = {v: {e: engine_choice.estimate(v, e, "dense", "float", 2048, 1, 32) for e in ("sliced", "plain")}
           for v in ("zbb", "usad8")}
    assert est["zbb"]["plain"] < engine_choice.PLAIN_MARGIN * est["zbb"]["sliced"]
    assert est["usad8"]["sliced"] < est["usad8"]["plain"]
    assert _engine(larq2mcu.export(m, tmp_path / "z", name="m", kernel_variant="zbb")) == "plain"
    assert _engine(larq2mcu.export(m, tmp_path / "u", name="m", kernel_variant="usad8")) == "sliced"
    for eng in ("sliced", "plain"):
        v = dataclasses.replace(get_variant("zbb"), engines=eng)
        exp = larq2mcu.export(m, tmp_path / eng, name="m", kernel_variant=v)
        assert _engine(exp) == eng and exp.lowered.variant.name == "zbb"


@pytest.mark.parametrize("variant", ["zbb", "clz"])
def test_chosen_engines_compute_what_ref_computes(tmp_path, variant):
    """A model whose layers may go to different engines under `auto` gives the ref export's floats
    bit for bit (on zbb the 2048 → 32 float dense runs plain, the bits-out layers sliced; on clz all sliced)."""
    import larq2mcu
    m = mc._seq((256,), [mc.lq.layers.QuantDense(64, use_bias=False, **mc.BIN), mc.L.BatchNormalization(),
                         mc.lq.layers.QuantDense(2048, use_bias=False, **mc.BIN), mc.L.BatchNormalization(),
                         mc.lq.layers.QuantDense(32, use_bias=False, **mc.BIN)])
    from larq2mcu.dev import zoo
    zoo.randomize_bn(m, seed=3)
    x = np.random.default_rng(3).normal(size=(16, 256)).astype(np.float32)
    ref = larq2mcu.export(m, tmp_path / "r", name="m").build_host().predict(x)
    got = larq2mcu.export(m, tmp_path / "v", name="m", kernel_variant=variant).build_host().predict(x)
    assert np.array_equal(ref.view(np.uint32), got.view(np.uint32))


def _small_models():
    """[(name, model, small layers)]: a seed-CNN-style first layer (1 channel, 3×3 valid, bias, float
    out) and a thresholded one (1 channel, 3×3 same with zero padding, 40 filters: not whole blocks
    of 32, so no sliced engine) before a binary conv it feeds."""
    kw = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
    q = mc.lq.layers.QuantConv2D
    f = mc._seq((11, 9, 1), [q(16, 3, padding="valid", use_bias=True, **kw)])
    b = mc._seq((9, 7, 1), [q(40, 3, padding="same", use_bias=False, **kw), mc.L.BatchNormalization(),
                            q(8, 3, padding="same", pad_values=1.0, use_bias=False, **kw)])
    from larq2mcu.dev import zoo
    return [("float", zoo.randomize_bn(f, seed=4)), ("bits", zoo.randomize_bn(b, seed=5))]


@pytest.mark.parametrize("variant", ["hs", "usad8", "zbb", "clz", "builtin"])
def test_small_window_engine_is_chosen_and_exact(tmp_path, variant):
    """1-channel 3×3 binary convs run the small-window table engine (l2m_small_impl.h) on every
    specialised variant but `builtin` (the XOR+popcount baseline) and give the ref export's outputs
    bit for bit; engines="plain" leaves it out."""
    import larq2mcu
    for name, m in _small_models():
        x = np.random.default_rng(6).normal(size=(8, *m.input_shape[1:])).astype(np.float32)
        ref = larq2mcu.export(m, tmp_path / f"r_{name}", name="m").build_host().predict(x)
        exp = larq2mcu.export(m, tmp_path / f"v_{name}", name="m", kernel_variant=variant)
        c = (exp.out_dir / "m.c").read_text()
        out = "f32" if name == "float" else "b32"
        assert (f"m_op1_conv2d_small_b32_{out}_{variant}(" in c) == (variant != "builtin"), (name, variant)
        got = exp.build_host().predict(x)
        assert np.array_equal(ref.view(np.uint32), got.view(np.uint32)), (name, variant)
        if variant != "builtin":
            v = dataclasses.replace(get_variant(variant), engines="plain")
            c = (larq2mcu.export(m, tmp_path / f"p_{name}", name="m", kernel_variant=v).out_dir / "m.c").read_text()
            assert "_conv2d_small_" not in c and "m_op1_conv2d_packed_b32_" in c, (name, variant)
