"""Per-op-kind accounting of a counted inference (issue #14): which share of the whole model each
kind of kernel takes, its cost per unit of work, an estimated floor, before (a committed earlier
run, bench/baseline.json) and now.

A counted run gives one (function, instructions) pair per call made by `<name>_invoke`
(board/counter.py). `step_info` lists the export's lowered steps with the C functions each calls
(layer-specialised functions under their kernel's name, as count_elf names them) and the work of
the step; `attribute` walks both in order, so every counted call is charged to the step — and the
op kind — that made it. The kernel family (the function name without its variant suffix) is the
row of the tables, so a run of an older tree (whose steps are not recorded) lines up with today's.
"""
from __future__ import annotations

import re

import numpy as np

# Work unit of a kernel family: binary MACs for binary dots, float MACs for float dots, input
# elements for pooling (each input element is read once), output elements otherwise.
_POOLS = ("l2m_avgpool", "l2m_maxpool", "l2m_global_avgpool", "l2m_global_maxpool")

# Estimated floor, instructions per unit, for a single-issue Cortex-M core with an FPU and no
# contraction (-ffp-contract=off, as every build uses): the loads, arithmetic and stores one unit
# needs when loop overhead and parameters are amortised. Binary dots: the issue's own target
# (6 instructions per 32 binary MACs). Families not listed have no estimate (the float convs
# depend on their geometry).
FLOORS = {
    "l2m_batchnorm_f32": (4.0, "load, mul, add, store"),
    "l2m_quantize_f32_b32": (3.0, "load, sign bit to its place, or"),
    "l2m_dequantize_b32_f32": (3.0, "bit test, select ±1.0, store"),
    "l2m_add_f32_f32": (4.0, "2 loads, add, store"),
    "l2m_avgpool_f32_f32": (2.0, "load, add per input element"),
    "l2m_sumpool_f32_b32": (2.0, "load, add per input element (the compare and bit per output amortised)"),
    "l2m_maxpool_f32_f32": (2.0, "load, max per input element"),
    "l2m_global_avgpool_f32_f32": (2.0, "load, add per input element"),
    "l2m_dense_f32_f32": (2.0, "weight load, multiply-add (2 ops without contraction: 3)"),
    "l2m_dense_fw_b32_f32": (2.0, "weight load, add or subtract (the input bit picks which)"),
    "l2m_dense_qw_b32_f32": (1.0, "integer weight load and add where the input bit is set (half of them)"),
    "binary": (6 / 32, "6 instructions per 32 binary MACs (sliced engine target)"),
}
FPU_BOARDS = ("qemu_m4", "qemu_m7", "qemu_m33", "qemu_m55")


def _base(fn: str) -> str:
    """The function a gcc clone was made from: f.constprop.0, f.isra.0 (Xtensa gcc: f$constprop$0) → f."""
    return re.split(r"[.$]", fn)[0]


def family(fn: str) -> str:
    """Kernel family of a counted function: the name without the variant suffix."""
    return re.sub(r"_(ref|hs|clz|usad8|zbb|hw|builtin|opt)$", "", _base(fn))


def step_info(low, name: str = "net") -> list:
    """[{kind, fns, elements, in_elements, binary_macs, float_macs}] per lowered step, `fns`
    named as count_elf lists them (`<name>_op<i>_x` → `l2m_x`)."""
    from larq2mcu import ir
    from larq2mcu.ops import opdef
    g, out = low.graph, []
    for s in low.steps:
        op = s.op
        cost = opdef(op).cost(g, op)
        fns = [re.sub(rf"^{name}_op\d+_", "l2m_", c.fn) for c in s.calls if hasattr(c, "fn")]
        ins = [t for t in getattr(op, "inputs", ()) if t in g.tensors]
        out.append({"kind": type(op).__name__, "fns": fns,
                    "elements": 0 if ir.is_view(g, op) else int(np.prod(g.tensors[op.output].shape)),
                    "in_elements": int(np.prod(g.tensors[ins[0]].shape)) if ins else 0,
                    "binary_macs": int(cost.binary_macs), "float_macs": int(cost.float_macs)})
    return out


def attribute(calls: list, steps: list) -> list:
    """[(function, instructions, step index or None)]: each counted call matched, in order, to the
    next step that calls a function of that name (None: the output copy and anything unmatched)."""
    flat = [(i, fn) for i, st in enumerate(steps) for fn in st["fns"]]
    pos, res = 0, []
    for f, n in calls:
        base = _base(f)
        j = next((j for j in range(pos, len(flat)) if flat[j][1] == base), None)
        if j is None:
            res.append((f, n, None))
        else:
            res.append((f, n, flat[j][0]))
            pos = j + 1
    return res


