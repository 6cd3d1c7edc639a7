"""A random-model sample of the fuzzer under QEMU: each model, exported with the board's kernel
variant, runs on qemu_m4 and qemu_rv32 and must match the host library (built with the _ref
kernels) bit for bit on every input, awkward values included (±0.0, ±1e30, subnormals)."""
from __future__ import annotations

import numpy as np
import pytest

import larq2mcu
from larq2mcu.board import runs as boardrun
from larq2mcu.board import profiles as boards
from larq2mcu import board as targets
from larq2mcu.errors import BoardError
from larq2mcu.dev.fuzz import gen, inputs

SEEDS = range(500, 506)
BOARDS = ["qemu_m4", "qemu_rv32"]


@pytest.mark.toolchain
@pytest.mark.parametrize("board", BOARDS)
def test_random_models_on_board(board, tmp_path):
    b = boards.get_board(board)
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    ran = 0
    for seed in SEEDS:
        m = gen.generate(seed).model
        x = inputs.make_inputs(m.input_shape[1:], 24, np.random.default_rng(seed))
        ref = larq2mcu.export(m, tmp_path / f"ref{seed}", name=f"f{seed}")
        y_host = ref.build_host().predict(x, check_finite=False)
        exp = larq2mcu.export(m, tmp_path / f"v{seed}", name=f"f{seed}", kernel_variant=b.kernel_variant)
        try:
            y_board, _ = boardrun.run_on_board(exp, b, x, expected=y_host)
        except BoardError:          # too large for the board: fine for a random model, say so
            continue
        assert np.array_equal(y_board.view(np.uint32), y_host.view(np.uint32)), f"seed {seed}"
        ran += 1
    assert ran >= 4
