"""Command line: `larq2mcu export|verify|report|boards|run|flash|demo|fuzz|bench …`.
User mistakes print one `error:` line and exit 2 (no traceback)."""
from __future__ import annotations

import sys

import click

from .cli_util import KERNELS, check_model_path, choose_variant, kernels_help, progress, report_text
from .datasets import PREPROCESS_MODES
from .errors import InputError, Larq2McuError, OutputDirError

_PREPROCESS_HELP = ("scaling of --data images: sym = [0, full scale] -> [-1, 1], unit -> [0, 1], "
                    "none = use the values as given (already-scaled float data)")


def _warn(text: str) -> None:
    click.echo(f"WARNING: {text}", err=True)


_IMPORT_HELP = ("import this Python module (dotted name or .py file; repeatable) before loading MODEL, so the "
                "classes it defines or registers (a Model subclass, custom layers/quantizers) can be loaded")


_TRUST_HELP = ("load MODEL even though it has Lambda layers: their Python code runs while the file loads "
               "(trust the file as your own code); the bodies are then traced and their TF ops exported")


def _with_imports(model, imports, trust_lambda=False):
    """MODEL as a path, or, with --import / --trust-lambda, the Keras model loaded (after importing
    those modules; Lambda layers accepted only with --trust-lambda)."""
    if not imports and not trust_lambda:
        return model
    from .frontend import load_model
    return load_model(model, imports, trust_lambda=trust_lambda)


def _fail(e: Larq2McuError):
    click.echo(f"error: {e}", err=True)
    sys.exit(e.exit_code)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Larq2McuError as e:
            _fail(e)
        except MemoryError:        # under a memory limit (ulimit -v): one line, not a traceback
            click.echo("error: out of memory while exporting; the model is too large for this machine "
                       "(see --max-weight-bytes)", err=True)
            sys.exit(2)
        except OSError as e:       # a path the user gave (full disk, permissions, /proc …)
            click.echo(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="larq2mcu")
def main():
    """Export Larq/Keras binarized neural networks to freestanding C for microcontrollers."""


@main.command()
@click.argument("model", type=click.Path())     # checked by check_model_path
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(), help="output folder")
@click.option("--name", default="model", show_default=True, help="C symbol prefix")
@click.option("--force", is_flag=True, help="write into a folder holding foreign files (they are kept)")
@click.option("--board", default=None, help="write a PlatformIO project for this board (`larq2mcu boards` lists them)")
@click.option("--data", default=None, help="samples embedded in the board demo (default: 4 random inputs)")
@click.option("--preprocess", "mode", type=click.Choice(PREPROCESS_MODES), default="sym", show_default=True,
              help=_PREPROCESS_HELP + " (with --board --data)")
@click.option("--cpu", default=None, help="target core of a library export (cortex-m4, esp32, rv32imc, ...): "
              "picks the kernel variant boards.yaml uses for it")
@click.option("--kernels", type=click.Choice(list(KERNELS)), default=None, help=kernels_help())
@click.option("--layout", type=click.Choice(["flat", "arduino"]), default="flat", show_default=True,
              help="flat: C files + library.json (PlatformIO), CMakeLists.txt (CMake, ESP-IDF), <name>.mk "
              "(Make); arduino: an Arduino IDE library (library.properties + src/)")
@click.option("--emulated", is_flag=True, help="with --board: also add an env per emulated board (qemu_*)")
@click.option("--max-weight-bytes", type=click.IntRange(min=1), default=None,
              help="refuse models whose weights need more (estimated from shapes first; default 256 MiB "
              "or $L2M_MAX_WEIGHT_BYTES)")
@click.option("--import", "imports", multiple=True, metavar="MODULE", help=_IMPORT_HELP)
@click.option("--trust-lambda", is_flag=True, help=_TRUST_HELP)
@click.option("--input-dtype", type=click.Choice(["float32", "uint8", "int8"]), default="float32", show_default=True,
              help="uint8/int8: the C takes raw bytes and sums the first layer in integers (the model must start "
              "with [Rescaling | Normalization] -> a 1-bit-weight conv/dense -> BN + sign; docs/MATH.md §8)")
