"""The export report as a self-contained HTML page (inline SVG, no scripts, no external assets).
It renders report.py's data (the same numbers as the text report) and nothing else.

* `render_html(data, accuracy=None, agreement=None, board=None) -> str` (data: report.collect);
* `data["latency"]` (report.with_latency: the latency.json sidecar, latency_report.py) adds the
  per-layer latency tables and bar charts, and the linked image's flash and RAM with the measured
  stack replace the weights/arena estimate in the fit bars;
* `write_html(exp, path, accuracy=None, agreement=None, board=None) -> Path` renders
  templates/report.html.j2 and also stores the collected data as `report.json` in the export
  folder, so `report.report_dir` can rebuild the full report later.

`accuracy` is a fraction in [0, 1]; `agreement` a verify.Agreement; `board` a boards.Board, a
board name (resolved through larq2mcu.board.profiles), or a mapping with name/flash/ram in bytes.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import latency_report, templating
from .report import BINARY_OPS, SIDECAR, collect, totals
from .version import __version__

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")


# ------------------------------------------------------------------------------------ data
def _board_info(board) -> dict | None:
    if board is None:
        return None
    if isinstance(board, str):
        from .board.profiles import get_board
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
def render_html(data: dict, accuracy=None, agreement=None, board=None) -> str:
    """The HTML text for collected `data` (see `collect`); the other arguments as in write_html,
    with `agreement` either an Agreement or the dict stored in report.json."""
    ag = agreement if agreement is None or isinstance(agreement, dict) else _agreement_info(agreement)
    bd = _board_info(board)
    tot = totals(data)
    usage = []
    lat = data.get("latency")
    fp = latency_report.footprints(lat)
    linked = fp.get(bd["name"]) if bd is not None else next(iter(fp.values()), None)
    if linked is not None:     # the linked image and the measured stack (board.latency.measure)
        bd = dict(name=linked["board"], flash=linked["flash_capacity"], ram=linked["ram_capacity"])
        secs = ", ".join(f"{k} {v:,}" for k, v in latency_report.split_sections(linked["sections"])[0].items())
        usage = [_usage("flash", linked["image_flash"], bd["flash"], f"linked image incl. code ({secs})"),
                 _usage("RAM", linked["ram_total"], bd["ram"],
                        f"static {linked['static_ram']:,} B (data + bss: arena, buffers) + measured stack "
                        f"high-water mark {linked['stack_hwm']:,} B")]
    elif bd is not None:
        usage = [_usage("flash", tot["weight_bytes"], bd["flash"], "model constants only; code not included"),
                 _usage("RAM", data["arena_size"], bd["ram"], "tensor arena only; stack and input buffer not included")]
    return templating.render("report.html.j2", html=True, d=data, tot=tot, flash=flash_chart(data),
                             mem=memory_chart(data), board=bd, usage=usage, ag=ag, version=__version__,
                             lat=latency_report.html_context(lat),
                             accuracy=None if accuracy is None else 100 * float(accuracy))


def write_html(exp, path, accuracy=None, agreement=None, board=None) -> Path:
    """Write the HTML report of `exp` to `path` (parents created) and report.json beside the
    export; return the HTML path."""
    data = collect(exp)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from .report import with_latency
    path.write_text(render_html(with_latency(data, exp.out_dir), accuracy, agreement, board), encoding="utf-8")
    side = dict(data, accuracy=accuracy, agreement=_agreement_info(agreement), board=_board_info(board))
    (Path(exp.out_dir) / SIDECAR).write_text(json.dumps(side, indent=1) + "\n", encoding="utf-8")
    return path
