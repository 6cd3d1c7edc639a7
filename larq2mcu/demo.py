"""`python -m larq2mcu.demo` (what `make demo` runs): the whole pipeline on a fresh machine.

1. train a small BNN on scikit-learn's 8×8 digits (always available offline; 1438 train / 359
   test images), with a rich progress bar driven by a Keras callback;
2. export it to `out/demo` (no force: a previous larq2mcu export there is replaced, a folder of
   foreign files is refused);
3. build the C on the host and check exact agreement with Keras on the whole test split;
4. if the qemu_m4 toolchain + QEMU are installed, cross-compile for
   qemu_m4, run the test samples under QEMU and compare with the host library's outputs;
   otherwise say what was skipped and why;
5. print the layer report and write `out/demo/report.html`.

Exit status: 0 when everything that ran agreed, 1 on a disagreement (host or QEMU), 2 on a user
error (e.g. out/demo holds foreign files). `--epochs` (or $LARQ2MCU_DEMO_EPOCHS) shortens the
run; tests use `main(["--epochs", "2", ...])`.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

EPOCHS = 60
QEMU_BOARD = "qemu_m4"
# The runtime brings its own expf/tanhf, so the board's outputs must equal the host library's
# bit for bit (no libm differences to allow for).
QEMU_MAX_ULPS = 0


def build_model(input_shape, num_classes: int):
    """Demo BNN for 8×8 inputs: float-input binary-weight conv 32 (same) → BN → binary conv 64
    (same, pad 1.0) → BN → MaxPool 2 → binary Dense 128 → BN → binary Dense → BN → softmax."""
    from ._tf import tf_modules
    tf, keras, lq = tf_modules()
    L = keras.layers
    kw = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
              use_bias=False)
    return keras.Sequential([
        keras.Input(tuple(input_shape)),
        lq.layers.QuantConv2D(32, 3, padding="same", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip", use_bias=False),
        L.BatchNormalization(scale=False),
        lq.layers.QuantConv2D(64, 3, padding="same", pad_values=1.0, **kw),
        L.BatchNormalization(scale=False), L.MaxPool2D(2), L.Flatten(),
        lq.layers.QuantDense(128, **kw), L.BatchNormalization(scale=False),
        lq.layers.QuantDense(num_classes, **kw), L.BatchNormalization(scale=False),
        L.Activation("softmax"),
    ], name="demo_bnn")


def _silence():
    """No wall of TF/absl/Python warnings on the demo's terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_qemu(exp, x, host_out, console, workdir: Path):
    """Cross-compile for qemu_m4 and compare QEMU's outputs with the host library's, through the
    one build → run → compare path (board.runs.compare_on_board).

    Returns (status, message): status "ok", "fail" or "skipped"."""
    from .board import runs, toolchain_available
    from .board.profiles import get_board
    board = get_board(QEMU_BOARD)
    missing = toolchain_available(board, emulator=True)
    if missing is not None:
        return "skipped", str(missing)
    with console.status(f"cross-compiling for {QEMU_BOARD} and running {len(x)} samples under "
                        f"{board.qemu.binary} -M {board.qemu.machine}"):
        cmp = runs.compare_on_board(exp, board, x, host_out, workdir=workdir)
    ok = cmp.max_ulps <= QEMU_MAX_ULPS and cmp.class_agreement in (None, 1.0)
    return ("ok" if ok else "fail"), cmp.summary()


