"""Latency and footprint of an export in the reports: the `latency.json` sidecar beside the
export, and its text and HTML renderings. Data flows one way: the board package measures
(board.latency.measure under QEMU, board.validate on the target) and stores here; report.py and
html_report.py read the sidecar and never import the board package.

Sidecar `latency.json`: {"model_hash": h, "kernel_variant": v,
                         "emulated": {board: measure dict}, "target": {board: validation dict}}
  * emulated (board.latency.measure): {board, layers: [{index, op, layer, instructions}], glue,
    total, clock_hz, ms, image_flash, sections, stack_hwm, static_ram, ram_total,
    flash_capacity, ram_capacity, fits}; ms = total · 1000 / clock_hz (one instruction per cycle).
    A real board measured on its emulated twin (export --board) adds "emulated_on": the twin's
    name; its instructions and stack are the twin's, its sections those of the board's image.
  * target (board.validate.Validation.to_dict): {board, emulated, samples, bit_identical, ok,
    tick_hz, mean_ticks, mean_ms, layers: [{index, layer, op, ticks, instructions}], ...};
    ticks are the board's own counter (DWT CYCCNT, CCOUNT, mcycle: cycles; RP2040: 1 MHz timer)
    at tick_hz, the rate the device reports, so ms = ticks · 1000 / tick_hz.
An entry for another model hash or kernel variant is stale and ignored (`load`).

`store(out_dir, kind, data, model_hash, kernel_variant)` merges one measurement in (atomic
rename); `merged(old, ...)` is the same without writing (for an export that writes the sidecar
with its files); `text_lines(lat)` and `html_context(lat)` render it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

SIDECAR = "latency.json"
KINDS = ("emulated", "target")
BAR_FILL = "#d6336c"          # the latency bars' colour (the screenshot test looks for it)
TICK_FILL = "#1c7ed6"         # measured-on-target bars
RAM_ONLY = (".bss", ".noinit", ".stack", ".heap")   # sections with no load image in flash


def merged(old: dict | None, kind: str, data: dict, model_hash: str, kernel_variant: str | None = None) -> dict:
    """`old` (a sidecar dict, or None) with `data` stored under kind/board; a stale `old` (other
    model hash or kernel variant) is dropped."""
    if kind not in KINDS:
        raise ValueError(f"latency kind {kind!r}; supported: {', '.join(KINDS)}")
    fresh = old is not None and old.get("model_hash") == model_hash and \
        (kernel_variant is None or old.get("kernel_variant") in (None, kernel_variant))
    res = dict(old) if fresh else {}
    res.update(model_hash=model_hash, kernel_variant=kernel_variant or res.get("kernel_variant"))
    for k in KINDS:
        res[k] = dict(res.get(k) or {})
    res[kind][str(data["board"])] = data
    return res


def _read(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def store(out_dir, kind: str, data: dict, model_hash: str, kernel_variant: str | None = None) -> Path:
    """Merge `data` into `<out_dir>/latency.json` (see the module docstring); returns its path."""
    path = Path(out_dir) / SIDECAR
    text = json.dumps(merged(_read(path), kind, data, model_hash, kernel_variant), indent=1, sort_keys=True)
    tmp = path.with_name(f".{SIDECAR}.{os.getpid()}.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load(out_dir, model_hash: str | None, kernel_variant: str | None = None) -> dict | None:
    """The sidecar of `out_dir` when it belongs to this model (hash, and variant when known);
    None when absent, unreadable, stale or empty."""
    d = _read(Path(out_dir) / SIDECAR)
    if d is None or d.get("model_hash") != model_hash:
        return None
    if kernel_variant is not None and d.get("kernel_variant") not in (None, kernel_variant):
        return None
    return d if any(d.get(k) for k in KINDS) else None


# ------------------------------------------------------------------------------------ text
def _bar(value: float, top: float, width: int = 20) -> str:
    if top <= 0 or value <= 0:
        return ""
    cells = value / top * width
    full = int(cells)
    part = " ▏▎▍▌▋▊▉"[int((cells - full) * 8)]
    return ("█" * full + (part if part != " " else "")) or "▏"


def _mhz(hz) -> str:
    return f"{hz / 1e6:g} MHz"


def split_sections(secs: dict) -> tuple[dict, dict]:
    """({section: bytes} loaded from flash, {section: bytes} in RAM) of a linked image: .data is in
    both (its load image in flash, its run copy in RAM); .bss and the like only in RAM."""
    flash = {k: v for k, v in secs.items() if not k.startswith(RAM_ONLY)}
    ram = {k: v for k, v in secs.items() if k.startswith((".data", *RAM_ONLY))}
    return flash, ram


def footprint_line(d: dict) -> str:
    """'fits <board>: flash x of y B (p %, linked image incl. code: .text …), RAM x of y B (p %,
    .data … + .bss … + measured stack high-water mark h)'."""
    fl, fc, ram, rc = d["image_flash"], d["flash_capacity"], d["ram_total"], d["ram_capacity"]
    ok = fl <= fc and ram <= rc
    fsec, rsec = split_sections(d.get("sections", {}))
    parts = " + ".join(f"{k} {v:,}" for k, v in rsec.items()) or f"static {d['static_ram']:,}"
    return (f"{'fits' if ok else 'does NOT fit'} {d['board']}: flash {fl:,} of {fc:,} B ({100 * fl / fc:.1f} %, "
            f"linked image incl. code: {', '.join(f'{k} {v:,}' for k, v in fsec.items())}), RAM {ram:,} of "
            f"{rc:,} B ({100 * ram / rc:.1f} %, {parts} + measured stack high-water mark {d['stack_hwm']:,})")


