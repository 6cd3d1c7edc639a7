"""Export reports: a self-contained HTML page (inline SVG, no scripts, no external assets) and a
plain-text report with bars for the terminal.

* `report_entry(graph, plan, name)` / `collect(exp)` → JSON-ready dict: per-layer rows, arena buffers (offset, bytes, first/last op
  step from exp.plan; bytes from exp.graph.tensors[t].nbytes), totals.
* `write_html(exp, path, accuracy=None, agreement=None, board=None) -> Path` renders
  templates/report.html.j2 (Jinja2, StrictUndefined, autoescaped) and also stores the collected
  data as `report.json` in the export folder, so `report_dir` can rebuild the full report later.
* `report_dir(out_dir) -> str` re-creates the text report from an export folder: from the
  manifest's "report" entry (= collect(exp), once export() writes it), else from `report.json`
  when it matches the manifest's model_hash, else from larq2mcu.json plus what the generated C
  states (op kinds, layer names, weight array sizes).

`accuracy` is a fraction in [0, 1]; `agreement` a verify.Agreement; `board` a boards.Board, a
board name (resolved through larq2mcu.boards), or a mapping with name/flash/ram in bytes.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .outdir import MANIFEST, read_manifest
from .paths import templates_dir

SIDECAR = "report.json"
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
BINARY_OPS = ("BinaryConv2D", "BinaryDense")


# ------------------------------------------------------------------------------------ data
def report_entry(g, plan, name: str) -> dict:
    """The report data of a lowered graph + plan, without name/model_hash: what export() can
    store as the manifest's "report" entry so `report_dir` needs nothing else."""
    from . import report
    layers = [dict(index=r.index, op=r.op, layer=r.layer, shape=list(r.shape), bits=r.bits,
                   weight_bits=r.weight_bits,
                   weight_bytes=r.weight_bytes, arena_bytes=r.arena_bytes, binary_macs=r.binary_macs,
                   float_macs=r.float_macs) for r in report.rows(g, plan, name)]
    buffers = [dict(tensor=t, offset=int(off), size=int(g.tensors[t].nbytes),
                    first=int(plan.lifetimes[t][0]), last=int(plan.lifetimes[t][1]))
               for t, off in sorted(plan.offsets.items(), key=lambda kv: plan.lifetimes[kv[0]])]
    return dict(arena_size=int(plan.arena_size), lower_bound=int(plan.lower_bound), steps=len(g.ops),
                input_shape=list(g.tensors[g.inputs[0]].shape),
                output_shape=list(g.tensors[g.outputs[0]].shape), layers=layers, buffers=buffers,
                binary_weight_bound=(report.binary_weight_bits(g) + 7) // 8)


def collect(exp) -> dict:
    """Everything the reports show, from an Export (graph, plan, rows); JSON-serialisable."""
    return dict(report_entry(exp.graph, exp.plan, exp.name), name=exp.name, model_hash=exp.model_hash)


def _board_info(board) -> dict | None:
    if board is None:
        return None
    if isinstance(board, str):
        from .boards import get_board
        board = get_board(board)
    if isinstance(board, dict):
        return dict(name=str(board.get("name", "board")), flash=int(board["flash"]), ram=int(board["ram"]))
    return dict(name=board.name, flash=int(board.flash), ram=int(board.ram))


def _agreement_info(ag) -> dict | None:
    if ag is None:
        return None
    bits_total = sum(v[1] for v in ag.bit_tensors.values())
    return dict(n=int(ag.n), ok=bool(ag.ok), bit_mismatches=int(ag.bit_mismatches), bits_total=int(bits_total),
                max_abs_diff=float(ag.max_abs_diff), argmax_agreement=float(ag.argmax_agreement),
                tensors=[dict(kind="bits", label=lab, value=f"{tot - bad:,}/{tot:,} identical", ok=bad == 0)
                         for bad, tot, lab in ag.bit_tensors.values()]
                + [dict(kind="float", label=lab, value=f"max |Δ| = {d:.3g}", ok=True)
                   for d, lab in ag.float_tensors.values()])


def totals(data: dict) -> dict:
    L = data["layers"]
    return dict(weight_bytes=sum(r["weight_bytes"] for r in L),
                binary_weight_bytes=sum(r["weight_bytes"] for r in L if r["op"] in BINARY_OPS),
                binary_macs=sum(r["binary_macs"] or 0 for r in L), float_macs=sum(r["float_macs"] or 0 for r in L))


# ---------------------------------------------------------------------------------- charts
def _ticks(hi: float, n: int = 5) -> list:
    """Round tick values 0..hi (1/2/5 × 10^k steps)."""
    if hi <= 0:
        return [0]
    raw = hi / n
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return [int(i * step) for i in range(int(hi // step) + 1)]


def flash_chart(data: dict, width: int = 960) -> dict:
    """Horizontal bars: weight bytes per op that has constant data."""
    rows = [r for r in data["layers"] if r["weight_bytes"] > 0]
    left, bar, gap, right = 260, 18, 6, 90
    top = max([r["weight_bytes"] for r in rows], default=1)
    plot_w = width - left - right
    bars = [dict(x=left, y=10 + i * (bar + gap), w=max(1.0, plot_w * r["weight_bytes"] / top), h=bar,
                 label=f"#{r['index']} {r['layer']} ({r['op']})", value=f"{r['weight_bytes']:,} B",
                 fill=PALETTE[0] if r["op"] in BINARY_OPS else PALETTE[1]) for i, r in enumerate(rows)]
    return dict(width=width, height=20 + len(rows) * (bar + gap), left=left, bars=bars)


def memory_chart(data: dict, width: int = 960, height: int = 380) -> dict:
    """Arena timeline: x = op step, y = byte offset (0 at the bottom), one rectangle per buffer."""
    left, right, top, bottom = 80, 20, 10, 40
    pw, ph = width - left - right, height - top - bottom
    # graph outputs stay live "until the end" = one step past the last op
    steps = max(1, data["steps"], *(b["last"] + 1 for b in data["buffers"]))
    arena = max(1, data["arena_size"])
    sx, sy = pw / steps, ph / arena
    rects = []
    for i, b in enumerate(data["buffers"]):
        x0 = left + b["first"] * sx
        w = max(2.0, (b["last"] - b["first"] + 1) * sx - 1)
        y_top = top + ph - (b["offset"] + b["size"]) * sy
        h = max(3.0, b["size"] * sy)          # tiny bit buffers stay visible
        rects.append(dict(x=x0, y=min(y_top, top + ph - h), w=min(w, left + pw - x0), h=h,
                          fill=PALETTE[i % len(PALETTE)],
                          title=f"{b['tensor']}: {b['size']:,} B at offset {b['offset']:,}, "
                                f"live op {b['first']}..{b['last']}"))
    yt = [dict(y=top + ph - v * sy, label=f"{v:,}") for v in _ticks(arena)]
    xt = [dict(x=left + (s + 0.5) * sx, label=str(s) if s < data["steps"] else "end") for s in range(steps)
          if steps <= 40 or s % max(1, steps // 20) == 0]
    return dict(width=width, height=height, left=left, top=top, pw=pw, ph=ph, rects=rects,
                yticks=yt, xticks=xt)


def _usage(label: str, used: int, have: int, note: str) -> dict:
    frac = used / have if have else 0.0
    return dict(label=label, used=used, have=have, pct=100 * frac, w=min(1.0, frac) * 600,
                fill="#59a14f" if frac <= 0.8 else ("#edc948" if frac <= 1.0 else "#e15759"), note=note)


# ------------------------------------------------------------------------------------ HTML
def _env():
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              undefined=jinja2.StrictUndefined, autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)


def render_html(data: dict, accuracy=None, agreement=None, board=None) -> str:
    """The HTML text for collected `data` (see `collect`); the other arguments as in write_html,
    with `agreement` either an Agreement or the dict stored in report.json."""
    ag = agreement if agreement is None or isinstance(agreement, dict) else _agreement_info(agreement)
    bd = _board_info(board)
    tot = totals(data)
    usage = []
    if bd is not None:
        usage = [_usage("flash", tot["weight_bytes"], bd["flash"], "model constants only; code not included"),
                 _usage("RAM", data["arena_size"], bd["ram"], "tensor arena only; stack and input buffer not included")]
    from . import __version__
    return _env().get_template("report.html.j2").render(
        d=data, tot=tot, flash=flash_chart(data), mem=memory_chart(data), board=bd, usage=usage,
        accuracy=None if accuracy is None else 100 * float(accuracy), ag=ag, version=__version__)


def write_html(exp, path, accuracy=None, agreement=None, board=None) -> Path:
    """Write the HTML report of `exp` to `path` (parents created) and report.json beside the
    export; return the HTML path."""
    data = collect(exp)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data, accuracy, agreement, board), encoding="utf-8")
    side = dict(data, accuracy=accuracy, agreement=_agreement_info(agreement), board=_board_info(board))
    (Path(exp.out_dir) / SIDECAR).write_text(json.dumps(side, indent=1) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ text
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
    bd = data.get("board")
    if bd:
        for label, used, have in (("flash", tot["weight_bytes"], bd["flash"]), ("RAM", data["arena_size"], bd["ram"])):
            out.append(f"{bd['name']} {label}: {_bar(used, have, 20):<20} {used:,}/{have:,} B ({100 * used / have:.1f} %)")
    if data.get("accuracy") is not None:
        out.append(f"accuracy: {100 * data['accuracy']:.2f} %")
    ag = data.get("agreement")
    if ag:
        out.append(f"agreement on {ag['n']:,} samples: {'AGREE' if ag['ok'] else 'DISAGREE'} (bit mismatches "
                   f"{ag['bit_mismatches']:,}/{ag['bits_total']:,}, argmax {100 * ag['argmax_agreement']:.2f} %, "
                   f"max |Δ| {ag['max_abs_diff']:.3g})")
    return "\n".join(out)


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
    return format_text(data) + note
