"""`python -m larq2mcu.dev.zoo_sizes`: every larq-zoo architecture (larq_zoo.literature and .sota,
`weights=None`, 10 classes, the input side tests/test_larq_zoo.py uses) lowered by larq2mcu, with
its weights (flash, `ref` layout), arena, binary and float MACs, and the physical board profiles of
boards.yaml whose flash and RAM hold weights + arena (`board.runs.check_fit`'s estimate: code and
stack come on top, a few KB). Prints the Markdown table that README and docs/ZOO.md carry.

Needs larq-zoo (a test dependency). Lowering only: no host build, no comparison (that is the test).
"""
from __future__ import annotations

import argparse
import sys

# (module name, builder, input side): the sides of tests/test_larq_zoo.py
ARCHS = [
    ("sota", "QuickNetSmall", 32), ("sota", "QuickNet", 32), ("sota", "QuickNetLarge", 32),
    ("literature", "BinaryAlexNet", 64), ("literature", "BiRealNet", 32),
    ("literature", "BinaryResNetE18", 32), ("literature", "BinaryDenseNet28", 32),
    ("literature", "BinaryDenseNet37", 32), ("literature", "BinaryDenseNet37Dilated", 32),
    ("literature", "BinaryDenseNet45", 32), ("literature", "DoReFaNet", 64),
    ("literature", "MeliusNet22", 32), ("literature", "RealToBinaryNet", 32),
    ("literature", "XNORNet", 224),
]


def measure(module: str, name: str, side: int) -> dict:
    """{weights, arena, binary_macs, float_macs} of one architecture, or {error} if refused."""
    import importlib

    from .. import report
    from ..export import lower
    from .._tf import tf_modules
    from ..errors import Larq2McuError
    from . import zoo
    _, keras, _ = tf_modules()
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    mod = importlib.import_module(f"larq_zoo.{module}")
    model = zoo.randomize_bn(getattr(mod, name)(weights=None, input_shape=(side, side, 3), num_classes=10,
                                                include_top=True), seed=1)
    try:
        *_, low = lower(model, "zoo")
    except Larq2McuError as e:
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
    rows = report.rows(low)
    return {"weights": low.weight_bytes, "arena": low.plan.arena_size,
            "binary_macs": sum(r.binary_macs for r in rows), "float_macs": sum(r.float_macs for r in rows)}


def markdown(results: list) -> str:
    """The table: architecture, input, weights, arena, MACs, boards that hold weights + arena."""
    from ..board.profiles import fits, load_boards
    boards = [b for b in load_boards().values() if b.qemu is None]
    lines = ["| architecture | input | weights (flash) | arena (RAM) | binary MACs | float MACs "
             "| fits (weights + arena) |",
             "|---|---|---:|---:|---:|---:|---|"]
    for (_, name, side), r in results:
        if "error" in r:
            lines.append(f"| {name} | {side}×{side}×3 | refused: {r['error']} | | | | |")
            continue
        ok = [b.name for b in boards if fits(b, r["weights"], r["arena"])]
        lines.append(f"| {name} | {side}×{side}×3 | {r['weights']:,} B | {r['arena']:,} B | "
                     f"{r['binary_macs']:,} | {r['float_macs']:,} | {', '.join(ok) or 'none'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Measure ARCHS (or --only), progress on stderr, the table on stdout."""
    ap = argparse.ArgumentParser(prog="python -m larq2mcu.dev.zoo_sizes")
    ap.add_argument("--only", default="", help="comma-separated builder names (default: all)")
    args = ap.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    res = []
    for a in ARCHS:
        if only and a[1] not in only:
            continue
        r = measure(*a)
        print(a[1], r, file=sys.stderr, flush=True)
        res.append((a, r))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
