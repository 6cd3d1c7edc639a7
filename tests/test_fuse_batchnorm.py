"""passes/fuse_batchnorm.py: a float BatchNorm computed in the producing dot's epilogue is bit-identical
to the unfused export (the same float32 operations in the same order as l2m_batchnorm_f32_ref), for
every kernel variant and every engine that writes floats: the float conv and dense (first layers),
the 1-bit-weight conv on a float input, the XOR/popcount conv and dense, the densely packed
few-channel conv, and the bit-sliced engine's count readback (32·k filters, +1 padding). Channel
counts cross the word boundaries (1, 3, 31, 32, 33, 63, 64, 128), stride 2, same and valid; every
BatchNorm has random statistics with γ < 0, γ = 0 and never-crossing channels (zoo.randomize_bn).
The C also agrees with Keras (verify.compare)."""
from __future__ import annotations

import numpy as np
import pytest

import model_cases as mc
import larq2mcu
from larq2mcu import frontend, ir, passes, reference, verify
from larq2mcu.dev import zoo
from larq2mcu.passes.fuse_batchnorm import fuse_batchnorm

L = mc.L
VARIANTS = ("ref", "hs", "clz", "usad8", "zbb", "builtin")
UNFUSED = tuple(p for p in passes.PIPELINE if p is not fuse_batchnorm)


def _bn_tanh():
    return [L.BatchNormalization(), L.Activation("tanh")]   # tanh: the BN is not folded into a sign


def every_float_epilogue():
    """One model through every float-output engine, each followed by BatchNorm → tanh (tanh keeps
    the BatchNorm a float op) — the final Dense → BatchNorm is the graph output."""
    def qconv(c, stride=1, padding="same", pad=1.0):
        return mc.lq.layers.QuantConv2D(c, 3, strides=stride, padding=padding, pad_values=pad, use_bias=False,
                                        **mc.BIN)
    layers = [L.Conv2D(8, 3, padding="same"), *_bn_tanh(),                               # float conv + bias
              mc.lq.layers.QuantConv2D(3, 3, padding="same", kernel_quantizer="ste_sign", use_bias=False),
              *_bn_tanh(),                                                               # 1-bit weights, float in
              qconv(1), *_bn_tanh(),                                                     # packed few-channel
              qconv(31, padding="valid"), *_bn_tanh(),
              qconv(32, stride=2), *_bn_tanh(),                                          # sliced, stride 2
              qconv(33, pad=0.0), *_bn_tanh(),                                           # zero padding
              qconv(63, padding="valid"), *_bn_tanh(),
              qconv(64), *_bn_tanh(),                                                    # sliced
              qconv(128), *_bn_tanh(),
              L.Flatten(),
              mc.lq.layers.QuantDense(64, use_bias=False, **mc.BIN), *_bn_tanh(),         # sliced dense
              mc.lq.layers.QuantDense(33, **mc.BIN), *_bn_tanh(),                         # + bias
              L.Dense(10), L.BatchNormalization()]                                        # float dense, output
    return zoo.randomize_bn(mc._seq((9, 9, 3), layers), seed=7)


@pytest.fixture(scope="module")
def model():
    m = every_float_epilogue()
    return m, mc.inputs(m, 12, seed=7)


def _export(m, out, variant, fused, monkeypatch):
    run = passes.run_pipeline
    with monkeypatch.context() as mp:
        if not fused:
            mp.setattr(passes, "run_pipeline", lambda g, p=UNFUSED: run(g, UNFUSED))
        return larq2mcu.export(m, out, name="fz", force=True, kernel_variant=variant)


def test_every_batchnorm_is_fused(model):
    m, x = model
    g = passes.run_pipeline(frontend.to_ir(m))
    assert not [op for op in g.ops if isinstance(op, ir.BatchNorm)]
    assert sum(getattr(op, "bn", None) is not None for op in g.ops) == 12
    g0 = passes.run_pipeline(frontend.to_ir(m), UNFUSED)
    assert np.array_equal(reference.run(g, x), reference.run(g0, x))


@pytest.mark.parametrize("variant", VARIANTS)
def test_fused_is_bit_identical_to_unfused(model, variant, tmp_path, monkeypatch):
    m, x = model
    fused = _export(m, tmp_path / "f", variant, True, monkeypatch)
    plain = _export(m, tmp_path / "u", variant, False, monkeypatch)
    src = (tmp_path / "f" / "fz.c").read_text()
    assert ("l2m_out_float_bn" in src) == (variant != "ref")          # the epilogue form is what runs
    assert src.count("l2m_batchnorm_f32_ref(") == (12 if variant == "ref" else 0)
    if variant in ("clz", "usad8", "zbb"):
        assert "sliced_b32_f32" in src                                  # the count readback is covered
    hf, hu = fused.build_host(), plain.build_host()
    bns = {layer.name for layer in m.layers if isinstance(layer, L.BatchNormalization)}
    bn_out = [t for t, tt in fused.graph.tensors.items() if tt.origin is not None and tt.origin.layer in bns]
    assert len(bn_out) == 12 and all(t in plain.graph.tensors for t in bn_out)
    a, b = hf.intermediates(x, bn_out), hu.intermediates(x, bn_out)
    for t in bn_out:
        assert np.array_equal(a[t].view(np.uint32), b[t].view(np.uint32)), t      # bit for bit, −0.0 too
    assert np.array_equal(hf.predict(x).view(np.uint32), hu.predict(x).view(np.uint32))
    ag = verify.compare(fused, hf, x)
    assert ag.ok, ag


def test_scaled_dot_keeps_its_batchnorm():
    """A binary dot with an output scale (magnitude-aware ±α) writes floats through its own scale kernel:
    not fused (the pass leaves the BatchNorm)."""
    m = zoo.randomize_bn(mc._seq((6, 6, 3), [
        mc.lq.layers.QuantConv2D(8, 3, input_quantizer="ste_sign", kernel_quantizer="magnitude_aware_sign",
                                 use_bias=False), L.BatchNormalization(), L.Activation("tanh")]), seed=3)
    g = passes.run_pipeline(frontend.to_ir(m))
    assert [op for op in g.ops if isinstance(op, ir.BatchNorm)]


@pytest.mark.toolchain
@pytest.mark.parametrize("board,variant", [("qemu_m4", "usad8"), ("qemu_rv32_zbb", "zbb"), ("qemu_m0", "hs")])
def test_fused_on_qemu_matches_host_unfused_ref(model, tmp_path, monkeypatch, board, variant):
    """The fused epilogues on the target ISA (USADA8, Zbb cpop, soft float on M0): outputs bit-identical
    to the host's unfused `_ref` export."""
    from larq2mcu.board import profiles as boards
    from larq2mcu.board import runs as boardrun
    from larq2mcu import board as targets
    b = boards.get_board(board)
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    m, x = model
    y_ref = _export(m, tmp_path / "u", "ref", False, monkeypatch).build_host().predict(x[:3])
    exp = _export(m, tmp_path / "f", variant, True, monkeypatch)
    assert "l2m_out_float_bn" in exp.files["fz.c"]
    y, results = boardrun.run_on_board(exp, b, x[:3], expected=y_ref)
    assert all(r.exit_code == 0 for r in results)
    assert np.array_equal(y.view(np.uint32), y_ref.view(np.uint32))
