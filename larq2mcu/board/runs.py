"""Exports on boards: run under QEMU in chunks, and write PlatformIO projects.

`run_on_board` embeds samples in the harness, so a board with little flash (qemu_m0: 256 KiB)
gets them in several builds; chunk size = what fits in half the flash beside the model.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import profiles as _boards
from ..errors import BoardError


def get(board):
    """`board` itself when it is a Board, else the profile of that name (get_board)."""
    return board if isinstance(board, _boards.Board) else _boards.get_board(board)


def emulated_twin(board):
    """The emulated board that runs `board`'s code: itself when emulated, else the qemu_* board
    of boards.yaml with the same cpu (a Cortex-M0+ falls back to the M0: both ARMv6-M), carrying
    `board`'s cflags and kernel variant; None when there is none (Xtensa LX6/LX7)."""
    import dataclasses
    b = get(board)
    if b.emulated:
        return b
    emulated = [e for e in _boards.load_boards().values() if e.emulated and e.arch == b.arch]
    for cpu in (b.cpu, b.cpu.replace("plus", "")):
        match = next((e for e in emulated if e.cpu == cpu), None)
        if match is not None:
            return dataclasses.replace(match, cflags=b.cflags, kernel_variant=b.kernel_variant)
    return None


def footprint(exp) -> tuple:
    """(flash bytes of constant data, RAM bytes of the arena) the model itself needs."""
    return exp.weight_bytes, exp.plan.arena_size


def check_fit(exp, board) -> None:
    """BoardError with need vs have when weights + arena cannot fit the board (an estimate
    without code and stack; `exact_fit` links the image where a toolchain exists)."""
    b = get(board)
    flash, ram = footprint(exp)
    fit = _boards.fits(b, flash, ram)
    if not fit:
        raise BoardError(f"model '{exp.name}' does not fit {b.name}: {fit.message}")


def fit_message(board, flash: int, ram: int, detail_flash: str, detail_ram: str) -> str:
    """'fits <board>: flash x of y B (p %, what), RAM x of y B (p %, what)' or 'does not fit'."""
    b = get(board)
    ok = flash <= b.flash and ram <= b.ram
    return (f"{'fits' if ok else 'does NOT fit'} {b.name}: flash {flash:,} of {b.flash:,} B "
            f"({100 * flash / b.flash:.1f} %, {detail_flash}), RAM {ram:,} of {b.ram:,} B "
            f"({100 * ram / b.ram:.1f} %, {detail_ram})")


def exact_fit(exp, board, workdir=None) -> str:
    """Link the image (harness with one sample + board glue) with the board's toolchain and check
    its real flash (every loaded section: code, weights, constants) and static RAM (data + bss)
    against the board; without a toolchain fall back to `check_fit`'s estimate. Returns the
    "fits …" message; raises BoardError when it does not fit (also from the linker's overflow)."""
    from .. import board as targets
    from . import latency
    b = get(board)
    if targets.toolchain_available(b) is not None:
        check_fit(exp, b)
        flash, ram = footprint(exp)
        return fit_message(b, flash, ram, "weights only: no cross compiler to link code",
                           "arena only")
    check_fit(exp, b)      # weights + arena alone too large: say so before linking anything
    with tempfile.TemporaryDirectory(prefix=f"l2m-fit-{b.name}-") as tmp:
        x = np.zeros((1, exp.graph.tensors[exp.graph.inputs[0]].numel), np.float32)
        try:
            elf = targets.build(exp.out_dir, b, x, None, Path(workdir or tmp) / "fit")
        except BoardError as e:          # the linker's overflow: code + weights + harness
            raise BoardError(f"model '{exp.name}' does not fit {b.name}: {e}") from None
        flash, ram = latency.flash_ram(latency.sections(elf, targets.resolve_toolchain(b).prefix))
    msg = fit_message(b, flash, ram, "linked image: code + weights", "data + bss, stack not measured")
    if flash > b.flash or ram > b.ram:
        raise BoardError(f"model '{exp.name}' {msg}")
    return msg


def flat_outputs(y, n: int) -> np.ndarray:
    """Outputs of n samples as (n, floats) float32: one array as it is, or — a model with several
    outputs, a list as host.predict returns it — every output flattened and concatenated per
    sample, in model order (what the board harness prints: `<name>_invoke_all`'s buffer)."""
    if isinstance(y, (list, tuple)):
        return np.concatenate([np.asarray(v, np.float32).reshape(n, -1) for v in y], axis=1)
    return np.asarray(y, np.float32).reshape(n, -1)


def split_outputs(exp, y: np.ndarray):
    """Inverse of `flat_outputs` for `exp`'s graph: (n, floats) → (n, *shape), or a list of those
    (one per output) for a model with several outputs."""
    g = exp.graph
    n = len(y)
    shapes = [tuple(g.tensors[t].shape) for t in g.outputs]
    if len(shapes) == 1:
        return np.asarray(y, np.float32).reshape((n,) + shapes[0])
    res, start = [], 0
    for shape in shapes:
        k = int(np.prod(shape, dtype=np.int64))
        res.append(np.asarray(y[:, start:start + k], np.float32).reshape((n,) + shape))
        start += k
    return res


