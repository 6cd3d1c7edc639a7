"""Models with several outputs (issue 13): a classifier + an auxiliary head, an intermediate
feature map returned beside the logits (and read by later layers), a binary (sign) output read
downstream, the same tensor returned twice, outputs in non-topological order. Each exports, the
host library returns one array per output (model order) and agrees with Keras — binary outputs
and every binary tensor bit for bit, float outputs within verify's tolerance — the documented C
API (`<name>_invoke` with one pointer per output, `_invoke_checked`, `_invoke_all`) is exercised
from C, and one model runs under QEMU bit-identical to the host library."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import larq2mcu
import model_cases as mc
from larq2mcu import verify
from larq2mcu._tf import tf_modules
from larq2mcu.errors import ModelStructureError, UnsupportedOutputError

tf, keras, lq = tf_modules()
L = keras.layers


def _trunk(i):
    """Float-input 1-bit-weight conv → BN (float feature map 'feat') → binary conv → BN."""
    x = lq.layers.QuantConv2D(32, 3, padding="same", kernel_quantizer="ste_sign", use_bias=False)(i)
    feat = L.BatchNormalization(name="feat")(x)
    y = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, use_bias=False, **mc.BIN)(feat)
    return feat, L.BatchNormalization()(y)


def two_heads():
    """A softmax classifier and a binary auxiliary head, both from the flattened binary features."""
    i = keras.Input((6, 6, 1))
    _, y = _trunk(i)
    f = L.Flatten()(L.MaxPooling2D(2)(y))
    cls = L.Activation("softmax", name="classes")(
        L.BatchNormalization()(lq.layers.QuantDense(10, use_bias=False, **mc.BIN)(f)))
    aux = L.BatchNormalization(name="aux/head")(lq.layers.QuantDense(3, use_bias=False, **mc.BIN)(f))
    return keras.Model(i, [cls, aux])


def feature_and_logits():
    """The float feature map 'feat' (also read by the next binary conv) and the logits."""
    i = keras.Input((6, 6, 1))
    feat, y = _trunk(i)
    logits = L.BatchNormalization(name="logits")(
        lq.layers.QuantDense(4, use_bias=False, **mc.BIN)(L.Flatten()(L.MaxPooling2D(2)(y))))
    return keras.Model(i, [feat, logits])


def binary_output():
    """A sign map (a quantizer layer: ±1 floats in Keras, bits in the C) that later layers read,
    returned after the logits; and the logits' float input, also returned."""
    i = keras.Input((6, 6, 2))
    _, y = _trunk(i)
    s = lq.quantizers.SteSign(name="signs")(y)
    pre = lq.layers.QuantDense(5, use_bias=False, **mc.BIN)(L.Flatten()(L.MaxPooling2D(2)(s)))
    logits = L.BatchNormalization(name="logits")(pre)
    return keras.Model(i, [logits, s, pre])


def duplicate():
    """The same tensor twice (Keras names the second 'logits_1') with a feature map between."""
    i = keras.Input((6, 6, 1))
    feat, y = _trunk(i)
    logits = L.BatchNormalization(name="logits")(
        lq.layers.QuantDense(4, use_bias=False, **mc.BIN)(L.Flatten()(L.MaxPooling2D(2)(y))))
    return keras.Model(i, [logits, feat, logits])


MODELS = {"two_heads": two_heads, "feature_and_logits": feature_and_logits, "binary_output": binary_output,
          "duplicate": duplicate}


def _build(name, seed=0):
    from larq2mcu.dev import zoo
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    return zoo.randomize_bn(MODELS[name](), seed=seed)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    res = {}
    for name in MODELS:
        m = _build(name)
        exp = larq2mcu.export(m, tmp_path_factory.mktemp(name) / "out", name="mo")
        res[name] = (m, exp, exp.build_host())
    return res


@pytest.mark.parametrize("name", list(MODELS))
def test_every_output_matches_keras(exported, name):
    m, exp, host = exported[name]
    x = mc.inputs(m, 24, seed=2)
    yc, yk = host.predict(x), m.predict(x, verbose=0)
    assert isinstance(yc, list) and len(yc) == len(m.outputs) == len(yk)
    for i, (c, k) in enumerate(zip(yc, yk)):
        assert c.shape == k.shape, (i, c.shape, k.shape)
        if exp.graph.tensors[exp.graph.outputs[i]].dtype == larq2mcu.ir.BITS:
            assert set(np.unique(k)) <= {-1.0, 1.0}
            assert np.array_equal(c, k), f"binary output {m.output_names[i]} differs"
        else:
            np.testing.assert_allclose(c, k, atol=verify.FLOAT_ATOL, rtol=verify.FLOAT_RTOL)
    ag = verify.compare(exp, host, x)
    assert ag.ok and ag.bit_mismatches == 0, ag.summary()
    assert list(ag.outputs) == list(m.output_names)
    assert all(within for _, within in ag.outputs.values())
    summary = ag.summary()
    for n in m.output_names:
        assert f"output {n}" in summary