def _where(d: dict) -> str:
    """'QEMU, exact', or for a real board measured on its emulated twin 'QEMU qemu_m4, exact;
    stack measured there'."""
    twin = d.get("emulated_on")
    return f"QEMU {twin} with this board's flags and kernels, exact; stack measured there" if twin else "QEMU, exact"


def _emulated_lines(d: dict) -> list[str]:
    ms = f" = {d['ms']:.3f} ms at {_mhz(d['clock_hz'])} (1 instruction per cycle)" if d.get("ms") is not None else ""
    out = [f"instructions per inference on {d['board']} ({_where(d)}):"]
    top = max([r["instructions"] for r in d["layers"]], default=0)
    total = max(d["total"], 1)
    for r in d["layers"]:
        out.append(f"  {r['index']:>3}  {r['layer'][:24]:<24} {r['op']:<16} {r['instructions']:>12,} "
                   f"{100 * r['instructions'] / total:>5.1f} % {_bar(r['instructions'], top)}")
    out.append(f"  {'':>3}  {'(invoke glue)':<24} {'':<16} {d['glue']:>12,}")
    out.append(f"  total {d['total']:,} instructions{ms}")
    if "image_flash" in d:
        out.append(footprint_line(d))
    return out


def _target_lines(d: dict) -> list[str]:
    hz = d.get("tick_hz") or 0
    where = "emulated UART" if d.get("emulated") else "serial validation"
    head = (f"measured on {d['board']} ({where}, {d['samples']} samples, {d['bit_identical']}/{d['samples']} "
            f"bit-identical to the host library)")
    out = [head + ":"]
    if d.get("mean_ticks") is not None:
        ms = f" = {d['mean_ms']:.3f} ms at {_mhz(hz)}" if d.get("mean_ms") is not None else " (tick rate unknown)"
        out.append(f"  {d['mean_ticks']:,.0f} ticks per inference{ms}"
                   + (" (QEMU has no cycle model: 0)" if d.get("emulated") and not d["mean_ticks"] else ""))
    rows = [r for r in d.get("layers", []) if r.get("ticks") is not None]
    top = max([r["ticks"] for r in rows], default=0)
    for r in rows:
        ms = f"{r['ticks'] * 1000 / hz:10.3f} ms" if hz else ""
        out.append(f"  {r['index']:>3}  {r['layer'][:24]:<24} {r['op']:<16} {r['ticks']:>12,.0f} ticks {ms} "
                   f"{_bar(r['ticks'], top)}")
    acc = d.get("accuracy")
    if acc:
        out.append(f"  accuracy vs labels: board {100 * acc['board']:.2f} %, host {100 * acc['host']:.2f} %")
    return out


