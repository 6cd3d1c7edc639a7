"""The bit-sliced engine on the cores that run its hand-written Thumb-2 counting loop
(l2m_sliced_count_t2: Cortex-M3, M4, M55 under QEMU), on one that runs the C loop with clz
(rv32+Zbb) and on two that run it with the de Bruijn row selection (Cortex-M0, rv32imc):
dense layers of every awkward size — 1 to 72 words, 1 to 3 blocks of filters — and inputs of
every density (none set, nearly none, half, nearly all, all: both selections, both parities, the
sentinel's padding rows, counts of 8, 16, 24, ... rows) give exactly the host's bits, and with
float outputs exactly the accumulators.

A tiny program embeds the cases, runs l2mi_dense_sliced on each and returns every output word as
two exact 16-bit floats; the expected words come from the reference dot product in numpy."""
from __future__ import annotations

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile

from larq2mcu import bits

from larq2mcu import board as targets
from larq2mcu.board.profiles import get_board
from larq2mcu.layout import sliced
from larq2mcu.layout import weights as wt
from larq2mcu.paths import runtime_dir

# (words of input, filters, density)
CASES = [(n, oc, d) for n, oc in ((1, 32), (2, 64), (3, 32), (9, 96), (17, 32), (72, 64))
         for d in (0.0, 0.02, 0.5, 0.97, 1.0)]


def _arr(name, ctype, v):
    return f"static const {ctype} {name}[{len(v)}] = {{{','.join(f'0x{int(x):08x}u' for x in v)}}};"


def _program(out, rng):
    """(net folder, expected output words)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in runtime_dir().iterdir():
        if f.suffix in (".c", ".h"):
            (out / f.name).write_bytes(f.read_bytes())
    decls, calls, expected, fcalls, fexpected = [], [], [], [], []
    for i, (n, oc, d) in enumerate(CASES):
        k = 32 * n
        x = np.where(rng.random(k) < d, -1, 1).astype(np.int8)
        w = np.where(rng.random((k, oc)) < 0.5, -1, 1).astype(np.int8)
        std = wt.pack_dense(w, (1, k)).reshape(oc, -1)
        acc = x.astype(np.int32) @ w.astype(np.int32)
        thr = np.clip(acc + rng.integers(-2, 3, oc), -k - 3, k + 3).astype(np.int32)
        expected.append(bits.pack(np.where(acc < thr, -1, 1).astype(np.int8)).reshape(-1))
        decls += [_arr(f"x{i}", "uint32_t", bits.pack(x).reshape(-1)), _arr(f"w{i}", "uint32_t", sliced.rows(std)),
                  _arr(f"p{i}", "uint32_t", sliced.planes(std, thr, k)),
                  _arr(f"k{i}", "int32_t", sliced.popcounts(std).view(np.uint32))]
        fcalls.append((f"    l2mi_dense_sliced(L2M_MODE_HS, 1, {k}, {oc}, x{i}, w{i}, k{i}, "
                       "l2m_out_float(output + {words} + " f"{sum(map(len, fexpected))}, NULL));"))
        fexpected.append(acc.astype(np.float32))
        calls.append(f"    l2mi_dense_sliced(L2M_MODE_HS, 1, {k}, {oc}, x{i}, w{i}, NULL, "
                     f"l2m_out_bits_planes(o + {sum(map(len, expected[:-1]))}, p{i}));")
    words = int(sum(map(len, expected)))
    floats = int(sum(map(len, fexpected)))
    (out / "net.h").write_text(
        "#ifndef NET_H\n#define NET_H\n#include <stdint.h>\n#define NET_ARENA_SIZE 8\n#define NET_INPUT_LEN 1\n"
        f"#define NET_OUTPUT_LEN {2 * words + floats}\n#define NET_NUM_OPS 1\n"
        "int net_invoke(const float *input, float *output, void *arena);\n"
        "int net_invoke_partial(const float *input, void *arena, int32_t n_ops);\n#endif\n")
    (out / "net_weights.h").write_text("/* test program: no weights */\n")
    (out / "net.c").write_text("\n".join([
        '#include "l2m_sliced_impl.h"', '#include "net.h"', *decls,
        "int net_invoke(const float *input, float *output, void *arena) {",
        f"    uint32_t o[{words}];", "    (void)input; (void)arena;", *calls,
        f"    for (int i = 0; i < {words}; ++i) {{",
        "        output[2 * i] = (float)(o[i] & 0xFFFFu);", "        output[2 * i + 1] = (float)(o[i] >> 16);", "    }",
        *(f.replace("{words}", str(2 * words)) for f in fcalls), "    return 0;", "}",
        "/* the harness times layers with it; this program has one \"layer\": nothing to stop at */",
        "int net_invoke_partial(const float *input, void *arena, int32_t n_ops) {",
        "    (void)input; (void)arena; (void)n_ops;", "    return 0;", "}", ""]))
    return np.concatenate(expected).astype(np.uint32), np.concatenate(fexpected)


@pytest.mark.toolchain
@pytest.mark.parametrize("board", ["qemu_m3", "qemu_m4", "qemu_m55", "qemu_rv32_zbb", "qemu_m0", "qemu_rv32"])
def test_sliced_engine_on_qemu(tmp_path, board):
    b = get_board(board)
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    want, want_f = _program(tmp_path / "src", np.random.default_rng(42))
    elf = targets.build(tmp_path / "src", b, np.zeros((1, 1), np.float32), None, tmp_path / "build")
    with open(elf, "rb") as f:
        names = {s.name for s in ELFFile(f).get_section_by_name(".symtab").iter_symbols()}
    thumb2, noclz = board in ("qemu_m3", "qemu_m4", "qemu_m55"), board in ("qemu_m0", "qemu_rv32")
    assert ("l2m_sliced_count_t2" in names) == thumb2, "Thumb-2 loop linked where it should be"
    # cores without clz select rows through the de Bruijn table (L2M_HW_CLZ 0); the others never link it
    assert any(n.startswith(("row_of", "l2mi_sl_next.row_of")) for n in names) == noclz, "row selection"
    r = targets.run(elf, b, timeout=120).check()
    got = np.asarray(r.outputs[0], np.float64)
    got, got_f = got[:2 * want.size], got[2 * want.size:].astype(np.float32)
    words = (got[0::2] + 65536 * got[1::2]).astype(np.uint32)
    assert np.array_equal(got_f.view(np.uint32), want_f.view(np.uint32)), "float outputs differ"
    assert words.shape == want.shape
    bad = np.nonzero(words != want)[0]
    assert bad.size == 0, f"{bad.size} output words differ, first at word {bad[0]}"