def test_binary_output_is_bits_in_the_c(exported):
    _, exp, _ = exported["binary_output"]
    g = exp.graph
    assert [g.tensors[t].dtype for t in g.outputs] == [larq2mcu.ir.F32, larq2mcu.ir.BITS, larq2mcu.ir.F32]
    assert "l2m_dequantize_b32_f32_ref(" in exp.files["mo.c"]        # bits → ±1 floats into out_signs


@pytest.mark.parametrize("name", list(MODELS))
def test_planner_keeps_every_output_to_the_end(exported, name):
    _, exp, _ = exported[name]
    g, plan = exp.graph, exp.plan
    for t in g.outputs:
        owner = plan.alias[t]
        assert plan.lifetimes[owner][1] == len(g.ops), (t, plan.lifetimes[owner])
    # no buffer written after an output was produced may overlap it
    for t in g.outputs:
        o = plan.alias[t]
        off, size = plan.offsets[o], g.tensors[o].nbytes
        for u, (f, _) in plan.lifetimes.items():
            if u != o and f > plan.lifetimes[o][0]:
                uo, us = plan.offsets[u], g.tensors[u].nbytes
                assert uo + us <= off or off + size <= uo, (t, u)


def test_header_names_every_output(exported):
    m, exp, _ = exported["two_heads"]
    h = exp.files["mo.h"]
    assert "#define MO_NUM_OUTPUTS 2" in h
    assert "#define MO_OUTPUT_CLASSES 0" in h and "#define MO_OUTPUT_AUX_HEAD 1" in h
    assert "#define MO_OUTPUT0_LEN 10" in h and "#define MO_OUTPUT1_LEN 3" in h
    assert "#define MO_OUTPUT1_OFFSET 10" in h and "#define MO_OUTPUTS_LEN 13" in h
    assert "#define MO_OUTPUT_AUX_HEAD_SHAPE MO_OUTPUT1_SHAPE" in h
    assert "int mo_invoke(const float *input, float *out_classes, float *out_aux_head, void *arena);" in h
    assert "MO_OUTPUT_LEN" not in h            # no single-output macro that would mean only one of them
    _, dup, _ = exported["duplicate"]
    assert "float *out_logits, float *out_feat, float *out_logits_1," in dup.files["mo.h"]


def test_manifest_and_reports_list_every_output(exported, tmp_path):
    m, exp, _ = exported["feature_and_logits"]
    man = json.loads((exp.out_dir / "larq2mcu.json").read_text())
    assert [(o["name"], o["shape"]) for o in man["outputs"]] == [("feat", [6, 6, 32]), ("logits", [4])]
    assert [o["param"] for o in man["outputs"]] == ["out_feat", "out_logits"]
    text = exp.report()
    assert "outputs: 2" in text and "out_feat" in text and "MO_OUTPUT_LOGITS_LEN" in text
    from larq2mcu import report as rep
    assert "outputs: 2" in rep.report_dir(exp.out_dir)
    from larq2mcu import html_report
    html_report.write_html(exp, tmp_path / "r.html")
    assert "2 outputs: feat 6×6×32, logits 4" in (tmp_path / "r.html").read_text()