def export(model, out_dir, name, force, board, data, mode, cpu, kernels, layout, emulated,
           max_weight_bytes, input_dtype, imports, trust_lambda):
    """Export MODEL (.keras/.h5) as a self-contained C library, or with --board as a PlatformIO
    project (lib/<name>/ + src/main.c demo harness + platformio.ini)."""
    check_model_path(model)
    if max_weight_bytes is not None:        # read by frontend/size_check.py on every export path
        import os
        os.environ["L2M_MAX_WEIGHT_BYTES"] = str(max_weight_bytes)
    model = _with_imports(model, imports, trust_lambda)
    if board is None:
        variant, hint = choose_variant(kernels, cpu)
        if layout == "arduino":
            n_files = _export_arduino(model, out_dir, name, force, variant)
        else:
            from .export import export as do_export
            with progress() as prog:
                prog.add_task(f"exporting {model}", total=None)
                n_files = len(do_export(model, out_dir, name=name, force=force, kernel_variant=variant,
                                        input_dtype=input_dtype).files)
        click.echo(report_text(out_dir))
        click.echo(f"\nwrote {n_files + 1} files ({layout} layout, kernels {variant}) to {out_dir}")
        if hint:
            click.echo(hint, err=True)
        return
    if kernels is not None or cpu is not None:
        raise click.UsageError("--kernels applies to library exports; with --board the board's variant is used")
    if layout != "flat":
        raise click.UsageError("--layout applies to library exports; --board writes a PlatformIO project")
    if input_dtype != "float32":
        raise click.UsageError("--input-dtype applies to flat library exports (the board demo feeds floats)")
    from .board.project import export_project
    from .latency_report import SIDECAR
    with progress() as prog:
        prog.add_task(f"exporting for {board} (export, fit check, latency where emulated, host build, project)",
                      total=None)
        exp, files, b = export_project(model, out_dir, name, board, data, force, emulated_envs=emulated, mode=mode,
                                       warn=_warn)
    click.echo(report_text(out_dir))           # with the per-layer instructions where they were measured
    if SIDECAR not in files:
        from .outdir import read_manifest
        click.echo((read_manifest(out_dir) or {}).get("fit", ""))
    if "platformio.l2m.ini" in files:
        click.echo("kept your edited platformio.ini; the freshly generated one is platformio.l2m.ini")
    click.echo(f"\nwrote a PlatformIO project for {b.name} ({len(files)} files) to {out_dir}")
    click.echo(f"build and run: larq2mcu flash --board {b.name} {out_dir}")


def _export_arduino(model, out_dir, name, force, variant) -> int:
    """Export into a temporary folder, then write its Arduino layout (library.py) atomically."""
    import tempfile
    from pathlib import Path

    from . import library, outdir
    from .export import export as do_export
    outdir.check_destination(Path(out_dir).absolute(), force)      # fail before the slow part
    with tempfile.TemporaryDirectory(prefix="larq2mcu-arduino-") as tmp:
        with progress() as prog:
            prog.add_task(f"exporting {model}", total=None)
            exp = do_export(model, f"{tmp}/flat", name=name, kernel_variant=variant)
        manifest = {k: v for k, v in outdir.read_manifest(exp.out_dir).items() if k != "files"}
    files = library.arduino_layout(name, exp.files, variant)
    outdir.write_atomic(out_dir, files, dict(manifest, layout="arduino"), force=force)
    return len(files)


VERIFY_CHUNK = 500       # samples per progress step (Keras and the C library run per chunk)


@main.command()
@click.argument("model", type=click.Path())     # checked by check_model_path
@click.option("--data", required=True, help="mnist | fashion-mnist | digits | file.npz | idx folder")
@click.option("-n", "n", default=1000, show_default=True, help="number of samples")
@click.option("--preprocess", "mode", type=click.Choice(PREPROCESS_MODES), default="sym", show_default=True,
              help=_PREPROCESS_HELP)
