"""Report data of an export, all read off its `Lowered` record (so the numbers equal the generated
header's): per-layer rows (op, output shape, bit width, weight bytes as written, arena bytes, MACs
from the op table), totals against their bounds (packed weights vs ⌈bits/8⌉, arena vs the
planner's bound), the JSON-ready dict stored in the manifest, and the terminal renderings.
html_report.py renders the same data as HTML.

* `report_entry(low)` / `collect(exp)` → JSON-ready dict: per-layer rows, arena buffers (offset,
  bytes, first/last op step), totals.
* `report_dir(out_dir) -> str` re-creates the text report from an export folder: from the
  manifest's "report" entry, else from `report.json` when it matches the manifest's model_hash,
  else from larq2mcu.json plus what the generated C states (op kinds, layer names, weight arrays).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ir, latency_report
from .ops import opdef
from .outdir import MANIFEST, read_manifest

SIDECAR = "report.json"
BINARY_OPS = ("BinaryConv2D", "BinaryDense", "BinaryGroupConv2D")


@dataclass(frozen=True)
class Row:
    """One report line per lowered step: op kind, Keras layer, output shape, output bits per value
    (1 or 32), weight bytes as written, arena bytes (0 for a view), MACs, bits per stored weight."""
    index: int
    op: str
    layer: str
    shape: tuple
    bits: int
    weight_bytes: int
    arena_bytes: int
    binary_macs: int
    float_macs: int
    weight_bits: int = 0       # bits per stored weight: 1 (packed), 32 (float), 0 (no weights)


def rows(low) -> list:
    """One Row per lowered step (weight bytes = the step's arrays as written for its variant)."""
    g = low.graph
    res = []
    for s in low.steps:
        op = s.op
        t = g.tensors[op.output]
        cost = opdef(op).cost(g, op)
        packed = isinstance(op, (ir.BinaryConv2D, ir.BinaryDense, ir.BinaryGroupConv2D)) or (
            isinstance(op, (ir.Conv2D, ir.Dense)) and bool(np.all(np.abs(op.kernel) == 1.0)))
        wbytes = s.weight_bytes
        res.append(Row(s.index, type(op).__name__, op.layer, t.shape, 1 if t.dtype == ir.BITS else 32,
                       wbytes, 0 if ir.is_view(g, op) else t.nbytes, cost.binary_macs, cost.float_macs,
                       1 if packed else (32 if wbytes else 0)))
    return res


def binary_weight_bits(g: ir.Graph) -> int:
    """1-bit weights: binary layers, and ±1 kernels of float-input layers (stored as bits too)."""
    n = sum(int(op.weights.size) for op in g.ops
            if isinstance(op, (ir.BinaryConv2D, ir.BinaryDense, ir.BinaryGroupConv2D)))
    return n + sum(int(op.kernel.size) for op in g.ops
                   if isinstance(op, (ir.Conv2D, ir.Dense)) and np.all(np.abs(op.kernel) == 1.0))


def format_table(low, extra: dict | None = None) -> str:
    """The export's layer table and totals (what `larq2mcu export` prints)."""
    g, plan, name = low.graph, low.plan, low.name
    rs = rows(low)
    head = ("#", "op", "layer", "output", "bits", "weight B", "arena B", "binary MACs", "float MACs")
    body = [(str(r.index), r.op, r.layer, "x".join(map(str, r.shape)) or "scalar", str(r.bits),
             f"{r.weight_bytes:,}", f"{r.arena_bytes:,}", f"{r.binary_macs:,}", f"{r.float_macs:,}") for r in rs]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    right = {0, 4, 5, 6, 7, 8}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [f"larq2mcu export '{name}'", line(head), line(["-" * w for w in widths])]
    out += [line(b) for b in body]
    wb = sum(r.weight_bytes for r in rs)
    bits_bound = (binary_weight_bits(g) + 7) // 8
    packed = sum(r.weight_bytes for r in rs if r.op in ("BinaryConv2D", "BinaryDense", "BinaryGroupConv2D"))
    thr = sum(4 * int(op.threshold.tau.size) for op in g.ops
              if isinstance(op, (ir.BinaryConv2D, ir.BinaryDense, ir.BinaryGroupConv2D)) and op.threshold is not None)
    out.append("")
    out.append(f"weights (flash): {wb:,} B total; binary layers {packed:,} B incl. {thr:,} B thresholds "
               f"(binary weight bound ceil(bits/8) = {bits_bound:,} B)")
    out.append(f"arena (RAM): {plan.arena_size:,} B (planner lower bound {plan.lower_bound:,} B)")
    out.append(f"binary MACs: {sum(r.binary_macs for r in rs):,}   float MACs: {sum(r.float_macs for r in rs):,}")
    out += output_lines(output_entries(low))
    for k, v in (extra or {}).items():
        out.append(f"{k}: {v}")
    return "\n".join(out)


def output_entries(low) -> list:
    """One dict per model output (model order): index, Keras name, shape, the IR tensor, its
    C parameter of `<name>_invoke` and its header macro prefix (the manifest's "outputs")."""
    N = low.name.upper()
    return [dict(index=o.index, name=o.keras_name, shape=list(o.shape), tensor=o.tensor, param=o.param,
                 macro=f"{N}_OUTPUT_{o.ident}" if o.ident else f"{N}_OUTPUT") for o in low.outputs]


def output_lines(outputs) -> list:
    """Text lines listing a model's outputs; none for a single-output model (its shape is in the table)."""
    if not outputs or len(outputs) < 2:
        return []
    lines = [f"outputs: {len(outputs)} (model order; <name>_invoke takes one buffer per output)"]
    for o in outputs:
        shape = "x".join(map(str, o["shape"])) or "scalar"
        lines.append(f"  {o['index']}  {o['name']:<24} {shape:<12} {o['param']:<20} {o['macro']}_LEN")
    return lines


def report_entry(low) -> dict:
    """The report data of a `Lowered` record, without name/model_hash: what export() stores as
    the manifest's "report" entry so `report_dir` needs nothing else."""
    g, plan = low.graph, low.plan
    layers = [dict(index=r.index, op=r.op, layer=r.layer, shape=list(r.shape), bits=r.bits,
                   weight_bits=r.weight_bits,
                   weight_bytes=r.weight_bytes, arena_bytes=r.arena_bytes, binary_macs=r.binary_macs,
                   float_macs=r.float_macs) for r in rows(low)]
    buffers = [dict(tensor=t, offset=int(off), size=int(g.tensors[t].nbytes),
                    first=int(plan.lifetimes[t][0]), last=int(plan.lifetimes[t][1]))
               for t, off in sorted(plan.offsets.items(), key=lambda kv: plan.lifetimes[kv[0]])]
    return dict(arena_size=int(plan.arena_size), lower_bound=int(plan.lower_bound), steps=len(g.ops),
                input_shape=list(g.tensors[g.inputs[0]].shape),
                output_shape=list(g.tensors[g.outputs[0]].shape), outputs=output_entries(low),
                layers=layers, buffers=buffers,
                binary_weight_bound=(binary_weight_bits(g) + 7) // 8,
                weight_bytes=low.weight_bytes, kernel_variant=low.variant.name)


def collect(exp) -> dict:
    """Everything the reports show, from an Export (graph, plan, rows); JSON-serialisable."""
    return dict(report_entry(exp.lowered), name=exp.name, model_hash=exp.model_hash)


def totals(data: dict) -> dict:
    """Sums over data["layers"] (a report dict): weight bytes, those of binary layers, binary and
    float MACs (None counts as 0)."""
    L = data["layers"]
    return dict(weight_bytes=sum(r["weight_bytes"] for r in L),
                binary_weight_bytes=sum(r["weight_bytes"] for r in L if r["op"] in BINARY_OPS),
                binary_macs=sum(r["binary_macs"] or 0 for r in L), float_macs=sum(r["float_macs"] or 0 for r in L))


def _bar(value: float, top: float, width: int = 30) -> str:
    """Unicode bar of value/top scaled to `width` cells (eighth-block resolution)."""
    if top <= 0 or value <= 0:
        return ""
    cells = value / top * width
    full = int(cells)
    part = " ▏▎▍▌▋▊▉"[int((cells - full) * 8)]
    return ("█" * full + (part if part != " " else "")) or "▏"


def format_text(data: dict) -> str:
    """Terminal report: layer table, flash bars by layer, arena use per op step, totals."""
    L, tot = data["layers"], totals(data)
    fmt = lambda v: "?" if v is None else f"{v:,}"  # noqa: E731
    out = [f"larq2mcu export '{data['name']}' (model {data['model_hash']})",
           f"{'#':>3}  {'op':<16} {'layer':<24} {'output':<10} {'bits':>4} {'weight B':>9} "
           f"{'arena B':>8} {'binary MACs':>12} {'float MACs':>11}"]
    for r in L:
        shape = "x".join(map(str, r["shape"])) if r["shape"] is not None else "?"
        out.append(f"{r['index']:>3}  {r['op']:<16} {r['layer'][:24]:<24} {shape:<10} {fmt(r['bits']):>4} "
                   f"{r['weight_bytes']:>9,} {fmt(r['arena_bytes']):>8} {fmt(r['binary_macs']):>12} "
                   f"{fmt(r['float_macs']):>11}")
    top = max([r["weight_bytes"] for r in L], default=0)
    out += ["", "flash by layer (constant data):"]
    for r in L:
        if r["weight_bytes"]:
            out.append(f"  {r['layer'][:24]:<24} {_bar(r['weight_bytes'], top):<30} {r['weight_bytes']:>9,} B")
    if data.get("buffers"):
        live = [sum(b["size"] for b in data["buffers"] if b["first"] <= s <= b["last"]) for s in range(data["steps"])]
        peak = max(live, default=0)
        out += ["", "arena bytes live per op step:"]
        for s, v in enumerate(live):
            out.append(f"  op {s:>3} {_bar(v, peak):<30} {v:>9,} B")
    out += ["", f"weights (flash): {tot['weight_bytes']:,} B (binary layers {tot['binary_weight_bytes']:,} B)",
            f"arena (RAM): {data['arena_size']:,} B"
            + (f" (planner lower bound {data['lower_bound']:,} B)" if data.get("lower_bound") is not None else "")]
    if any(r["binary_macs"] is not None for r in L):
        out.append(f"binary MACs: {tot['binary_macs']:,}   float MACs: {tot['float_macs']:,}")
    out += output_lines(data.get("outputs"))
    bd = data.get("board")
    lat = data.get("latency")
    if bd and bd["name"] not in latency_report.footprints(lat):   # else the linked image's line below
        for label, used, have in (("flash", tot["weight_bytes"], bd["flash"]), ("RAM", data["arena_size"], bd["ram"])):
            out.append(f"{bd['name']} {label}: {_bar(used, have, 20):<20} {used:,}/{have:,} B "
                       f"({100 * used / have:.1f} %)")
    if data.get("accuracy") is not None:
        out.append(f"accuracy: {100 * data['accuracy']:.2f} %")
    ag = data.get("agreement")
    if ag:
        out.append(f"agreement on {ag['n']:,} samples: {'AGREE' if ag['ok'] else 'DISAGREE'} (bit mismatches "
                   f"{ag['bit_mismatches']:,}/{ag['bits_total']:,}, argmax {100 * ag['argmax_agreement']:.2f} %, "
                   f"max |Δ| {ag['max_abs_diff']:.3g})")
    out += latency_report.text_lines(lat)
    return "\n".join(out)


def with_latency(data: dict, out_dir) -> dict:
    """`data` plus the export folder's latency sidecar (latency_report.load) under "latency",
    when there is one for this model."""
    lat = latency_report.load(out_dir, data.get("model_hash"), data.get("kernel_variant"))
    return dict(data, latency=lat) if lat else data


_OP_LINE = re.compile(r"/\* op (\d+): (\w+) \((.*)\) \*/")
_ARRAY = re.compile(r"static const (\w+) (\w+)_op(\d+)_\w+\[(\d+)\]")
_OFFSET = re.compile(r"\(a \+ (\d+)\)\);?\s*$")


def _from_c(out: Path, manifest: dict) -> dict:
    """Best-effort data from the generated C when report.json is absent or stale: op kinds,
    layer names, weight bytes per op (4 bytes per array element: every array is 32-bit)."""
    name = manifest["name"]
    src = (out / f"{name}.c").read_text(encoding="utf-8")
    weights = (out / f"{name}_weights.c").read_text(encoding="utf-8") if (out / f"{name}_weights.c").is_file() else ""
    wbytes: dict = {}
    for m in _ARRAY.finditer(weights):
        wbytes[int(m.group(3))] = wbytes.get(int(m.group(3)), 0) + 4 * int(m.group(4))
    layers = [dict(index=int(m.group(1)), op=m.group(2), layer=m.group(3), shape=None, bits=None, weight_bits=None,
                   weight_bytes=wbytes.get(int(m.group(1)), 0), arena_bytes=None, binary_macs=None,
                   float_macs=None) for m in _OP_LINE.finditer(src)]
    return dict(name=name, model_hash=manifest.get("model_hash", "?"), arena_size=int(manifest.get("arena_size", 0)),
                lower_bound=None, steps=len(layers), input_shape=manifest.get("input_shape"),
                output_shape=manifest.get("output_shape"), layers=layers, buffers=[])


def report_dir(out_dir) -> str:
    """Text report of an export folder (see module docstring). Raises OutputDirError when the
    folder holds no larq2mcu export."""
    from .errors import OutputDirError
    out = Path(out_dir)
    manifest = read_manifest(out)
    if manifest is None:
        raise OutputDirError(f"{out} holds no larq2mcu export ({MANIFEST} missing or unreadable)")
    side = out / SIDECAR
    sidecar = None
    if side.is_file():
        try:
            sidecar = json.loads(side.read_text(encoding="utf-8"))
        except ValueError:
            sidecar = None
        if sidecar is not None and sidecar.get("model_hash") != manifest.get("model_hash"):
            sidecar = None       # written for an earlier export: its numbers would be wrong
    # The manifest's own "report" entry (export() records it); the sidecar adds accuracy/agreement.
    data = None
    if isinstance(manifest.get("report"), dict):
        data = dict(manifest["report"], name=manifest["name"], model_hash=manifest.get("model_hash", "?"))
        if sidecar is not None:
            data = dict(sidecar, **data)
    elif sidecar is not None:
        data = sidecar
    note = ""
    if data is None:
        data = _from_c(out, manifest)
        note = (f"\n(shapes, bit widths, MACs and the arena timeline are not recorded in {MANIFEST}; "
                f"they appear when the export is followed by html_report.write_html)")
    return format_text(with_latency(data, out)) + note