C_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "l2m_kernels.h"
#include "mo.h"
static uint64_t arena[(MO_ARENA_SIZE + 7) / 8];
static float x[MO_INPUT_LEN], feat[MO_OUTPUT_FEAT_LEN], logits[MO_OUTPUT_LOGITS_LEN], all[MO_OUTPUTS_LEN];
int main(void) {
    size_t i;
    const unsigned int want_rank[2] = { MO_OUTPUT0_RANK, MO_OUTPUT1_RANK };
    if (fread(x, sizeof x, 1, stdin) != 1) return 10;
    if (mo_invoke(x, feat, logits, arena) != 0) return 11;
    if (mo_invoke_checked(x, feat, logits, arena, sizeof arena) != 0) return 12;
    /* outputs overlapping one another, or the arena: refused, nothing written */
    if (mo_invoke_checked(x, all, all + 1, arena, sizeof arena) != L2M_ERR_OVERLAP) return 13;
    if (mo_invoke_checked(x, feat, (float *)(void *)arena, arena, sizeof arena) != L2M_ERR_OVERLAP) return 14;
    if (mo_invoke_checked(x, feat, NULL, arena, sizeof arena) != L2M_ERR_NULL) return 15;
    if (mo_invoke_checked(x, feat, logits, arena, sizeof arena - 8) != L2M_ERR_ARENA_SIZE) return 16;
    if (mo_invoke_all(x, all, arena) != 0) return 17;
    if (memcmp(all + MO_OUTPUT_FEAT_OFFSET, feat, sizeof feat) != 0) return 18;
    if (memcmp(all + MO_OUTPUT_LOGITS_OFFSET, logits, sizeof logits) != 0) return 19;
    if (want_rank[MO_OUTPUT_FEAT] != 3u || want_rank[MO_OUTPUT_LOGITS] != 1u) return 20;
    /* an output buffer may be the input buffer (outputs are written after the last layer) */
    if (mo_invoke_checked(x, feat, x, arena, sizeof arena) != 0) return 21;
    if (memcmp(x, logits, sizeof logits) != 0) return 22;
    for (i = 0; i < MO_OUTPUTS_LEN; i++) printf("%08x\n", *(const unsigned int *)(const void *)&all[i]);
    return 0;
}
"""


def test_c_api_from_c(exported, tmp_path):
    """The header's API as a user calls it: per-output pointers, the checks of _invoke_checked
    (overlap between outputs, an output in the arena, NULL, short arena), _invoke_all's layout,
    an output written over the input; the outputs bit-identical to the host library's."""
    m, exp, host = exported["feature_and_logits"]
    src = tmp_path / "main.c"
    src.write_text(C_MAIN)
    exe = tmp_path / "main"
    from larq2mcu.host import compiler
    cmd = [compiler(), "-std=c99", "-O1", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-ffp-contract=off",
           "-fno-strict-aliasing", "-I", str(exp.out_dir), str(src),
           *sorted(str(p) for p in exp.out_dir.glob("*.c")), "-o", str(exe), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    x = mc.inputs(m, 4, seed=5)[3:4]
    run = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True)
    assert run.returncode == 0, run.returncode
    got = np.array([int(v, 16) for v in run.stdout.split()], np.uint32)
    feat, logits = host.predict(x)
    want = np.concatenate([feat.reshape(-1), logits.reshape(-1)]).view(np.uint32)
    assert np.array_equal(got, want)


def test_single_output_unchanged(tmp_path):
    m = mc.build("dense_mix")
    exp = larq2mcu.export(m, tmp_path / "out", name="one")
    y = exp.build_host().predict(mc.inputs(m, 4))
    assert isinstance(y, np.ndarray) and y.shape == (4,) + tuple(m.output_shape[1:])
    h = exp.files["one.h"]
    assert "NUM_OUTPUTS" not in h and "_invoke_all" not in h
    assert "int one_invoke(const float *input, float *output, void *arena);" in h


def test_output_that_is_the_input_is_refused():
    i = keras.Input((4,))
    d = lq.layers.QuantDense(3, use_bias=False, **mc.BIN)(i)
    m = keras.Model(i, [d, i])
    from larq2mcu import frontend
    with pytest.raises(UnsupportedOutputError) as e:
        frontend.to_ir(m)
    assert e.value.index == 1 and e.value.output == m.output_names[1]
    assert f"'{m.output_names[1]}'" in str(e.value)
    assert isinstance(e.value, ModelStructureError)


def test_clashing_output_identifiers_are_refused():
    from larq2mcu.codegen.lower import output_idents
    assert output_idents(["aux/head", "aux-head", "9x"]) == ["AUX_HEAD", "AUX_HEAD_1", "_9X"]
    with pytest.raises(UnsupportedOutputError, match="'a_len'"):
        output_idents(["a", "a_len"])


@pytest.mark.toolchain
def test_emulated_board_prints_every_output(exported):
    """qemu_m4: the harness runs <name>_invoke_all, prints all outputs and checks them against the
    host library's (embedded as expected values) bit for bit."""
    from larq2mcu import board as targets
    from larq2mcu.board import profiles, runs
    b = profiles.load_boards()["qemu_m4"]
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    m, _, _ = exported["binary_output"]
    exp = larq2mcu.export(m, exported["binary_output"][1].out_dir.parent / "m4", name="mo",
                          kernel_variant=b.kernel_variant)
    x = mc.inputs(m, 6, seed=3)
    y_host = exported["binary_output"][2].predict(x)
    y_board, results = runs.run_on_board(exp, b, x, expected=y_host)
    assert all(r.exit_code == 0 for r in results)
    assert isinstance(y_board, list) and len(y_board) == 3
    for a, c in zip(y_board, y_host):
        assert a.shape == c.shape and np.array_equal(a.view(np.uint32), c.view(np.uint32))
    cmp = runs.compare_on_board(exp, b, x, y_host)
    assert cmp.ok and cmp.outputs.shape == (6, sum(v[0].size for v in y_host))


