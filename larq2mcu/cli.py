"""Command line: `larq2mcu export|verify|report …`. User mistakes print one line and exit 2."""
from __future__ import annotations

import sys

import click

from .errors import InputError, Larq2McuError


def _fail(e: Larq2McuError):
    click.echo(f"error: {e}", err=True)
    sys.exit(e.exit_code)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Larq2McuError as e:
            _fail(e)
        except OSError as e:       # a path the user gave (full disk, permissions, /proc …)
            click.echo(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="larq2mcu")
def main():
    """Export Larq/Keras binarized neural networks to freestanding C for microcontrollers."""


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(), help="output folder")
@click.option("--name", default="model", show_default=True, help="C symbol prefix")
@click.option("--force", is_flag=True, help="write into a folder holding foreign files (they are kept)")
@click.option("--board", default=None, help="write a PlatformIO project for this board (see boards.yaml)")
@click.option("--data", default=None, help="samples embedded in the board demo (default: 4 random inputs)")
@click.option("--kernels", type=click.Choice(["ref", "hs", "clz", "usad8", "zbb", "hw", "builtin"]), default=None,
              help="kernel variant of a library export (default ref; with --board the board's own)")
def export(model, out_dir, name, force, board, data, kernels):
    """Export MODEL (.keras/.h5) as a self-contained C library, or with --board as a PlatformIO
    project (lib/<name>/ + src/main.c demo harness + platformio.ini)."""
    from .export import export as do_export
    if board is None:
        exp = do_export(model, out_dir, name=name, force=force, kernel_variant=kernels or "ref")
        click.echo(exp.report())
        click.echo(f"\nwrote {len(exp.files) + 1} files to {exp.out_dir}")
        return
    if kernels is not None:
        raise click.UsageError("--kernels applies to library exports; with --board the board's variant is used")
    from .project import export_project
    exp, files, b = export_project(model, out_dir, name, board, data, force)
    click.echo(exp.report())
    click.echo(f"\nwrote a PlatformIO project for {b.name} ({len(files)} files) to {out_dir}")
    click.echo(f"build and run: larq2mcu flash --board {b.name} {out_dir}")


def load_samples(spec: str, model_shape: tuple, n: int, mode: str):
    """First n held-out samples of a data set, preprocessed and shaped for the model."""
    import numpy as np

    from . import datasets
    if n < 1:
        raise InputError(f"-n must be at least 1 (got {n})")
    ds = datasets.load(spec)
    if spec == "mnist" and not ds.has_train:
        ds = datasets.split(ds)        # held-out 2k of the 10k test set (train on the other 8k)
    _, x = ds.inputs(mode)
    x, y = x[:n], ds.y_test[:n]
    if tuple(x.shape[1:]) != tuple(model_shape):
        if int(np.prod(x.shape[1:])) == int(np.prod(model_shape)):
            x = x.reshape((len(x),) + tuple(model_shape))
        else:
            raise InputError(f"data samples have shape {x.shape[1:]}, the model expects {tuple(model_shape)}")
    if len(x) == 0:
        raise InputError(f"{spec} holds no samples")
    bad = ~np.isfinite(np.asarray(x, np.float64)).reshape(len(x), -1)
    if bad.any():
        rows = np.flatnonzero(bad.any(1))
        raise InputError(f"{spec}: {int(bad.sum())} NaN or infinite values in {len(rows)} of the {len(x)} samples "
                         f"(first: sample {int(rows[0])}); Keras and the C code cannot be compared on them "
                         "(NaN binarizes to +1 in C): clean the data")
    return x, y


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", required=True, help="mnist | fashion-mnist | digits | file.npz | idx folder")
@click.option("-n", "n", default=1000, show_default=True, help="number of samples")
@click.option("--preprocess", "mode", type=click.Choice(["sym", "unit"]), default="sym", show_default=True,
              help="image scaling: sym = [-1, 1], unit = [0, 1]")
@click.option("--name", default="model", show_default=True)
def verify(model, data, n, mode, name):
    """Export MODEL to a temporary folder, build it on the host, and compare with Keras."""
    import tempfile

    import numpy as np

    from .export import export as do_export
    from .verify import compare
    with tempfile.TemporaryDirectory(prefix="larq2mcu-verify-") as tmp:
        exp = do_export(model, f"{tmp}/out", name=name)
        x, y = load_samples(data, exp.graph.tensors[exp.graph.inputs[0]].shape, n, mode)
        host = exp.build_host()
        ag = compare(exp, host, x)
        click.echo(ag.summary())
        yk = host.predict(x, check_finite=False)
        if yk.ndim == 2 and yk.shape[1] > 1:
            click.echo(f"accuracy (C) on these {len(x)} samples: {100 * float(np.mean(yk.argmax(1) == y)):.2f} %")
    sys.exit(0 if ag.ok else 1)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--html", "html", default=None, type=click.Path(dir_okay=False), help="also write an HTML page")
def report(out_dir, html):
    """Show the per-layer report of an export folder."""
    from pathlib import Path

    from . import html_report
    from .outdir import read_manifest
    click.echo(html_report.report_dir(out_dir))           # raises OutputDirError for a foreign folder
    if html:
        m = read_manifest(out_dir)
        data = dict(m["report"], name=m["name"], model_hash=m.get("model_hash", "?"))
        Path(html).write_text(html_report.render_html(data), encoding="utf-8")
        click.echo(f"HTML report: {html}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", required=True, help="an emulated board (qemu_m0, qemu_m4, qemu_rv32, …)")
@click.option("--data", default=None, help="mnist | fashion-mnist | digits | file.npz | idx folder (default: random)")
@click.option("-n", "n", default=100, show_default=True)
@click.option("--preprocess", "mode", type=click.Choice(["sym", "unit"]), default="sym", show_default=True)
@click.option("--name", default="model", show_default=True)
def run(model, board, data, n, mode, name):
    """Cross-compile MODEL for BOARD, run it under QEMU and compare with the host library and Keras."""
    from .project import run_and_compare
    text, ok = run_and_compare(model, board, data, n, mode, name)
    click.echo(text)
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("project", type=click.Path(file_okay=False, exists=True))
@click.option("--board", required=True)
def flash(project, board):
    """Build PROJECT (from `export --board`) with PlatformIO and upload it (real boards) or run it
    in QEMU (emulated boards). PlatformIO's output is streamed."""
    from . import boardrun, platformio
    b = boardrun.get(board)
    res = platformio.run_pio(project, b.name, "exec" if b.emulated else "upload")
    sys.exit(res.returncode)


if __name__ == "__main__":
    main()
