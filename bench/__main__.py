"""`python -m bench` (make bench): exact per-inference instruction counts of the standard models on
every emulated board — the board's own kernel variant (boards.yaml kernel_variant), `_builtin`
(__builtin_popcount, the usual BNN code generator's choice) and `_ref` — per kernel call, with
flash and peak RAM (arena + measured stack high-water mark) beside their bounds; the per-word
micro-benchmark of every variant; float32 / int8 baselines of the same networks; and the host
(x86-64, `_hw`, -O2 -mpopcnt) against Larq Compute Engine. Writes bench/results.json and
bench/RESULTS.md.

Also the integer-input MNIST configurations (bench/intinput.py) on qemu_m4/m0/rv32, and per op
kind the share of the whole model before (bench/baseline.json, a committed earlier run) and now
(bench/opkinds.py).

Also per binary layer, the engine each sliced variant chooses against the best available
(bench/layerchoice.py: the bit-sliced engine, the plain one and `_builtin`, each forced).

Options: --models a,b  --boards x,y  --baseline-boards x,y  --no-host  --no-intinput
--no-layerchoice  --out DIR.
Cost: one export per (model, variant), one build and one inference per (model, board, variant),
counted by a QEMU plugin (larq2mcu/board/counter.py). Untrained weights (zoo builders + randomize_bn): the
instruction count does not depend on the weights' values.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from . import BINARY_KERNELS, opkinds  # noqa: E402

HERE = Path(__file__).resolve().parent
MODELS = {"mnist_bnn": (28, 28, 1), "seed_mixed_cnn": (28, 28, 1), "bireal_tiny": (28, 28, 1),
          "cifar_bnn": (32, 32, 3)}
BOARDS = ["qemu_m0", "qemu_m4", "qemu_m7", "qemu_m33", "qemu_m55", "qemu_rv32", "qemu_rv32_zbb", "qemu_lx106"]
BASELINE_BOARDS = ["qemu_m0", "qemu_m4", "qemu_rv32"]


def binary_macs(g) -> list:
    """[(op name, binary MACs)] for every binary conv/dense op, in execution order."""
    out = []
    for op in g.ops:
        kind = type(op).__name__
        if kind == "BinaryConv2D":
            oh, ow, oc = g.tensors[op.output].shape
            out.append((op.layer, oh * ow * oc * int(np.prod(op.weights.shape[:3]))))
        elif kind == "BinaryDense":
            out.append((op.layer, int(np.prod(op.weights.shape))))
    return out


def flash_bound(exp, variant: str = "ref") -> tuple[int, int]:
    """(bytes of constant arrays as `variant` exports them, bound: ⌈binary weight bits/8⌉ + every
    other array — thresholds (or the sliced engine's counter planes / bit counts) and float
    parameters — at its exported size). Binary weights are those of binary ops and the ±1 kernels
    of float-input layers with a binary kernel quantizer; their arrays are `_w` (the sliced
    engine's rows included, with their padding rows)."""
    from larq2mcu import codegen
    actual = bound = 0
    low = exp.lowered if exp.lowered.variant.name == variant else codegen.lower(exp.graph, exp.plan, exp.name, variant)
    for s in low.steps:
        w = getattr(s.op, "weights", None)
        if w is None:
            w = getattr(s.op, "kernel", None)
        is_bin = w is not None and np.isin(np.asarray(w), (-1, 1)).all()
        for a in s.arrays:
            actual += a.nbytes
            bound += math.ceil(np.asarray(w).size / 8) if is_bin and a.name.endswith("_w") else a.nbytes
    return actual, bound


def count_elf(elf, board, extra: dict | None = None) -> dict:
    from larq2mcu import board as targets

    from larq2mcu.board import counter as trace
    c = trace.count(elf, board, "net")
    sz = targets.size(elf, board)
    # a layer-specialized kernel function net_op<i>_<kernel>_<variant> is listed as l2m_<kernel>_<variant>
    calls = [(re.sub(r"^net_op\d+_", "l2m_", f), n) for f, n in c.calls]
    binary = sum(n for f, n in calls if f.startswith(BINARY_KERNELS))
    return {"instructions": c.total, "ok": c.ok, "calls": calls, "binary_kernel_instructions": binary,
            "image_flash": sz.flash, "image_ram": sz.ram, "stack_hwm": c.stack_hwm, **(extra or {})}


def run_variant(exp, board, x, workdir: Path) -> dict:
    """The counted run of `exp` on `board` for the samples x (N, input length). The harness is
    given the host build's outputs for x and checks the board's against them bit for bit, so a
    count is never that of a wrong result: a mismatch raises."""
    from larq2mcu import board as targets
    from larq2mcu.errors import BoardError
    host = exp.build_host()
    want = host.predict(np.asarray(x).reshape((-1, *host.input_shape)))
    outs = want if isinstance(want, list) else [want]
    expected = np.concatenate([o.reshape(len(o), -1) for o in outs], axis=1).tolist()
    try:
        elf = targets.build(exp.out_dir, board, x, expected, workdir)
    except BoardError as e:
        return {"skipped": str(e)}
    r = count_elf(elf, board)
    if not r["ok"]:
        raise RuntimeError(f"{exp.name} ({exp.out_dir}) on {board.name}: outputs differ from the host build's")
    return r


def run_baseline(g, kind, board, x, root: Path, cache: dict) -> dict:
    from larq2mcu.board import profiles as boards
    from larq2mcu import board as targets
    from larq2mcu.errors import BoardError

    from . import baselines
    if kind not in cache:
        cache[kind] = baselines.write(g, kind, root / kind)
    info = cache[kind]
    fit = boards.fits(board, info["flash_params"], info["arena"])
    if not fit:
        return {"skipped": f"does not fit: {fit.message}", **info}
    try:
        elf = targets.build(root / kind, board, x, None, root / f"w_{board.name}_{kind}",
                            extra_cflags=baselines.CFLAGS)
    except BoardError as e:
        return {"skipped": str(e), **info}
    return count_elf(elf, board, info)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--baseline-boards", default=",".join(BASELINE_BOARDS))
    ap.add_argument("--no-host", action="store_true")
    ap.add_argument("--no-intinput", action="store_true")
    ap.add_argument("--no-layerchoice", action="store_true")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)
    import larq2mcu
    from larq2mcu.board import runs as boardrun
    from larq2mcu.board import profiles as boards
    from larq2mcu.dev import zoo
    from larq2mcu._tf import tf_modules
    from larq2mcu.errors import BoardError

    from . import hostbench, layerchoice, microbench
    tf, keras, lq = tf_modules()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                                capture_output=True, text=True).stdout.strip())
    results = {"commit": commit, "dirty_tree": dirty, "models": {}, "per_word": {}, "host": {}}
    bnames = args.boards.split(",")
    t0 = time.time()
    log = lambda msg: print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="l2m-bench-") as tmp:
        tmp = Path(tmp)
        for bname in bnames:
            results["per_word"][bname] = microbench.per_word(boards.get_board(bname), tmp / "pw" / bname)
            log(f"per-word {bname}: {results['per_word'][bname]}")
        for mname in args.models.split(","):
            keras.utils.set_random_seed(0)
            model = zoo.randomize_bn(getattr(zoo, mname)(input_shape=MODELS[mname]), seed=1)
            exps: dict = {}

            def export(v):
                if v not in exps:
                    exps[v] = larq2mcu.export(model, tmp / mname / v, name="net", kernel_variant=v)
                return exps[v]
            e = export("ref")
            x = np.random.default_rng(0).uniform(-1, 1, (1, *MODELS[mname])).astype(np.float32)
            xf = x.reshape(1, -1)
            actual, bound = flash_bound(e)
            macs = binary_macs(e.graph)
            mres = results["models"][mname] = {
                "binary_macs": sum(n for _, n in macs), "binary_layers": macs, "weights_bytes": actual,
                "weights_bound": bound, "arena": e.plan.arena_size, "arena_lower_bound": e.plan.lower_bound,
                "boards": {}, "baselines": {}}
            bl_cache: dict = {}
            variants = sorted({boards.get_board(b).kernel_variant for b in bnames})
            mres["weights_by_variant"] = {v: flash_bound(e, v)[0] for v in variants}
            for bname in bnames:
                board = boards.get_board(bname)
                bres = mres["boards"][bname] = {}
                try:
                    boardrun.check_fit(e, board)
                except BoardError as err:
                    bres["skipped"] = {"skipped": str(err)}
                    log(f"{mname} {bname}: skipped ({err})")
                    continue
                for v in dict.fromkeys((board.kernel_variant, "builtin", "ref")):
                    r = bres[v] = run_variant(export(v), board, xf, tmp / "w" / mname / bname / v)
                    if "calls" in r:        # which step made each call (bench/opkinds.py)
                        r["steps"] = opkinds.step_info(export(v).lowered)
                    log(f"{mname} {bname} {v}: {r.get('instructions', r.get('skipped'))}")
            for bname in filter(None, args.baseline_boards.split(",")):
                board = boards.get_board(bname)
                for kind in ("f32", "i8"):
                    r = run_baseline(e.graph, kind, board, xf, tmp / mname / "baseline", bl_cache)
                    mres["baselines"].setdefault(bname, {})[kind] = r
                    log(f"{mname} {bname} baseline {kind}: {r.get('instructions', r.get('skipped'))}")
            if not args.no_host:
                results["host"][mname] = hostbench.host_vs_lce(model, export("hw").out_dir, "net", x,
                                                               tmp / "host" / mname)
                log(f"{mname} host: {results['host'][mname]}")
        ib = [b for b in ("qemu_m4", "qemu_m0", "qemu_rv32") if b in bnames]
        if ib and not args.no_intinput:
            from . import intinput
            results["intinput"] = intinput.measure(ib, tmp / "intinput")
            log(f"integer input: {results['intinput']}")
        lc_boards = {v: b for v, b in layerchoice.BOARD_OF.items() if b in bnames}
        if lc_boards and not args.no_layerchoice:      # per-layer engine choice (bench/layerchoice.py)
            results["layerchoice"] = layerchoice.per_layer(tmp / "layerchoice", tuple(args.models.split(",")),
                                                           tuple(lc_boards))
            log("per-layer engine choice measured")
    results["wall_s"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    from .report import markdown
    base = HERE / "baseline.json"
    before = json.loads(base.read_text()) if base.is_file() else None
    (out / "RESULTS.md").write_text(markdown(results, before))
    log(f"wrote {out / 'results.json'} and {out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