def chunk_size(exp, board, n: int) -> int:
    """Samples per firmware image: min(n, (flash/2 − weight bytes) // (4·(inputs + 2·outputs))), at least 1."""
    b = get(board)
    flash_budget = b.link_map()[1] // 2 - footprint(exp)[0]
    outs = sum(exp.graph.tensors[t].numel for t in exp.graph.outputs)
    per = 4 * (exp.graph.tensors[exp.graph.inputs[0]].numel + 2 * outs)
    return int(max(1, min(n, flash_budget // max(per, 1))))


def run_on_board(exp, board, x, expected=None, timeout: float = 120.0, workdir=None, on_build=None):
    """Run the export on an emulated board for every sample of x; return (outputs, results);
    outputs as host.predict returns them (a list of arrays for a model with several outputs).

    `expected` (defaults to nothing) is embedded and checked bit for bit by the guest itself.
    `on_build(done, total)` is called after each build + run (progress display)."""
    from .. import board as targets
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
            exp_chunk = None if expected is None else flat_outputs(expected, len(x))[i:i + step]
            elf = targets.build(exp.out_dir, b, x[i:i + step], exp_chunk, Path(workdir or tmp) / f"c{i}")
            res = targets.run(elf, b, timeout=timeout).check()
            outs.extend(res.outputs)
            results.append(res)
            if on_build is not None:
                on_build(len(results), -(-len(x) // step))
    total = sum(exp.graph.tensors[t].numel for t in exp.graph.outputs)
    return split_outputs(exp, np.stack(outs).astype(np.float32).reshape(len(x), total)), results


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between float32 arrays (sign-magnitude → integers)."""
    ia = np.ascontiguousarray(a, np.float32).view(np.int32).astype(np.int64)
    ib = np.ascontiguousarray(b, np.float32).view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return np.abs(ia - ib)


@dataclass
class BoardComparison:
    """What `compare_on_board` found: the board's outputs against the host library's (a model with
    several outputs: all of them, flattened and concatenated per sample, see `flat_outputs`)."""
    board: str
    outputs: np.ndarray
    host_outputs: np.ndarray
    results: list
    seconds: float

    @property
    def identical(self) -> np.ndarray:
        """Per sample: every output float bit for bit equal to the host library's."""
        n = len(self.outputs)
        return np.all(self.outputs.reshape(n, -1).view(np.uint32) == self.host_outputs.reshape(n, -1).view(np.uint32),
                      axis=1)

    @property
    def max_ulps(self) -> int:
        """Largest ulp distance between a board output and the host's; 0 when there are no outputs."""
        return int(ulps(self.outputs, self.host_outputs).max()) if self.outputs.size else 0

    @property
    def class_agreement(self) -> float | None:
        """Fraction of samples whose argmax equals the host's; None for a single-output model."""
        n = len(self.outputs)
        a, b = self.outputs.reshape(n, -1), self.host_outputs.reshape(n, -1)
        return float(np.mean(a.argmax(1) == b.argmax(1))) if a.shape[1] > 1 else None

    @property
    def ok(self) -> bool:
        """The runtime brings its own expf/tanhf, so every target must match the host exactly."""
        return bool(self.identical.all())

    def summary(self) -> str:
        """One line: samples, seconds, bit-identical count, max ulp distance, argmax agreement."""
        n = len(self.outputs)
        cls = self.class_agreement
        return (f"{n} samples in {self.seconds:.1f} s: {int(self.identical.sum())}/{n} outputs bit-identical to the "
                f"host library (max {self.max_ulps} ulp apart)"
                + (f", argmax agreement {100 * cls:.2f} %" if cls is not None else ""))


def compare_on_board(exp, board, x, host_outputs, timeout: float = 120.0, workdir=None,
                     on_build=None) -> BoardComparison:
    """THE build → run → compare path (demo, `larq2mcu run`, the tests): cross-compile the export
    with the samples x, run them on the emulated board, compare every output with the host
    library's `host_outputs` bit for bit (the guest gets no expected values, so a difference is
    reported, not a failed run)."""
    import time
    t0 = time.time()
    y, results = run_on_board(exp, board, x, expected=None, timeout=timeout, workdir=workdir, on_build=on_build)
    if isinstance(y, list):         # several outputs: compare all of them, concatenated per sample
        y, host = flat_outputs(y, len(x)), flat_outputs(host_outputs, len(x))
    else:
        host = np.asarray(host_outputs, np.float32).reshape(y.shape)
    return BoardComparison(get(board).name, y, host, results, time.time() - t0)


def project_files(exp, board, samples, expected, labels=None, emulated_envs: bool = False,
                  out_dir=None) -> dict:
    """{relative path: text} of a PlatformIO project for `exp` on `board`.

    platformio.ini is the user's: when `out_dir` holds one that differs from what larq2mcu last
    wrote there (its sha256 in the manifest's "platformio_ini_sha256"), it is kept as is and the
    fresh one is written beside it as platformio.l2m.ini."""
    import hashlib

    from .. import outdir

    from . import platformio
    b = get(board)
    with tempfile.TemporaryDirectory(prefix="l2m-pio-") as tmp:
        proj = Path(tmp) / "proj"
        platformio.write_project(proj, exp.out_dir, exp.name, b, _boards.load_boards(),
                                 samples=samples, expected=expected, labels=labels,
                                 emulated_envs=emulated_envs)
        files = {p.relative_to(proj).as_posix(): p.read_text() for p in sorted(proj.rglob("*")) if p.is_file()}
    old = Path(out_dir) / "platformio.ini" if out_dir is not None else None
    if old is not None and old.is_file():
        mine = (outdir.read_manifest(Path(out_dir)) or {}).get("platformio_ini_sha256")
        text = old.read_text()
        if hashlib.sha256(text.encode()).hexdigest() != mine and text != files["platformio.ini"]:
            files["platformio.l2m.ini"] = files["platformio.ini"]
            files["platformio.ini"] = text
    return files


def ini_hash(files: dict) -> str:
    """sha256 of the platformio.ini larq2mcu generated in `files` (see project_files)."""
    import hashlib
    return hashlib.sha256(files.get("platformio.l2m.ini", files["platformio.ini"]).encode()).hexdigest()
