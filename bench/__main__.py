"""`python -m bench` (make bench): exact per-inference instruction counts of the standard models on
every emulated board, optimized kernels vs the `_builtin` (__builtin_popcount) baseline, with
flash and arena beside their bounds. Writes bench/results.json and bench/RESULTS.md.

Options: --models a,b  --boards x,y  --out DIR. Variants run per board: the board's best, _builtin
and _ref. Not yet done: float32/int8 baselines, the per-variant word micro-benchmark, host vs LCE.
Zoo builders with randomize_bn (untrained weights: speed does not depend on training).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
MODELS = {"mnist_bnn": (28, 28, 1), "seed_mixed_cnn": (28, 28, 1), "bireal_tiny": (28, 28, 1),
          "cifar_bnn": (32, 32, 3)}
BOARDS = ["qemu_m0", "qemu_m4", "qemu_m7", "qemu_m33", "qemu_m55", "qemu_rv32", "qemu_rv32_zbb", "qemu_lx106"]
# Best measured variant per board (kept in sync with boards.yaml's kernel_variant by hand).
BEST = {"qemu_m0": "hs", "qemu_m4": "hs", "qemu_m7": "hs", "qemu_m33": "hs", "qemu_m55": "hs",
        "qemu_rv32": "hs", "qemu_rv32_zbb": "zbb", "qemu_lx106": "hs"}
OPT_HEADER = "l2m_kernels_opt.h"


def declare_opt_kernels(out_dir: Path) -> None:
    """Until l2m_kernels.h includes l2m_kernels_opt.h, make the exported model.c include it."""
    if OPT_HEADER in (out_dir / "l2m_kernels.h").read_text():
        return
    for c in out_dir.glob("*.c"):
        text = c.read_text()
        if '#include "l2m_kernels.h"' in text and not c.name.startswith("l2m_"):
            c.write_text(text.replace('#include "l2m_kernels.h"', f'#include "l2m_kernels.h"\n#include "{OPT_HEADER}"', 1))


def binary_macs(g) -> int:
    from larq2mcu import ir
    n = 0
    for op in g.ops:
        kind = type(op).__name__
        if kind == "BinaryConv2D":
            oh, ow, oc = g.tensors[op.output].shape
            n += oh * ow * oc * int(np.prod(op.weights.shape[:3]))
        elif kind == "BinaryDense":
            n += int(np.prod(op.weights.shape))
    del ir
    return n


def flash_bound(exp) -> tuple[int, int]:
    """(bytes of constant arrays as exported, information bound: binary weights at 1 bit each)."""
    from larq2mcu.codegen.lower import Lowering
    steps = Lowering(exp.graph, exp.plan, exp.name).lower()
    actual = bound = 0
    for s in steps:
        for a in s.arrays:
            actual += a.nbytes
            binary = type(s.op).__name__ in ("BinaryConv2D", "BinaryDense") and a.name.endswith("_w")
            bound += math.ceil(s.op.weights.size / 8) if binary else a.nbytes
    return actual, bound


def run_one(exp, board, workdir: Path) -> dict:
    from larq2mcu import boardrun, targets
    from larq2mcu.errors import BoardError

    from . import trace
    try:
        boardrun.check_fit(exp, board)
        x = np.zeros((1, exp.graph.tensors[exp.graph.inputs[0]].numel), np.float32)
        elf = targets.build(exp.out_dir, board, x, None, workdir)
    except BoardError as e:
        return {"skipped": str(e)}
    c = trace.count(elf, board, exp.name)
    sz = targets.size(elf, board)
    binary = sum(n for f, n in c.calls if f.startswith(("l2m_conv2d_b32_", "l2m_dense_b32_")))
    return {"instructions": c.total, "ok": c.ok, "calls": c.calls, "binary_kernel_instructions": binary,
            "image_flash": sz.flash, "image_ram": sz.ram}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)
    import larq2mcu
    from larq2mcu import boards, zoo
    from larq2mcu._tf import tf_modules
    tf, keras, lq = tf_modules()
    results = {"models": {}}
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="l2m-bench-") as tmp:
        for mname in args.models.split(","):
            keras.utils.set_random_seed(0)
            model = zoo.randomize_bn(getattr(zoo, mname)(input_shape=MODELS[mname]), seed=1)
            exps = {}
            mres = results["models"][mname] = {"boards": {}}
            for bname in args.boards.split(","):
                board = boards.get_board(bname)
                for variant in dict.fromkeys((BEST[bname], "builtin", "ref")):
                    if variant not in exps:
                        exps[variant] = larq2mcu.export(model, Path(tmp) / mname / variant, name="net",
                                                        kernel_variant=variant)
                        declare_opt_kernels(exps[variant].out_dir)
                    exp = exps[variant]
                    r = run_one(exp, board, Path(tmp) / "w" / mname / bname / variant)
                    mres["boards"].setdefault(bname, {})[variant] = r
                    print(f"[{time.time() - t0:6.0f}s] {mname} {bname} {variant}: "
                          f"{r.get('instructions', r.get('skipped'))}", flush=True)
            e = exps["ref"]
            actual, bound = flash_bound(e)
            mres.update(binary_macs=binary_macs(e.graph), weights_bytes=actual, weights_bound=bound,
                        arena=e.plan.arena_size, arena_lower_bound=e.plan.lower_bound)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    from .report import markdown
    (out / "RESULTS.md").write_text(markdown(results))
    print(f"wrote {out / 'results.json'} and {out / 'RESULTS.md'} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