def text_lines(lat: dict | None) -> list[str]:
    """The latency block of the text report (empty without data)."""
    if not lat:
        return []
    out: list[str] = []
    for d in (lat.get("emulated") or {}).values():
        out += ["", *_emulated_lines(d)]
    for d in (lat.get("target") or {}).values():
        out += ["", *_target_lines(d)]
    return out


def footprints(lat: dict | None) -> dict:
    """{board: emulated measurement} of the boards with a linked-image footprint."""
    return {b: d for b, d in ((lat or {}).get("emulated") or {}).items() if "image_flash" in d}


# ------------------------------------------------------------------------------------ HTML
def _chart(rows: list[tuple[str, float, str]], fill: str, width: int = 960) -> dict:
    """Horizontal bars (label, value, value text) scaled to the largest value."""
    left, bar, gap, right = 260, 18, 6, 150
    top = max([v for _, v, _ in rows], default=0) or 1
    pw = width - left - right
    bars = [dict(x=left, y=10 + i * (bar + gap), w=max(1.0, pw * v / top) if v > 0 else 0.0, h=bar,
                 label=label, value=text, fill=fill) for i, (label, v, text) in enumerate(rows)]
    return dict(width=width, height=20 + len(rows) * (bar + gap), left=left, bars=bars)


def html_context(lat: dict | None) -> list[dict]:
    """One block per measurement for templates/report.html.j2: title, summary, per-layer rows
    (table) and a bar chart."""
    blocks = []
    for d in ((lat or {}).get("emulated") or {}).values():
        total = max(d["total"], 1)
        rows = [dict(index=r["index"], layer=r["layer"], op=r["op"], value=f"{r['instructions']:,}",
                     share=f"{100 * r['instructions'] / total:.1f} %",
                     ms="" if not d.get("clock_hz") else f"{r['instructions'] * 1000 / d['clock_hz']:.3f}")
                for r in d["layers"]]
        chart = _chart([(f"#{r['index']} {r['layer']} ({r['op']})", r["instructions"], f"{r['instructions']:,}")
                        for r in d["layers"]], BAR_FILL)
        ms = "" if d.get("ms") is None else f" = {d['ms']:.3f} ms at {_mhz(d['clock_hz'])} (1 instruction per cycle)"
        blocks.append(dict(kind="emulated", board=d["board"], unit="instructions (QEMU, exact)",
                           title=f"Instructions per layer on {d['board']} ({_where(d)})",
                           summary=f"{d['total']:,} instructions per inference{ms}; invoke glue {d['glue']:,}",
                           rows=rows, chart=chart, footprint=footprint_line(d) if "image_flash" in d else None))
    for d in ((lat or {}).get("target") or {}).values():
        hz = d.get("tick_hz") or 0
        layers = [r for r in d.get("layers", []) if r.get("ticks") is not None]
        tot = sum(r["ticks"] for r in layers) or 1
        rows = [dict(index=r["index"], layer=r["layer"], op=r["op"], value=f"{r['ticks']:,.0f}",
                     share=f"{100 * r['ticks'] / tot:.1f} %", ms=f"{r['ticks'] * 1000 / hz:.3f}" if hz else "")
                for r in layers]
        chart = _chart([(f"#{r['index']} {r['layer']} ({r['op']})", r["ticks"], f"{r['ticks']:,.0f}")
                        for r in layers], TICK_FILL)
        ms = f" = {d['mean_ms']:.3f} ms at {_mhz(hz)}" if d.get("mean_ms") is not None else ""
        mean = f"{d['mean_ticks']:,.0f} ticks per inference{ms}; " if d.get("mean_ticks") is not None else ""
        blocks.append(dict(kind="target", board=d["board"], unit="ticks (board counter, mean)",
                           title=f"Measured on {d['board']}" + (" (emulated UART)" if d.get("emulated") else ""),
                           summary=f"{mean}{d['bit_identical']}/{d['samples']} outputs bit-identical",
                           rows=rows, chart=chart, footprint=None))
    return blocks