@click.option("--name", default="model", show_default=True)
@click.option("--import", "imports", multiple=True, metavar="MODULE", help=_IMPORT_HELP)
@click.option("--trust-lambda", is_flag=True, help=_TRUST_HELP)
def verify(model, data, n, mode, name, imports, trust_lambda):
    """Export MODEL to a temporary folder, build it on the host, and compare with Keras."""
    import tempfile

    import numpy as np

    from . import datasets
    from .export import export as do_export
    from .cli_util import merge_agreements as merge
    from .verify import compare
    check_model_path(model)
    model = _with_imports(model, imports, trust_lambda)
    with tempfile.TemporaryDirectory(prefix="larq2mcu-verify-") as tmp, progress() as prog:
        step = prog.add_task("export + host build", total=None)
        exp = do_export(model, f"{tmp}/out", name=name)
        x, y = datasets.load_samples(data, exp.graph.tensors[exp.graph.inputs[0]].shape, n, mode,
                                     warn=lambda w: click.echo(f"WARNING: {w}", err=True))
        host = exp.build_host()
        prog.remove_task(step)
        task = prog.add_task(f"compare {len(x)} samples with Keras", total=len(x))
        parts, yk = [], []
        for i in range(0, len(x), VERIFY_CHUNK):
            xc = x[i:i + VERIFY_CHUNK]
            parts.append(compare(exp, host, xc))
            yc = host.predict(xc, check_finite=False)
            yk.append(yc[0] if isinstance(yc, list) else yc)     # several outputs: classes from output 0
            prog.advance(task, len(xc))
    ag = merge(parts) if parts else compare(exp, host, x)
    click.echo(ag.summary())
    yk = np.concatenate(yk) if yk else np.zeros((0,))
    if yk.ndim == 2 and yk.shape[1] > 1:
        click.echo(f"accuracy (C) on these {len(x)} samples: {100 * float(np.mean(yk.argmax(1) == y)):.2f} %")
    sys.exit(0 if ag.ok else 1)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--html", "html", default=None, type=click.Path(dir_okay=False), help="also write an HTML page")
def report(out_dir, html):
    """Show the per-layer report of an export folder (a library export or a board project)."""
    from pathlib import Path

    from . import html_report
    from .cli_util import report_data
    click.echo(report_text(out_dir))           # raises OutputDirError for a foreign folder
    if html:
        data, note = report_data(out_dir)
        if note:
            raise OutputDirError(f"{out_dir} was written by an older larq2mcu without the per-layer data the "
                                 "HTML report shows; re-export it (the text report above is what it records)")
        Path(html).write_text(html_report.render_html(data), encoding="utf-8")
        click.echo(f"HTML report: {html}")


@main.command("boards")
@click.option("--boards", "boards_file", default=None, type=click.Path(dir_okay=False),
              help="list (and validate) a boards.yaml of your own instead of the packaged one")
def boards_cmd(boards_file):
    """List the boards of boards.yaml: CPU, kernel variant, flash, RAM, framework."""
    from rich.console import Console

    from .board.profiles import load_boards
    from .cli_util import boards_table
    Console(width=None if sys.stdout.isatty() else 200).print(boards_table(load_boards(boards_file)))


_PASSTHROUGH = dict(context_settings=dict(ignore_unknown_options=True, allow_extra_args=True,
                                          help_option_names=[]), add_help_option=False)


@main.command(**_PASSTHROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def demo(args):
    """Train, export, verify and run the demo model (= python -m larq2mcu.demo; --help for options)."""
    from .demo import main as demo_main
    sys.exit(demo_main(list(args)))


@main.command(**_PASSTHROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def fuzz(args):
    """Random-model fuzzing campaign (= python -m larq2mcu.dev.fuzz; --help for options)."""
    from .dev.fuzz.__main__ import main as fuzz_main
    sys.exit(fuzz_main(list(args)))


@main.command(**_PASSTHROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args):
    """Benchmarks (= python -m bench); needs a source checkout, bench/ does not ship in the wheel."""
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "__main__.py").is_file():
        raise Larq2McuError("`larq2mcu bench` runs from a source checkout only (bench/ is not part of the "
                            "installed package): git clone the larq2mcu repository, then `make bench` there")
    sys.path.insert(0, str(root))
    from bench.__main__ import main as bench_main
    sys.exit(bench_main(list(args)))


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", "boards", required=True, multiple=True,
              help="an emulated board (qemu_m0, qemu_m4, qemu_rv32, …); repeat for several")
