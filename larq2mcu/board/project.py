"""CLI-level workflows that combine an export with a board: PlatformIO projects and emulated runs."""
from __future__ import annotations

import tempfile

import numpy as np

from .. import latency_report, outdir, report

from . import runs as boardrun
from ..errors import BoardError
from ..version import __version__
from ..export import export as do_export


def demo_samples(exp, data, n: int, mode: str = "sym", warn=None):
    """(samples, labels or None) for a board harness: from a data set, or deterministic random
    inputs (no labels). `warn(text)`: called when the data look already scaled for `mode`."""
    shape = tuple(exp.graph.tensors[exp.graph.inputs[0]].shape)
    if data:
        from ..datasets import load_samples
        x, y = load_samples(data, shape, n, mode, warn=warn)
        return x, np.asarray(y).astype(int)
    return np.random.default_rng(0).normal(size=(n,) + shape).astype(np.float32), None


def export_project(model, out_dir, name, board, data, force, n: int = 4, emulated_envs: bool = False,
                   mode: str = "sym", latency: bool = True, warn=None, max_weight_bytes: int | None = None):
    """Export `model` and write a PlatformIO project for `board` into out_dir (atomically).
    `data` samples are scaled by `mode` (datasets.PREPROCESS_MODES). The manifest's "fit" holds
    the "fits …" message: of the linked image (boardrun.exact_fit), and where the board or its
    emulated twin runs under QEMU here (with `latency`) of the linked image incl. the measured
    stack high-water mark, whose per-layer instructions go to the project's latency.json (the
    reports show them)."""
    import json

    b = boardrun.get(board)
    with tempfile.TemporaryDirectory(prefix="l2m-export-") as tmp:
        exp = do_export(model, f"{tmp}/lib", name=name, kernel_variant=b.kernel_variant, board=b,
                        max_weight_bytes=max_weight_bytes)      # refuses from shapes if it cannot fit
        fit = boardrun.exact_fit(exp, b)
        x, labels = demo_samples(exp, data, n, mode, warn)
        lat = _measure_if_emulated(exp, b, x[0], tmp) if latency else None
        if lat is not None:
            fit = latency_report.footprint_line(lat)
            if not lat["fits"]:
                raise BoardError(f"model '{exp.name}' {fit}")
        try:
            expected = exp.build_host().predict(x, check_finite=False)
        except Exception:          # no host compiler: the harness then only prints outputs
            expected = None
        files = boardrun.project_files(exp, b, x.reshape(len(x), -1), None if expected is None
                                       else boardrun.flat_outputs(expected, len(x)), labels=labels,
                                       emulated_envs=emulated_envs, out_dir=out_dir)
    if lat is not None:
        side = latency_report.merged(None, "emulated", lat, exp.model_hash, exp.kernel_variant)
        files[latency_report.SIDECAR] = json.dumps(side, indent=1, sort_keys=True) + "\n"
    manifest = {"larq2mcu": __version__, "name": name, "model_hash": exp.model_hash, "board": b.name,
                "arena_size": exp.plan.arena_size, "fit": fit, "kernel_variant": exp.kernel_variant,
                "platformio_ini_sha256": boardrun.ini_hash(files),
                "report": report.report_entry(exp.lowered)}    # `larq2mcu report`
    outdir.write_atomic(out_dir, files, manifest, force=force)
    return exp, files, b


def _measure_if_emulated(exp, b, sample, tmp) -> dict | None:
    """board.latency.measure of the export under QEMU, where the toolchain, QEMU and pyelftools
    are here: on `b` itself when emulated, else on its emulated twin (boardrun.emulated_twin,
    with `b`'s flags and kernels), then with the flash and static RAM of `b`'s own linked image
    (its console and serial link) and `b`'s capacities and clock; the stack high-water mark and
    the instructions are the twin's ("emulated_on"). None where it cannot run (a real board's
    cycles come from `larq2mcu validate`)."""
    from .. import board as targets
    from ..errors import ToolchainMissingError
    twin = boardrun.emulated_twin(b)
    if twin is None or targets.toolchain_available(twin, emulator=True) is not None:
        return None
    from . import latency as _lat
    try:
        lat = _lat.measure(exp, twin, f"{tmp}/latency", sample=sample)
    except (ImportError, ToolchainMissingError):
        return None
    if twin is b:
        return lat
    elf = targets.build(exp.out_dir, b, np.asarray(sample, np.float32).reshape(1, -1), None, f"{tmp}/image")
    secs = _lat.sections(elf, targets.resolve_toolchain(b).prefix)
    flash, static = _lat.flash_ram(secs)
    ram = static + lat["stack_hwm"]
    return dict(lat, board=b.name, emulated_on=twin.name, sections=secs, image_flash=flash, static_ram=static,
                ram_total=ram, flash_capacity=b.flash, ram_capacity=b.ram, clock_hz=b.clock_hz,
                ms=lat["total"] * 1000.0 / b.clock_hz if b.clock_hz else None,
                fits=flash <= b.flash and ram <= b.ram)