def main(argv=None) -> int:
    """Entry point of `python -m larq2mcu.demo` (arguments: see --help); returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m larq2mcu.demo", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=int(os.environ.get("LARQ2MCU_DEMO_EPOCHS", EPOCHS)))
    p.add_argument("--out", default="out/demo", help="export folder (default out/demo)")
    p.add_argument("--no-qemu", action="store_true", help="skip the cross-compile + QEMU step")
    p.add_argument("--qemu-samples", type=int, default=0, help="test samples run under QEMU (0 = all)")
    args = p.parse_args(argv)
    _silence()

    from rich.console import Console
    from rich.panel import Panel
    console = Console(highlight=False)
    console.print(Panel.fit("larq2mcu demo: train a BNN on 8×8 digits → freestanding C → verify on the host"
                            + (f" and in QEMU ({QEMU_BOARD})" if not args.no_qemu else ""), style="bold"))
    with console.status("importing TensorFlow and Larq"):
        from . import datasets
        from ._tf import tf_modules
        from .errors import Larq2McuError
        from .export import export as do_export
        from .outdir import check_destination
        tf, keras, lq = tf_modules()
        from .html_report import write_html
        from .keras import RichProgress
        from .verify import compare
    try:     # fail before training, not after, when out/demo holds someone else's files
        check_destination(Path(args.out).absolute(), force=False)
    except Larq2McuError as e:
        console.print(f"[red]error:[/] {e}")
        return e.exit_code
    ds = datasets.load_digits()
    x_train, x_test = ds.inputs("sym")
    console.print(f"data: {ds.source}: {len(x_train)} train / {len(x_test)} test images, "
                  f"{ds.input_shape[0]}×{ds.input_shape[1]}, {ds.num_classes} classes")

    keras.utils.set_random_seed(0)
    model = build_model(ds.input_shape, ds.num_classes)
    steps = -(-len(x_train) // 32)
    sched = keras.optimizers.schedules.CosineDecay(5e-3, decay_steps=max(1, steps * args.epochs))
    model.compile(keras.optimizers.Adam(sched), "sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.time()
    model.fit(x_train, ds.y_train, batch_size=32, epochs=args.epochs, verbose=0, shuffle=True,
              callbacks=[RichProgress("training", console=console)])
    acc_k = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == ds.y_test))
    console.print(f"trained {args.epochs} epochs in {time.time() - t:.1f} s; Keras test accuracy "
                  f"{100 * acc_k:.2f} %")

    try:
        with console.status(f"exporting to {args.out}"):
            exp = do_export(model, args.out, name="demo_bnn")
        with console.status("compiling the host library (cc)"):
            host = exp.build_host()
    except Larq2McuError as e:
        console.print(f"[red]error:[/] {e}")
        return e.exit_code
    with console.status(f"comparing C with Keras on {len(x_test)} test images"):
        ag = compare(exp, host, x_test)
        host_out = host.predict(x_test, check_finite=False)
    acc_c = float(np.mean(host_out.argmax(1) == ds.y_test))
    console.print(f"exported {len(exp.files) + 1} files to {exp.out_dir}")
    console.print(ag.summary())

    qemu_status, qemu_msg = "skipped", "--no-qemu given"
    if not args.no_qemu:
        n = args.qemu_samples or len(x_test)
        try:
            qemu_status, qemu_msg = run_qemu(exp, x_test[:n], host_out[:n], console,
                                             Path(args.out).parent / f".{Path(args.out).name}-{QEMU_BOARD}")
        except Larq2McuError as e:
            qemu_status, qemu_msg = "fail", f"{type(e).__name__}: {e}"

    console.print()
    console.print(exp.report(**{"accuracy (C, test split)": f"{100 * acc_c:.2f} %"}), markup=False, soft_wrap=True)
    html = write_html(exp, Path(exp.out_dir) / "report.html", accuracy=acc_c, agreement=ag,
                      board=QEMU_BOARD if qemu_status == "ok" else None)
    console.print()
    console.print(f"host C vs Keras: {'[green]AGREE[/]' if ag.ok else '[red]DISAGREE[/]'} on {ag.n} test images "
                  f"(accuracy Keras {100 * acc_k:.2f} %, C {100 * acc_c:.2f} %)")
    style = {"ok": "[green]OK[/]", "fail": "[red]FAILED[/]", "skipped": "[yellow]SKIPPED[/]"}[qemu_status]
    console.print(f"QEMU {QEMU_BOARD}: {style} — ", end="")
    console.print(qemu_msg, markup=False)
    console.print(f"HTML report: {html}")
    return 0 if ag.ok and qemu_status != "fail" else 1


if __name__ == "__main__":
    sys.exit(main())
