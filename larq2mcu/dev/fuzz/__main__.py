"""CLI: python -m larq2mcu.dev.fuzz --models N --seed S [--out summary.json] [--markdown FUZZ.md]

Prints the summary; writes JSON (--out, default fuzz-summary.json) and Markdown (--markdown,
default: the JSON path with .md). Exit status 1 on any failure, crash or generator error.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path


def _why(res) -> str:
    if res.error:
        return res.error.splitlines()[0]
    fails = [i for i in res.issues if i.kind == "failure"]
    return f"{len(fails)} failing samples, e.g. sample {fails[0].sample}: {fails[0].detail}" if fails else ""


def _merge(a) -> int:
    import json
    from .report import Summary
    parts = [Summary.from_json(json.loads(Path(f).read_text())) for f in a.merge]
    s = parts[0]
    for o in parts[1:]:
        s = s.merge(o)
    print(s.text())
    out = Path(a.out)
    s.write_json(out)
    md = Path(a.markdown) if a.markdown else out.with_suffix(".md")
    md.write_text(s.markdown())
    print(f"wrote {out} and {md}")
    return 0 if s.ok else 1


def main(argv=None) -> int:
    """Entry point of `python -m larq2mcu.dev.fuzz`: run a campaign, or merge shard summaries (--merge)."""
    p = argparse.ArgumentParser(prog="python -m larq2mcu.dev.fuzz", description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=200, help="number of random models (default 200)")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    p.add_argument("--inputs", type=int, default=100, help="inputs per model (default 100)")
    p.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--out", default="fuzz-summary.json", help="JSON summary path")
    p.add_argument("--markdown", default=None, help="Markdown summary path (default: --out with .md)")
    p.add_argument("--cflags", default="", help="extra C flags of every host build, e.g. -DL2M_W1_FIXED=1 (the "
                   "integer first layer of cores without an FPU)")
    p.add_argument("--quiet", action="store_true", help="no per-model progress lines")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="merge the JSON summaries of parallel shards "
                   "into --out/--markdown instead of running")
    a = p.parse_args(argv)
    if a.merge:
        return _merge(a)

    from . import run_campaign
    t0 = time.perf_counter()

    def progress(i, res, s):
        bad = res.status != "pass"
        if bad or (not a.quiet and (i % 25 == 24 or i < 3)):
            el = time.perf_counter() - t0
            print(f"[{i + 1}/{a.models}] seed={res.seed} {res.status} {res.seconds:.2f}s "
                  f"(flips {s.rounding_flip_samples}, fails {s.failed + s.crashed + s.generator_errors}, "
                  f"{el:.0f}s)" + (f"\n    {_why(res)}" if bad else ""),
                  flush=True)

    s = run_campaign(a.models, a.seed, a.inputs, a.time_limit, progress, shlex.split(a.cflags))
    s.command = "python -m larq2mcu.dev.fuzz " + " ".join(shlex.quote(x) for x in (argv if argv is not None
                                                                                 else sys.argv[1:]))
    print(s.text())
    out = Path(a.out)
    s.write_json(out)
    md = Path(a.markdown) if a.markdown else out.with_suffix(".md")
    md.write_text(s.markdown())
    print(f"wrote {out} and {md}")
    return 0 if s.ok else 1


if __name__ == "__main__":
    sys.exit(main())
