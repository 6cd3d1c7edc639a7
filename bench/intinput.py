"""`python -m bench.intinput`: the integer-input MNIST BNN (issue #14) against the float-input
path — exact instruction counts of one inference under QEMU (board variant), total and first
layer. Models: the zoo MNIST BNN (BN randomized, seed 1) behind Rescaling(1/127.5, −1), exported
with float input (Rescale + the 1-bit-weight float conv) and with input_dtype="uint8" (raw bytes,
IntConv2D); `mnist_bnn` is the bench's own model (float input in [−1, 1], no Rescaling).
Writes bench/intinput.json and prints a markdown table.

Options: --boards qemu_m4,qemu_m0,qemu_rv32  --out DIR.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from .__main__ import run_variant  # noqa: E402

HERE = Path(__file__).resolve().parent
FIRST = ("l2m_conv2d_w1", "l2m_rescale", "l2m_conv2d_u8", "l2m_conv2d_s8")   # first-layer kernels


def models():
    """{config: (keras model, input_dtype, one sample)}."""
    from larq2mcu._tf import tf_modules
    from larq2mcu.dev import zoo
    _, keras, _ = tf_modules()
    keras.utils.set_random_seed(0)
    base = zoo.randomize_bn(zoo.mnist_bnn(), seed=1)
    resc = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 127.5, -1.0), *base.layers])
    u = np.random.default_rng(0).integers(0, 256, (1, 28 * 28)).astype(np.float32)
    return {"mnist_bnn (float in [-1,1])": (base, "float32", u / 127.5 - 1),
            "rescaled, float input": (resc, "float32", u),
            "rescaled, uint8 input": (resc, "uint8", u)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.intinput")
    ap.add_argument("--boards", default="qemu_m4,qemu_m0,qemu_rv32")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)
    import larq2mcu
    from larq2mcu.board import profiles as boards
    res: dict = {}
    with tempfile.TemporaryDirectory(prefix="l2m-intin-") as tmp:
        tmp = Path(tmp)
        for cfg, (model, dt, x) in models().items():
            for bname in args.boards.split(","):
                board = boards.get_board(bname)
                v = board.kernel_variant
                d = tmp / f"{abs(hash((cfg, v)))}"
                e = larq2mcu.export(model, d, name="net", kernel_variant=v, input_dtype=dt, force=True)
                r = run_variant(e, board, x, tmp / "w" / f"{abs(hash((cfg, bname)))}")
                first = sum(n for f, n in r.get("calls", []) if f.startswith(FIRST))
                res.setdefault(cfg, {})[bname] = {"variant": v, "instructions": r.get("instructions"),
                                                  "first_layer": first, "ok": r.get("ok"),
                                                  "skipped": r.get("skipped")}
                print(cfg, bname, res[cfg][bname], flush=True)
    out = Path(args.out)
    (out / "intinput.json").write_text(json.dumps(res, indent=1))
    print(markdown(res))
    return 0


def markdown(res: dict) -> str:
    """The table: per config and board, whole-model and first-layer instructions."""
    bnames = list(next(iter(res.values())))
    lines = ["| model | " + " | ".join(f"{b} total | {b} first layer" for b in bnames) + " |",
             "|---|" + "---:|---:|" * len(bnames)]
    for cfg, per in res.items():
        cells = []
        for b in bnames:
            r = per[b]
            cells += [f"{r['instructions']:,}" if r["instructions"] else r.get("skipped", "–"),
                      f"{r['first_layer']:,}"]
        lines.append(f"| {cfg} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
