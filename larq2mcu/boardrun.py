"""Exports on boards: run under QEMU in chunks, and write PlatformIO projects.

`run_on_board` embeds samples in the harness, so a board with little flash (qemu_m0: 256 KiB)
gets them in several builds; chunk size = what fits in half the flash beside the model.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from . import boards as _boards
from .errors import BoardError


def get(board):
    return board if isinstance(board, _boards.Board) else _boards.get_board(board)


def footprint(exp) -> tuple:
    """(flash bytes of constant data, RAM bytes of the arena) the model itself needs."""
    return exp.weight_bytes, exp.plan.arena_size


def check_fit(exp, board) -> None:
    """BoardError with need vs have when weights + arena cannot fit the board."""
    b = get(board)
    flash, ram = footprint(exp)
    fit = _boards.fits(b, flash, ram)
    if not fit:
        raise BoardError(f"model '{exp.name}' does not fit {b.name}: {fit.message}")


def chunk_size(exp, board, n: int) -> int:
    b = get(board)
    flash_budget = b.link_map()[1] // 2 - footprint(exp)[0]
    per = 4 * (exp.graph.tensors[exp.graph.inputs[0]].numel + 2 * exp.graph.tensors[exp.graph.outputs[0]].numel)
    return int(max(1, min(n, flash_budget // max(per, 1))))


def run_on_board(exp, board, x, expected=None, timeout: float = 120.0, workdir=None):
    """Run the export on an emulated board for every sample of x; return (outputs, results).

    `expected` (defaults to nothing) is embedded and checked bit for bit by the guest itself."""
    from . import targets
    b = get(board)
    if not b.emulated:
        raise BoardError(f"board {b.name} is not emulated; use an emulated board (qemu_*) to run")
    check_fit(exp, b)
    targets.require_toolchain(b, emulator=True)
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    step = chunk_size(exp, b, len(x))
    outs, results = [], []
    with tempfile.TemporaryDirectory(prefix=f"l2m-{b.name}-") as tmp:
        for i in range(0, len(x), step):
            exp_chunk = None if expected is None else np.asarray(expected, np.float32).reshape(len(x), -1)[i:i + step]
            elf = targets.build(exp.out_dir, b, x[i:i + step], exp_chunk, Path(workdir or tmp) / f"c{i}")
            res = targets.run(elf, b, timeout=timeout).check()
            outs.extend(res.outputs)
            results.append(res)
    shape = (len(x),) + tuple(exp.graph.tensors[exp.graph.outputs[0]].shape)
    return np.stack(outs).astype(np.float32).reshape(shape), results


def project_files(exp, board, samples, expected) -> dict:
    """{relative path: text} of a PlatformIO project for `exp` on `board`."""
    from . import platformio
    b = get(board)
    with tempfile.TemporaryDirectory(prefix="l2m-pio-") as tmp:
        proj = Path(tmp) / "proj"
        platformio.write_project(proj, exp.out_dir, exp.name, b, _boards.load_boards(),
                                 samples=samples, expected=expected)
        return {str(p.relative_to(proj)): p.read_text() for p in sorted(proj.rglob("*")) if p.is_file()}
