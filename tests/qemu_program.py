"""A tiny bare-metal program for a kernel test on an emulated core: the runtime plus a net.c whose
net_invoke runs the test's calls into `static uint32_t o[n]` (`of` is the same buffer as floats)
and returns every word as two exact 16-bit floats, built and run on a board of boards.yaml.
For tests (not a test file itself): tests/test_glue_qemu.py, test_float_qemu.py,
test_dense_qw_qemu.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from larq2mcu import board as targets
from larq2mcu.board.profiles import get_board
from larq2mcu.paths import runtime_dir


def array(name: str, v) -> str:
    """A `static const uint32_t` C array of the 32-bit values v (their bit patterns; one 0 if empty)."""
    u = np.ascontiguousarray(v).reshape(-1).view(np.uint32)
    u = u if u.size else np.zeros(1, np.uint32)
    return f"static const uint32_t {name}[{u.size}] = {{{','.join(f'0x{int(x):08x}u' for x in u)}}};"


def _write(src: Path, includes, decls, calls, n: int) -> None:
    src.mkdir(parents=True, exist_ok=True)
    for f in runtime_dir().iterdir():
        if f.suffix in (".c", ".h"):
            (src / f.name).write_bytes(f.read_bytes())
    (src / "net.h").write_text(
        "#ifndef NET_H\n#define NET_H\n#include <stdint.h>\n#define NET_ARENA_SIZE 8\n#define NET_INPUT_LEN 1\n"
        f"#define NET_OUTPUT_LEN {2 * n}\n#define NET_NUM_OPS 1\n"
        "int net_invoke(const float *input, float *output, void *arena);\n"
        "int net_invoke_partial(const float *input, void *arena, int32_t n_ops);\n#endif\n")
    (src / "net_weights.h").write_text("/* test program: no weights */\n")
    (src / "net.c").write_text("\n".join([
        *(f'#include {h}' for h in includes), '#include "net.h"', *decls,
        "int net_invoke(const float *input, float *output, void *arena) {",
        f"    static uint32_t o[{max(n, 1)}];", "    float *const of = (float *)(void *)o;",
        "    (void)input; (void)arena; (void)of;", *calls,
        f"    for (int i = 0; i < {n}; ++i) {{",
        "        output[2 * i] = (float)(o[i] & 0xFFFFu);", "        output[2 * i + 1] = (float)(o[i] >> 16);", "    }",
        "    return 0;", "}",
        "/* the harness times layers with it; this program has one \"layer\": nothing to stop at */",
        "int net_invoke_partial(const float *input, void *arena, int32_t n_ops) {",
        "    (void)input; (void)arena; (void)n_ops;", "    return 0;", "}", ""]))


def run(tmp_path: Path, board: str, includes, decls, calls, n: int) -> np.ndarray:
    """The n output words of the program on `board` (skips the test when its toolchain or QEMU
    is missing). includes: header names with their quotes or brackets; decls: file-scope C;
    calls: statements of net_invoke writing o[0 .. n-1]."""
    b = get_board(board)
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    _write(tmp_path / "src", includes, decls, calls, n)
    elf = targets.build(tmp_path / "src", b, np.zeros((1, 1), np.float32), None, tmp_path / "build")
    got = np.asarray(targets.run(elf, b, timeout=120).check().outputs[0], np.float64)
    assert got.size == 2 * n
    return (got[0::2] + 65536 * got[1::2]).astype(np.uint32)
