"""The float conv / dense engines (l2m_float_impl.h) on the cores that run their Thumb-2 + FPU
form (a full block's tap as vldm + 8 vmul + 8 vadd: Cortex-M4, M7, M33 under QEMU) and on the
Cortex-M55, whose MVE build runs the C form vectorised by the compiler, with
each layer's sizes as constants, as generated code runs them: convs of 1, 3 and 8 input channels
and 8, 13, 16 and 3 filters (full blocks, a tail, no full block), 3x3 / 1x1, stride 1 / 2, 'same'
(pad 0 and pad 1.0) / 'valid', and dense layers, on values with infinities, NaNs and subnormals
in them, give the bits of the _ref kernels on the same core (NaNs compared as NaNs).

A tiny program embeds the cases, runs _ref and the engine on each and returns every output word
as two exact 16-bit floats."""
from __future__ import annotations

import numpy as np
import pytest

import kernel_harness as H
from larq2mcu import board as targets
from larq2mcu.board.profiles import get_board
from larq2mcu.paths import runtime_dir

# (h, w, in_c, out_c, k, stride, padding, pad_value)
CONVS = [(5, 5, 1, 8, 3, 1, "same", 0.0), (6, 5, 3, 16, 3, 2, "same", 0.0), (4, 4, 8, 13, 3, 1, "valid", 0.0),
         (5, 3, 3, 3, 3, 1, "same", 1.0), (3, 3, 8, 16, 1, 1, "valid", 0.0), (7, 6, 3, 16, 3, 2, "valid", 0.0)]
DENSES = [(9, 8), (33, 16), (20, 13), (5, 3)]       # (in_n, out_n)


def _floats(rng, n):
    x = rng.normal(0, 1, n).astype(np.float32)
    pick = rng.random(n) < 0.005          # rare: most windows stay finite
    x[pick] = rng.choice(np.array([np.inf, -np.inf, np.nan, 1e-40, -1e-40, 0.0, -0.0, 3e38], np.float32),
                         int(pick.sum()))
    return x


def _arr(name, v):
    return f"static const uint32_t {name}[{max(v.size, 1)}] = {{{','.join(f'0x{int(u):08x}u' for u in v.view(np.uint32))}}};"


def _program(out, rng):
    """(net folder, [(offset, length)] of each case's ref outputs; the engine's follow them)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in runtime_dir().iterdir():
        if f.suffix in (".c", ".h"):
            (out / f.name).write_bytes(f.read_bytes())
    decls, fns, calls, spans, at = [], [], [], [], 0
    for i, (h, w, ic, oc, k, st, pad, pv) in enumerate(CONVS):
        g, _ = H.geom(h, w, ic, oc, k, k, st, st, pad)
        fields = ", ".join(str(getattr(g, f)) for f, _ in H.Geom._fields_)
        x, wt, b = _floats(rng, h * w * ic), _floats(rng, k * k * ic * oc), _floats(rng, oc)
        decls += [_arr(f"cx{i}", x), _arr(f"cw{i}", wt), _arr(f"cb{i}", b)]
        n = g.out_h * g.out_w * oc
        fns.append(f"static void conv{i}(float *ref, float *eng) {{\n"
                   f"    const l2m_geom g = {{ {fields} }};\n"
                   f"    const float *x = (const float *)(const void *)cx{i}, *w = (const float *)(const void *)cw{i};\n"
                   f"    const float *b = (const float *)(const void *)cb{i};\n"
                   f"    l2m_conv2d_f32_f32_ref(&g, {float(pv)!r}f, x, w, b, ref);\n"
                   f"    l2mi_conv_f32(&g, {float(pv)!r}f, x, w, l2m_out_float(eng, b));\n}}")
        calls.append(f"    conv{i}(o + {at}, o + {at + n});")
        spans.append((at, n))
        at += 2 * n
    for i, (n_in, n_out) in enumerate(DENSES):
        x, wt, b = _floats(rng, n_in), _floats(rng, n_in * n_out), _floats(rng, n_out)
        decls += [_arr(f"dx{i}", x), _arr(f"dw{i}", wt), _arr(f"db{i}", b)]
        fns.append(f"static void dense{i}(float *ref, float *eng) {{\n"
                   f"    const float *x = (const float *)(const void *)dx{i}, *w = (const float *)(const void *)dw{i};\n"
                   f"    const float *b = (const float *)(const void *)db{i};\n"
                   f"    l2m_dense_f32_f32_ref({n_in}, {n_out}, x, w, b, ref);\n"
                   f"    l2mi_dense_f32({n_in}, {n_out}, x, w, l2m_out_float(eng, b));\n}}")
        calls.append(f"    dense{i}(o + {at}, o + {at + n_out});")
        spans.append((at, n_out))
        at += 2 * n_out
    (out / "net.h").write_text(
        "#ifndef NET_H\n#define NET_H\n#include <stdint.h>\n#define NET_ARENA_SIZE 8\n#define NET_INPUT_LEN 1\n"
        f"#define NET_OUTPUT_LEN {2 * at}\n#define NET_NUM_OPS 1\n"
        "int net_invoke(const float *input, float *output, void *arena);\n"
        "int net_invoke_partial(const float *input, void *arena, int32_t n_ops);\n#endif\n")
    (out / "net_weights.h").write_text("/* test program: no weights */\n")
    (out / "net.c").write_text("\n".join([
        '#include "l2m_float_impl.h"', '#include "net.h"', *decls, *fns,
        "int net_invoke(const float *input, float *output, void *arena) {",
        f"    static float o[{at}];", "    (void)input; (void)arena;", *calls,
        f"    for (int i = 0; i < {at}; ++i) {{",
        "        union { float f; uint32_t u; } v;", "        v.f = o[i];",
        "        output[2 * i] = (float)(v.u & 0xFFFFu);", "        output[2 * i + 1] = (float)(v.u >> 16);", "    }",
        "    return 0;", "}",
        "/* the harness times layers with it; this program has one \"layer\": nothing to stop at */",
        "int net_invoke_partial(const float *input, void *arena, int32_t n_ops) {",
        "    (void)input; (void)arena; (void)n_ops;", "    return 0;", "}", ""]))
    return spans


@pytest.mark.toolchain
@pytest.mark.parametrize("board", ["qemu_m4", "qemu_m7", "qemu_m33", "qemu_m55"])
def test_float_engines_on_qemu(tmp_path, board):
    b = get_board(board)
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    spans = _program(tmp_path / "src", np.random.default_rng(5))
    elf = targets.build(tmp_path / "src", b, np.zeros((1, 1), np.float32), None, tmp_path / "build")
    r = targets.run(elf, b, timeout=120).check()
    got = np.asarray(r.outputs[0], np.float64)
    words = (got[0::2] + 65536 * got[1::2]).astype(np.uint32)
    for (at, n), case in zip(spans, [*CONVS, *DENSES]):
        ref, eng = words[at:at + n], words[at + n:at + 2 * n]
        fr, fe = ref.view(np.float32), eng.view(np.float32)
        same = (ref == eng) | (np.isnan(fr) & np.isnan(fe))
        assert same.all(), f"{case}: {np.count_nonzero(~same)} of {n} outputs differ from _ref"
        assert np.isfinite(fr).any(), f"{case}: no finite output (the case tests nothing)"
