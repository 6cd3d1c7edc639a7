"""results.json → RESULTS.md (one Markdown table per model)."""
from __future__ import annotations


def _fmt(n) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def markdown(results: dict) -> str:
    out = ["# larq2mcu benchmark (exact instruction counts, QEMU TB trace, 1 inference)", "",
           "`instr` = instructions from entry of `net_invoke` to its return (callees included); "
           "`bin instr/BMAC` = instructions in binary conv/dense kernels per binary MAC; "
           "`vs builtin` = builtin-variant instructions / this variant's; flash = whole linked "
           "image incl. harness and one embedded sample.", ""]
    for mname, m in results["models"].items():
        out += [f"## {mname}", "",
                f"binary MACs {_fmt(m.get('binary_macs'))}; weights {_fmt(m.get('weights_bytes'))} B vs "
                f"information bound {_fmt(m.get('weights_bound'))} B "
                f"({m.get('weights_bytes', 0) / max(m.get('weights_bound', 1), 1):.2f}×); arena "
                f"{_fmt(m.get('arena'))} B vs planner lower bound {_fmt(m.get('arena_lower_bound'))} B", "",
                "| board | variant | instr | vs builtin | bin-kernel instr | bin instr/BMAC | image flash B |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for bname, vs in m["boards"].items():
            base = vs.get("builtin", {}).get("instructions")
            for v, r in vs.items():
                if "skipped" in r:
                    out.append(f"| {bname} | {v} | skipped: {r['skipped'][:80]} | | | | |")
                    continue
                ratio = f"{base / r['instructions']:.2f}×" if base else ""
                bpm = r["binary_kernel_instructions"] / max(m.get("binary_macs", 1), 1)
                out.append(f"| {bname} | {v} | {_fmt(r['instructions'])} | {ratio} | "
                           f"{_fmt(r['binary_kernel_instructions'])} | {bpm:.3f} | {_fmt(r['image_flash'])} |")
        out.append("")
    return "\n".join(out) + "\n"