def latency_text(data: dict) -> str:
    """Per-layer instructions, total, ms at the board clock and the fit line of a
    targets.latency.measure dict, as a rich table rendered to plain text."""
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"instructions per inference on {data['board']} (QEMU, exact)", title_justify="left")
    for col, just in (("#", "right"), ("layer", "left"), ("op", "left"), ("instructions", "right"),
                      ("share", "right")):
        t.add_column(col, justify=just)
    total = max(data["total"], 1)
    for r in data["layers"]:
        t.add_row(str(r["index"]), r["layer"], r["op"], f"{r['instructions']:,}",
                  f"{100 * r['instructions'] / total:.1f} %")
    t.add_row("", "(invoke glue)", "", f"{data['glue']:,}", f"{100 * data['glue'] / total:.1f} %")
    t.add_row("", "total", "", f"{data['total']:,}", "100.0 %")
    con = Console(width=100, record=True, force_terminal=False, color_system=None)
    with con.capture() as cap:
        con.print(t)
    ms = (f"{data['ms']:.3f} ms at {data['clock_hz'] / 1e6:g} MHz (1 instruction per cycle)"
          if data.get("ms") is not None else "no clock_hz in boards.yaml: no ms")
    return "\n".join([cap.get().rstrip(), f"latency: {data['total']:,} instructions = {ms}",
                      latency_report.footprint_line(data)])


def run_and_compare(model, board, data, n, mode, name, latency: bool = True, out_dir=None, force: bool = False,
                    progress=None, warn=None):
    """Run on emulated boards; compare with the host library (bit for bit) and Keras (classes);
    with `latency`, count the instructions of one inference per layer (board.latency).

    `board`: one board or a list (one export per kernel variant, shared by the boards using it).
    `out_dir`: the export of the first board's variant is written there (not a temporary
    folder), with the latency measurements of the boards using it in its latency.json sidecar,
    so `larq2mcu report` and the HTML report show them. `progress`: a rich Progress (add_task,
    update, advance) that counts exports, then builds × boards; `warn` as in demo_samples.
    Returns (summary text, ok)."""
    from .. import frontend
    from ..verify import compare
    from . import latency as _lat
    boards = [boardrun.get(b) for b in (board if isinstance(board, (list, tuple)) else [board])]
    for b in boards:
        if not b.emulated:
            raise BoardError(f"board {b.name} is not emulated; `run` needs a qemu_* board "
                             f"(real boards: larq2mcu validate --board {b.name} --port …)")
    variants = list(dict.fromkeys(b.kernel_variant for b in boards))
    task = progress.add_task("export + host build", total=len(variants)) if progress is not None else None
    blocks, ok_all = [], True
    with tempfile.TemporaryDirectory(prefix="l2m-run-") as tmp:
        keras_model = frontend.load_model(model)
        exports = {}
        for k, v in enumerate(variants):
            keep = out_dir is not None and k == 0
            first = next(b for b in boards if b.kernel_variant == v)     # shapes checked against it early
            exp = do_export(keras_model, out_dir if keep else f"{tmp}/lib_{v}", name=name, kernel_variant=v,
                            force=force, board=first)
            x, _ = demo_samples(exp, data, n, mode, warn if k == 0 else None)
            host = exp.build_host()
            y_host = host.predict(x, check_finite=False)
            exports[v] = (exp, x, y_host, compare(exp, host, x, check_intermediates=False), keep)
            if task is not None:
                progress.advance(task)
        if task is not None:   # builds (one per chunk of samples) + one latency build, per board
            units = sum(-(-n // boardrun.chunk_size(exports[b.kernel_variant][0], b, n)) + bool(latency)
                        for b in boards)
            progress.update(task, description=f"builds × boards ({len(boards)} board(s))", total=units,
                            completed=0)
        for b in boards:
            exp, x, y_host, ag, keep = exports[b.kernel_variant]
            wd = f"{tmp}/{b.name}"
            cmp = boardrun.compare_on_board(exp, b, x, y_host, workdir=wd,
                                            on_build=None if task is None else lambda *_: progress.advance(task))
            lat = note = None
            if latency:
                try:
                    lat = _lat.measure(exp, b, wd, sample=x[0])
                    if keep:
                        _lat.store(exp.out_dir, lat)
                except ImportError as e:     # pyelftools (symbol table of the ELF) not installed
                    note = f"per-layer instructions need pyelftools ({e}): pip install pyelftools"
                if task is not None:
                    progress.advance(task)
            blocks.append(_run_summary(b, x, cmp, y_host, ag, lat, note))
            ok_all = ok_all and cmp.ok and ag.ok
    if out_dir is not None:
        blocks.append(f"export with {variants[0]} kernels and latency.json in {out_dir} "
                      f"(larq2mcu report {out_dir} [--html report.html])")
    return "\n\n".join(blocks), bool(ok_all)


def _run_summary(b, x, cmp, y_host, ag, lat, note) -> str:
    y_board = cmp.outputs
    lines = [f"board {b.name}: {len(x)} samples in {len(cmp.results)} build(s)",
             f"outputs bit-identical to the host library: {'yes' if cmp.ok else 'NO'}",
             f"host library vs Keras: max |Δ| = {ag.max_abs_diff:.3g}, "
             f"argmax agreement {100 * ag.argmax_agreement:.2f} %"]
    if y_board.ndim == 2 and y_board.shape[1] > 1:
        same_class = float(np.mean(y_board.argmax(1) == boardrun.flat_outputs(y_host, len(x)).argmax(1)))
        lines.append(f"board classes = host classes: {100 * same_class:.2f} %")
    if lat is not None:
        lines.append(latency_text(lat))
    elif note:
        lines.append(note)
    return "\n".join(lines)