@click.option("--data", default=None, help="mnist | fashion-mnist | digits | file.npz | idx folder (default: random)")
@click.option("-n", "n", default=100, show_default=True)
@click.option("--preprocess", "mode", type=click.Choice(PREPROCESS_MODES), default="sym", show_default=True,
              help=_PREPROCESS_HELP)
@click.option("--name", default="model", show_default=True)
@click.option("-o", "--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="keep the export there with the measured latency (latency.json) for `larq2mcu report`")
@click.option("--force", is_flag=True, help="with --out: write into a folder holding foreign files")
def run(model, boards, data, n, mode, name, out_dir, force):
    """Cross-compile MODEL for BOARD, run it under QEMU and compare with the host library and Keras;
    print the exact instructions per layer and the linked image's flash and RAM (with stack)."""
    from .board.project import run_and_compare
    check_model_path(model)
    with progress() as prog:
        text, ok = run_and_compare(model, list(boards), data, n, mode, name, out_dir=out_dir, force=force,
                                   progress=prog, warn=_warn)
    click.echo(text)
    sys.exit(0 if ok else 1)


def _project_board(project, board):
    """--board, else the board recorded in the project's larq2mcu.json (export --board)."""
    from .board import runs as boardrun
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

    from .board import platformio
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
@click.option("--board", required=True, help="board the candidates must fit (boards.yaml), e.g. nucleo_f446re")
@click.option("--data", required=True,
              help="digits | mnist | fashion-mnist | file.npz | idx folder (needs a train split)")
@click.option("--trials", "n_trials", default=16, show_default=True,
              help="finished trials in the whole study (all workers)")
@click.option("-o", "--out", "out_dir", default="out/search", show_default=True, help="study folder")
@click.option("--storage", default=None,
              help="SQLAlchemy URL (default sqlite:///<out>/study.db; postgresql://… to share)")
@click.option("--study-name", default="larq2mcu-search", show_default=True)
@click.option("--max-flash", type=int, default=None, help="bytes (default: the board's flash)")
@click.option("--max-ram", type=int, default=None, help="bytes, arena + stack + statics (default: the board's RAM)")
@click.option("--max-instructions", type=int, default=None, help="instructions per inference")
@click.option("--max-latency-ms", type=float, default=None, help="ms at the board clock, one instruction per cycle")
@click.option("--epochs", default=1, show_default=True, help="training epochs per trial (same recipe for all)")
@click.option("--lr", default=5e-3, show_default=True)
@click.option("--batch-size", default=128, show_default=True)
@click.option("--train-subset", "n_train", type=int, default=None, help="train on the first N of the training split")
@click.option("--val", "n_val", type=int, default=None,
              help="validation images held out of the training split (default 1/6)")
@click.option("--conv-k", default="1-4", show_default=True, help="conv widths 32·k for k in LO-HI")
@click.option("--dense-k", default="1-8", show_default=True, help="hidden dense widths 32·k")
@click.option("--depth", default="1-3", show_default=True, help="number of convs")
@click.option("--dense-layers", default="0-1", show_default=True, help="number of hidden dense layers")
@click.option("--float-edges", default="head", show_default=True, help="edges that may stay float: head,stem or none")
@click.option("--reference", default=None,
              help="a zoo model (e.g. mnist_bnn) trained the same way, for the front table")
@click.option("--population", default=8, show_default=True, help="NSGA-II population size")
@click.option("--seed", default=0, show_default=True)
@click.option("--distribute", type=click.Choice(["none", "mirrored"]), default="none", show_default=True,
              help="train each candidate inside tf.distribute.MirroredStrategy")
@click.option("--worker-only", is_flag=True, help="only run trials (another worker writes the front)")
def search(board, data, n_trials, out_dir, storage, study_name, max_flash, max_ram, max_instructions,
           max_latency_ms, epochs, lr, batch_size, n_train, n_val, conv_k, dense_k, depth, dense_layers,
           float_edges, reference, population, seed, distribute, worker_only):
    """Search BNN widths that fit BOARD (Optuna NSGA-II: accuracy vs instructions vs flash); print
    the verified Pareto front and write front.html and a PlatformIO project of the chosen point.
    Resumable: run the same command again (or on more machines with --storage postgresql://…)."""
    from . import search as S
    from .board.profiles import get_board
    from .search.latency import twin_of
    twin_of(get_board(board))          # unknown board / no emulated twin: say so before any work
    limits = S.Limits(max_flash, max_ram, max_instructions, max_latency_ms)
    limits.resolved(board)
    edges = () if float_edges in ("", "none") else tuple(e.strip() for e in float_edges.split(","))
    R = S.space.parse_range
    space = S.Space(conv_k=R(conv_k, "--conv-k"), dense_k=R(dense_k, "--dense-k"),
                    depth=R(depth, "--depth"), n_dense=R(dense_layers, "--dense-layers"), float_edges=edges)
    ref = None
    if reference:
        from .dev import zoo
        if reference not in zoo.BUILDERS:
            raise InputError(f"--reference {reference!r}: not a zoo model; supported: {', '.join(zoo.BUILDERS)}")
    from . import datasets
    ds = datasets.load(data)
    if not ds.has_train:
        raise InputError(f"--data {data}: {ds.name} has no training split to search with")
    if reference:
        ref = (reference, lambda: zoo.BUILDERS[reference](ds.input_shape, ds.num_classes))
    S.search(ds, board, n_trials, out_dir, space=space, storage=storage, study_name=study_name,
             limits=limits,
             recipe=S.Recipe(epochs, batch_size, lr, seed, distribute), seed=seed, population=population,
             n_train=n_train, n_val=n_val, export_front=not worker_only, reference=ref, data_spec=data)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", required=True, help="the board (see boards.yaml); emulated runs need a uart_emulator")
@click.option("--port", default=None, help="serial port or pyserial URL (/dev/ttyACM0, COM3, socket://host:port)")
@click.option("--emulated", is_flag=True, help="run the board's own UART firmware in QEMU instead (CI, no hardware)")
@click.option("--data", default=None, help="mnist | fashion-mnist | digits | file.npz | idx folder (default: random)")
@click.option("-n", "n", default=20, show_default=True, help="samples streamed over the serial link")
@click.option("--preprocess", "mode", type=click.Choice(PREPROCESS_MODES), default="sym", show_default=True,
              help=_PREPROCESS_HELP)
@click.option("--project", default=None, type=click.Path(file_okay=False),
              help="PlatformIO project to flash (default: a fresh export --board of MODEL)")
@click.option("--no-flash", is_flag=True, help="the board already runs this model's harness")
@click.option("--name", default="model", show_default=True)
@click.option("--json", "json_out", default=None, type=click.Path(dir_okay=False), help="also write the results")
@click.option("--store", "store_in", default=None, type=click.Path(file_okay=False, exists=True),
              help="export folder of this model to store the results in (latency.json, shown by `larq2mcu "
              "report`); default: --project")
def validate(model, board, port, emulated, data, n, mode, project, no_flash, name, json_out, store_in):
    """Run MODEL on BOARD over its serial console: stream samples, read outputs and per-layer
    cycles back, compare with the host library bit for bit and with the labels."""
    import json

    from rich.console import Console
    from rich.progress import Progress

    from .board import runs as boardrun
    from .board.validate import validate_model
    b = boardrun.get(board)
    con = Console()
    with Progress(console=con, transient=True) as bar:
        task = bar.add_task(f"validating on {b.name}", total=n)
        res = validate_model(model, b, data, n, mode, name=name, port=port, project=project,
                             flash=not no_flash, emulated=emulated, store_in=store_in or project, warn=_warn,
                             progress=lambda k: bar.update(task, completed=k))
    for item in res.table():
        con.print(item)
    if json_out:
        with open(json_out, "w", encoding="utf-8") as f:
            json.dump(res.to_dict(), f, indent=2)
    sys.exit(0 if res.ok else 1)


if __name__ == "__main__":
    main()
