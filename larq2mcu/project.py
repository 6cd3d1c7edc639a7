"""CLI-level workflows that combine an export with a board: PlatformIO projects and emulated runs."""
from __future__ import annotations

import tempfile

import numpy as np

from . import boardrun, outdir, report
from .version import __version__
from .export import export as do_export


def demo_samples(exp, data, n: int, mode: str = "sym"):
    """Samples for a board harness: from a data set, or deterministic random inputs."""
    shape = tuple(exp.graph.tensors[exp.graph.inputs[0]].shape)
    if data:
        from .datasets import load_samples
        return load_samples(data, shape, n, mode)[0]
    return np.random.default_rng(0).normal(size=(n,) + shape).astype(np.float32)


def export_project(model, out_dir, name, board, data, force, n: int = 4):
    """Export `model` and write a PlatformIO project for `board` into out_dir (atomically)."""
    b = boardrun.get(board)
    with tempfile.TemporaryDirectory(prefix="l2m-export-") as tmp:
        exp = do_export(model, f"{tmp}/lib", name=name, kernel_variant=b.kernel_variant)
        boardrun.check_fit(exp, b)
        x = demo_samples(exp, data, n)
        try:
            expected = exp.build_host().predict(x, check_finite=False)
        except Exception:          # no host compiler: the harness then only prints outputs
            expected = None
        files = boardrun.project_files(exp, b, x.reshape(len(x), -1), None if expected is None
                                       else expected.reshape(len(x), -1))
    manifest = {"larq2mcu": __version__, "name": name, "model_hash": exp.model_hash, "board": b.name,
                "arena_size": exp.plan.arena_size,
                "report": report.report_entry(exp.lowered)}    # `larq2mcu report`
    outdir.write_atomic(out_dir, files, manifest, force=force)
    return exp, files, b


def run_and_compare(model, board, data, n, mode, name):
    """Run on an emulated board; compare with the host library (bit for bit) and Keras (classes).
    Returns (summary text, ok)."""
    from .verify import compare
    b = boardrun.get(board)
    with tempfile.TemporaryDirectory(prefix="l2m-run-") as tmp:
        exp = do_export(model, f"{tmp}/lib", name=name, kernel_variant=b.kernel_variant)
        x = demo_samples(exp, data, n, mode)
        host = exp.build_host()
        y_host = host.predict(x, check_finite=False)
        ag = compare(exp, host, x, check_intermediates=False)
        y_board, results = boardrun.run_on_board(exp, b, x, expected=y_host)
    same = np.array_equal(y_board.view(np.uint32), y_host.view(np.uint32))
    lines = [f"board {b.name}: {len(x)} samples in {len(results)} build(s)",
             f"outputs bit-identical to the host library: {'yes' if same else 'NO'}",
             f"host library vs Keras: max |Δ| = {ag.max_abs_diff:.3g}, argmax agreement {100 * ag.argmax_agreement:.2f} %"]
    if y_board.ndim == 2 and y_board.shape[1] > 1:
        lines.append(f"board classes = host classes: {100 * float(np.mean(y_board.argmax(1) == y_host.argmax(1))):.2f} %")
    return "\n".join(lines), bool(same and ag.ok)