def unit(fam: str, binary: bool) -> str:
    if binary:
        return "BMAC"
    if fam.startswith(_POOLS):
        return "input element"
    return "element"


def families(calls: list, steps: list | None, binary_prefixes: tuple) -> dict:
    """{family: {instructions, work, unit}} of one counted run; `work` from the matched steps
    (0 when `steps` is None: an old run without step records)."""
    out: dict = {}
    matched = attribute(calls, steps) if steps else [(f, n, None) for f, n in calls]
    seen: set = set()
    for f, n, i in matched:
        fam = family(f)
        binary = f.startswith(binary_prefixes)
        r = out.setdefault(fam, {"instructions": 0, "work": 0, "unit": unit(fam, binary), "binary": binary})
        r["instructions"] += n
        if i is not None and i not in seen:
            seen.add(i)
            st = steps[i]
            if binary:
                r["work"] += st["binary_macs"]
            elif st["float_macs"] and not fam.startswith(_POOLS):
                r["work"] += st["float_macs"]
                r["unit"] = "MAC"
            elif fam.startswith(_POOLS):
                r["work"] += st["in_elements"]
            else:
                r["work"] += st["elements"]
    return out


def table(mname: str, bname: str, now: dict, before: dict | None, binary_prefixes: tuple) -> list:
    """Markdown rows for one model × board (board variant): per kernel family, before and now."""
    v = next(iter(now))
    cur = now[v]
    if "calls" not in cur:
        return []
    fam_now = families(cur["calls"], cur.get("steps"), binary_prefixes)
    tot_now = cur["instructions"]
    prev = None
    if before:
        bv = before.get(v) or (next(iter(before.values())) if before else None)
        if bv and "calls" in bv:
            prev = families(bv["calls"], None, binary_prefixes), bv["instructions"]
    head = f"#### {mname} on {bname} (`{v}`): whole model {tot_now:,} instructions"
    if prev:
        head += f" (before: {prev[1]:,}; {prev[1] / tot_now:.2f}× fewer now)"
    out = [head, "",
           "| kernel family | unit | units | before instr | now instr | before share | now share "
           "| now instr/unit | floor (est.) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    names = list(dict.fromkeys([*fam_now, *(prev[0] if prev else {})]))
    for fam in sorted(names, key=lambda f: -fam_now.get(f, {}).get("instructions", 0)):
        r = fam_now.get(fam, {"instructions": 0, "work": 0, "unit": "", "binary": False})
        p = prev[0].get(fam) if prev else None
        per = f"{r['instructions'] / r['work']:.3g}" if r["work"] else ""
        fl = FLOORS.get("binary" if r["binary"] else fam)
        floor = f"{fl[0]:.3g}" if fl and bname in FPU_BOARDS else ""
        out.append(f"| `{fam}` | {r['unit']} | {r['work']:,} | {p['instructions']:,} | " if p else
                   f"| `{fam}` | {r['unit']} | {r['work']:,} | – | ")
        out[-1] += (f"{r['instructions']:,} | " + (f"{p['instructions'] / prev[1]:.1%} | " if p else "– | ")
                    + f"{r['instructions'] / tot_now:.1%} | {per} | {floor} |")
    return out + [""]


def section(results: dict, before: dict | None, binary_prefixes: tuple) -> list:
    """The per-op-kind section of RESULTS.md: one table per model × board."""
    out = ["## Per op kind, before and now (issue #14)", "",
           "Each counted call is charged to the lowered step that made it (bench/opkinds.py), rows are "
           "kernel families (the function without its variant suffix). *before* = "
           + (f"`bench/baseline.json` (commit `{before.get('commit')}`, the same models and inputs)"
              if before else "no baseline") +
           "; *units* = binary MACs for binary dots, MACs for float dots, input elements for pooling, "
           "output elements otherwise. *floor (est.)*: loads + arithmetic + stores per unit on a "
           "single-issue Cortex-M with FPU and no contraction (bench/opkinds.py FLOORS, with its "
           "reasoning); shown for FPU boards only, blank where no estimate is made.", ""]
    for f, (fl, why) in FLOORS.items():
        out.append(f"- `{f}`: {fl:.3g} — {why}")
    out.append("")
    for mname, m in results["models"].items():
        bm = (before or {}).get("models", {}).get(mname, {}).get("boards", {})
        for bname, vs in m["boards"].items():
            if not vs or "skipped" in vs or "skipped" in next(iter(vs.values())):
                continue
            out += table(mname, bname, vs, bm.get(bname), binary_prefixes)
    return out
