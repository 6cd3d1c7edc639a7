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
@click.option("--emulated", is_flag=True, help="with --board: also add an env per emulated board (qemu_*)")
def export(model, out_dir, name, force, board, data, kernels, emulated):
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
    exp, files, b = export_project(model, out_dir, name, board, data, force, emulated_envs=emulated)
    click.echo(exp.report())
    from .outdir import read_manifest
    click.echo((read_manifest(out_dir) or {}).get("fit", ""))
    if "platformio.l2m.ini" in files:
        click.echo("kept your edited platformio.ini; the freshly generated one is platformio.l2m.ini")
    click.echo(f"\nwrote a PlatformIO project for {b.name} ({len(files)} files) to {out_dir}")
    click.echo(f"build and run: larq2mcu flash --board {b.name} {out_dir}")


def load_samples(spec: str, model_shape: tuple, n: int, mode: str):
    """First n held-out samples of a data set, preprocessed and shaped for the model."""
    import numpy as np

    from . import datasets
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


def _project_board(project, board):
    """--board, else the board recorded in the project's larq2mcu.json (export --board)."""
    from . import boardrun
    from .errors import BoardError
    from .outdir import read_manifest
    if board is None:
        board = (read_manifest(project) or {}).get("board")
        if board is None:
            raise BoardError(f"{project} records no board (not an `export --board` project): pass --board")
    return boardrun.get(board)


@main.command()
@click.argument("project", type=click.Path(file_okay=False, exists=True))
@click.option("--board", default=None, help="default: the board the project was exported for")
def flash(project, board):
    """Build PROJECT (from `export --board`) with PlatformIO and upload it (real boards) or run it
    in QEMU (emulated boards). PlatformIO's output is streamed."""
    import configparser
    from pathlib import Path

    from . import platformio
    from .errors import BoardError
    b = _project_board(project, board)
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(Path(project) / "platformio.ini")
    envs = [s[4:] for s in ini.sections() if s.startswith("env:")]
    if b.name not in envs:
        raise BoardError(f"{project}/platformio.ini has no [env:{b.name}]; its envs: {', '.join(envs) or 'none'} "
                         f"(re-export with --board {b.name}, or --emulated for the qemu_* envs)")
    res = platformio.run_pio(project, b.name, "exec" if b.emulated else "upload")
    sys.exit(res.returncode)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", required=True, help="the board (see boards.yaml); emulated runs need a uart_emulator")
@click.option("--port", default=None, help="serial port or pyserial URL (/dev/ttyACM0, COM3, socket://host:port)")
@click.option("--emulated", is_flag=True, help="run the board's own UART firmware in QEMU instead (CI, no hardware)")
@click.option("--data", default=None, help="mnist | fashion-mnist | digits | file.npz | idx folder (default: random)")
@click.option("-n", "n", default=20, show_default=True, help="samples streamed over the serial link")
@click.option("--preprocess", "mode", type=click.Choice(["sym", "unit"]), default="sym", show_default=True)
@click.option("--project", default=None, type=click.Path(file_okay=False),
              help="PlatformIO project to flash (default: a fresh export --board of MODEL)")
@click.option("--no-flash", is_flag=True, help="the board already runs this model's harness")
@click.option("--name", default="model", show_default=True)
@click.option("--json", "json_out", default=None, type=click.Path(dir_okay=False), help="also write the results")
def validate(model, board, port, emulated, data, n, mode, project, no_flash, name, json_out):
    """Run MODEL on BOARD over its serial console: stream samples, read outputs and per-layer
    cycles back, compare with the host library bit for bit and with the labels."""
    import json

    from rich.console import Console
    from rich.progress import Progress

    from . import boardrun
    from .validate import validate_model
    b = boardrun.get(board)
    con = Console()
    with Progress(console=con, transient=True) as bar:
        task = bar.add_task(f"validating on {b.name}", total=n)
        res = validate_model(model, b, data, n, mode, name=name, port=port, project=project,
                             flash=not no_flash, emulated=emulated,
                             progress=lambda k: bar.update(task, completed=k))
    for item in res.table():
        con.print(item)
    if json_out:
        with open(json_out, "w", encoding="utf-8") as f:
            json.dump(res.to_dict(), f, indent=2)
    sys.exit(0 if res.ok else 1)


if __name__ == "__main__":
    main()