def test_verify_names_the_output_that_differs(exported, monkeypatch):
    """A wrong value in the second output (the first one right) fails verify, naming that output."""
    import dataclasses
    m, exp, host = exported["two_heads"]
    x = mc.inputs(m, 8, seed=1)
    c = verify.run_comparison(exp, host, x)
    assert [s[0] for s in c.segments] == list(m.output_names) and c.y_c.shape == (8, 13)
    y = c.y_c.copy()
    y[2, 11] += 1.0                                   # aux/head[1] of sample 2
    monkeypatch.setattr(verify, "run_comparison", lambda *a, **k: dataclasses.replace(c, y_c=y))
    ag = verify.compare(exp, host, x)
    assert not ag.ok and not ag.outputs["aux/head"][1] and ag.outputs["classes"][1]
    assert [i.sample for i in ag.failures] == [2] and "output 'aux/head'" in ag.failures[0].detail


def _qemu(name="qemu_m4"):
    from larq2mcu import board as targets
    from larq2mcu.board import profiles
    b = profiles.load_boards()[name]
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    return b


@pytest.mark.toolchain
def test_serial_validation_and_latency_of_several_outputs(exported, tmp_path):
    """`validate --emulated` over the CMSDK UART: the board replies with every output (all of them,
    concatenated) bit-identical to the host library; `run`'s instruction counter sees one whole
    inference through <name>_invoke_all."""
    pytest.importorskip("elftools")
    from larq2mcu.board import latency, runs
    from larq2mcu.board.validate import on_target
    b = _qemu()
    m, _, _ = exported["duplicate"]
    exp = larq2mcu.export(m, tmp_path / "lib", name="mo", kernel_variant=b.kernel_variant)
    x = mc.inputs(m, 3, seed=4)
    y_host = exp.build_host().predict(x)
    v = on_target(exp.out_dir, exp.name, b, x, runs.flat_outputs(y_host, len(x)), emulated=True,
                  workdir=tmp_path / "w", rows=exp.rows())
    assert v.ok and v.identical.all() and len(v.replies) == len(x)
    assert len(v.replies[0].outputs) == sum(y[0].size for y in y_host) == 4 + 6 * 6 * 32 + 4
    d = latency.measure(exp, b, tmp_path / "lat", sample=x[0])
    views = {i for i, op in enumerate(exp.graph.ops) if larq2mcu.ir.is_view(exp.graph, op)}   # no code
    assert views and all((r["instructions"] > 0) == (r["index"] not in views) for r in d["layers"])
    # the output copies (a 4.6 KB memcpy of 'feat' among them) run after the last op: counted with it
    assert d["layers"][-1]["instructions"] > 6 * 6 * 32 // 4
    assert d["total"] == sum(r["instructions"] for r in d["layers"]) + d["glue"]


@pytest.fixture(scope="module")
def saved_two_heads(tmp_path_factory):
    """A two-output model at the digits' 8×8×1, saved as .keras (what the CLI reads)."""
    from larq2mcu.dev import zoo
    keras.backend.clear_session()
    keras.utils.set_random_seed(4)
    i = keras.Input((8, 8, 1))
    _, y = _trunk(i)
    f = L.Flatten()(L.MaxPooling2D(2)(y))
    cls = L.Activation("softmax", name="classes")(
        L.BatchNormalization()(lq.layers.QuantDense(10, use_bias=False, **mc.BIN)(f)))
    aux = L.BatchNormalization(name="aux")(lq.layers.QuantDense(3, use_bias=False, **mc.BIN)(f))
    m = zoo.randomize_bn(keras.Model(i, [cls, aux]), seed=4)
    p = tmp_path_factory.mktemp("cli") / "two.keras"
    m.save(p)
    return p


def _cli(*args):
    import sys
    return subprocess.run([sys.executable, "-m", "larq2mcu.cli", *map(str, args)], capture_output=True, text=True)


def test_cli_verify_and_export_of_several_outputs(saved_two_heads, tmp_path):
    r = _cli("verify", saved_two_heads, "--data", "digits", "-n", "40")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "AGREE" in r.stdout and "output classes" in r.stdout and "output aux " in r.stdout
    r = _cli("export", saved_two_heads, "-o", tmp_path / "out", "--name", "two")
    assert r.returncode == 0, r.stderr
    assert "outputs: 2" in r.stdout and "TWO_OUTPUT_AUX_LEN" in r.stdout
    r = _cli("report", tmp_path / "out")
    assert r.returncode == 0 and "outputs: 2" in r.stdout


@pytest.mark.toolchain
def test_cli_run_on_qemu_with_several_outputs(saved_two_heads):
    _qemu("qemu_m3")
    r = _cli("run", saved_two_heads, "--board", "qemu_m3", "--data", "digits", "-n", "8")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bit-identical to the host library: yes" in r.stdout
