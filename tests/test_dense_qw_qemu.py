"""The fixed-point dense engine (l2mi_dense_qw, l2m_float_impl.h) on the cores that run its
Thumb-2 row loop (Cortex-M3, M4 under QEMU) and on ones that run the C form (Cortex-M55, whose
MVE build keeps it; Cortex-M0, the cases that fit its flash),
with the sizes as constants as generated code runs it: 1 to 18 input words, groups, tails of
the 6- and 8-output blocks, a second tile (131 outputs), inputs of every density (none set,
half, all) give the floats of l2m_dense_qw_b32_f32_ref on the same core, bit for bit — and
numpy's fixed-point value (layout/fixed.py) too.

A tiny program embeds the cases, runs _ref and the engine on each and returns every output word
as two exact 16-bit floats."""
from __future__ import annotations

import numpy as np
import pytest

from larq2mcu import bits
from larq2mcu import board as targets
from larq2mcu.board.profiles import get_board
from larq2mcu.layout import fixed
from larq2mcu.paths import runtime_dir

# (groups, c, out_n, density of set input bits)
CASES = [(1, 8, 1, 0.5), (1, 31, 7, 0.5), (1, 33, 9, 1.0), (3, 63, 17, 0.5), (36, 16, 120, 0.5),
         (1, 576, 10, 0.0), (2, 33, 131, 0.5), (1, 64, 6, 0.9), (1, 32, 12, 0.1), (4, 40, 25, 0.5)]


def _arr(name, ctype, v):
    return f"static const {ctype} {name}[{max(v.size, 1)}] = {{{','.join(f'0x{int(u):08x}u' for u in v)}}};"


def _program(out, rng, cases):
    """(net folder, [(offset, n, numpy's floats)] per case; the engine's outputs follow _ref's)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in runtime_dir().iterdir():
        if f.suffix in (".c", ".h"):
            (out / f.name).write_bytes(f.read_bytes())
    decls, fns, calls, spans, at = [], [], [], [], 0
    for i, (groups, c, n, d) in enumerate(cases):
        pm = np.where(rng.random((groups, c)) < d, -1, 1).astype(np.int8)
        fx = fixed.quantize(rng.normal(0, 1, (groups * c, n)).astype(np.float32))
        assert fx is not None
        bias = rng.normal(0, 3, n).astype(np.float32)
        want = (fixed.value(fx, pm.reshape(-1)) + bias).astype(np.float32)
        decls += [_arr(f"x{i}", "uint32_t", bits.pack(pm).reshape(-1)),
                  _arr(f"w{i}", "uint32_t", np.asarray(fx.w, np.int32).reshape(-1).view(np.uint32)),
                  _arr(f"s{i}", "uint32_t", np.asarray(fx.wsum, np.int32).view(np.uint32)),
                  _arr(f"q{i}", "uint32_t", np.asarray(fx.scale, np.float32).view(np.uint32)),
                  _arr(f"b{i}", "uint32_t", bias.view(np.uint32))]
        ptrs = (f"const int32_t *w = (const int32_t *)(const void *)w{i}, *s = (const int32_t *)(const void *)s{i};\n"
                f"    const float *q = (const float *)(const void *)q{i}, *b = (const float *)(const void *)b{i};")
        fns.append(f"static void qw{i}(float *ref, float *eng) {{\n    {ptrs}\n"
                   f"    l2m_dense_qw_b32_f32_ref({groups}, {c}, {n}, x{i}, w, s, q, b, ref);\n"
                   f"    l2mi_dense_qw({groups}, {c}, {n}, x{i}, w, s, q, l2m_out_float(eng, b));\n}}")
        calls.append(f"    qw{i}(o + {at}, o + {at + n});")
        spans.append((at, n, want))
        at += 2 * n
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
@pytest.mark.parametrize("board", ["qemu_m3", "qemu_m4", "qemu_m55", "qemu_m0"])
def test_dense_qw_on_qemu(tmp_path, board):
    b = get_board(board)
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    cases = [k for k in CASES if board != "qemu_m0" or k[0] * k[1] * k[2] <= 4096]   # the M0 board's flash is small
    spans = _program(tmp_path / "src", np.random.default_rng(3), cases)
    elf = targets.build(tmp_path / "src", b, np.zeros((1, 1), np.float32), None, tmp_path / "build")
    r = targets.run(elf, b, timeout=120).check()
    got = np.asarray(r.outputs[0], np.float64)
    words = (got[0::2] + 65536 * got[1::2]).astype(np.uint32)
    for (at, n, want), case in zip(spans, cases):
        ref, eng = words[at:at + n], words[at + n:at + 2 * n]
        assert np.array_equal(ref, want.view(np.uint32)), f"{case}: _ref differs from layout/fixed.py's value"
        assert np.array_equal(eng, ref), f"{case}: {np.count_nonzero(eng != ref)} of {n} outputs differ from _ref"
