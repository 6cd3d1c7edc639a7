"""CLI-level workflows that combine an export with a board: PlatformIO projects and emulated runs."""
from __future__ import annotations

import tempfile

import numpy as np

from .. import outdir, report

from . import runs as boardrun
from ..version import __version__
from ..export import export as do_export


def demo_samples(exp, data, n: int, mode: str = "sym"):
    """(samples, labels or None) for a board harness: from a data set, or deterministic random
    inputs (no labels)."""
    shape = tuple(exp.graph.tensors[exp.graph.inputs[0]].shape)
    if data:
        from ..datasets import load_samples
        x, y = load_samples(data, shape, n, mode)
        return x, np.asarray(y).astype(int)
    return np.random.default_rng(0).normal(size=(n,) + shape).astype(np.float32), None


def export_project(model, out_dir, name, board, data, force, n: int = 4, emulated_envs: bool = False,
                   max_weight_bytes: int | None = None):
    """Export `model` and write a PlatformIO project for `board` into out_dir (atomically).
    The manifest's "fit" holds the linked image's "fits …" message (boardrun.exact_fit)."""
    b = boardrun.get(board)
    with tempfile.TemporaryDirectory(prefix="l2m-export-") as tmp:
        exp = do_export(model, f"{tmp}/lib", name=name, kernel_variant=b.kernel_variant, board=b,
                        max_weight_bytes=max_weight_bytes)      # refuses from shapes if it cannot fit
        fit = boardrun.exact_fit(exp, b)
        x, labels = demo_samples(exp, data, n)
        try:
            expected = exp.build_host().predict(x, check_finite=False)
        except Exception:          # no host compiler: the harness then only prints outputs
            expected = None
        files = boardrun.project_files(exp, b, x.reshape(len(x), -1), None if expected is None
                                       else expected.reshape(len(x), -1), labels=labels,
                                       emulated_envs=emulated_envs, out_dir=out_dir)
    manifest = {"larq2mcu": __version__, "name": name, "model_hash": exp.model_hash, "board": b.name,
                "arena_size": exp.plan.arena_size, "fit": fit,
                "platformio_ini_sha256": boardrun.ini_hash(files),
                "report": report.report_entry(exp.lowered)}    # `larq2mcu report`
    outdir.write_atomic(out_dir, files, manifest, force=force)
    return exp, files, b


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
    secs = ", ".join(f"{k} {v:,}" for k, v in data["sections"].items())
    fit = boardrun.fit_message(data["board"], data["image_flash"], data["ram_total"],
                               "linked image: code + weights",
                               f"static {data['static_ram']:,} + stack {data['stack_hwm']:,}")
    return "\n".join([cap.get().rstrip(), f"latency: {data['total']:,} instructions = {ms}",
                      f"image sections (B): {secs}", fit])


def run_and_compare(model, board, data, n, mode, name, latency: bool = True):
    """Run on an emulated board; compare with the host library (bit for bit) and Keras (classes);
    with `latency`, count the instructions of one inference per layer (targets.latency).
    Returns (summary text, ok)."""
    from ..verify import compare
    b = boardrun.get(board)
    lat = None
    with tempfile.TemporaryDirectory(prefix="l2m-run-") as tmp:
        exp = do_export(model, f"{tmp}/lib", name=name, kernel_variant=b.kernel_variant, board=b)
        x, _ = demo_samples(exp, data, n, mode)
        host = exp.build_host()
        y_host = host.predict(x, check_finite=False)
        ag = compare(exp, host, x, check_intermediates=False)
        cmp = boardrun.compare_on_board(exp, b, x, y_host)
        y_board, results = cmp.outputs, cmp.results
        note = None
        if latency:
            try:
                from . import latency as _lat
                lat = _lat.measure(exp, b, tmp, sample=x[0])
            except ImportError as e:     # pyelftools (symbol table of the ELF) not installed
                note = f"per-layer instructions need pyelftools ({e}): pip install pyelftools"
    same = cmp.ok
    lines = [f"board {b.name}: {len(x)} samples in {len(results)} build(s)",
             f"outputs bit-identical to the host library: {'yes' if same else 'NO'}",
             f"host library vs Keras: max |Δ| = {ag.max_abs_diff:.3g}, "
             f"argmax agreement {100 * ag.argmax_agreement:.2f} %"]
    if y_board.ndim == 2 and y_board.shape[1] > 1:
        same_class = float(np.mean(y_board.argmax(1) == y_host.argmax(1)))
        lines.append(f"board classes = host classes: {100 * same_class:.2f} %")
    if lat is not None:
        lines.append(latency_text(lat))
    elif note:
        lines.append(note)
    return "\n".join(lines), bool(same and ag.ok)
