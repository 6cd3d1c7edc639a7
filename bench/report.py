"""results.json (bench/__main__.py) → RESULTS.md: one table per model × board, the per-word
micro-benchmark, the float32/int8 baselines, host vs LCE, and targets vs measured."""
from __future__ import annotations

import re

from . import BINARY_KERNELS, opkinds
from .microbench import MODES, NOTES

TARGET_BOARD = "qemu_m4"
COLUMNS = (*MODES, "sliced")


def _n(v) -> str:
    return f"{v:,}" if isinstance(v, int) else ("" if v is None else str(v))


def _ratio(a, b, fmt="{:.2f}×") -> str:
    return fmt.format(a / b) if a and b else "–"


def _kernel(f: str) -> str:
    """Function name without the variant suffix, so calls line up across variants."""
    return re.sub(r"_(ref|hs|clz|usad8|zbb|hw|builtin)$", "", re.split(r"[.$]", f)[0])   # f.constprop.0, f$constprop$0


def _by_step(r: dict) -> dict:
    """{row key: [(function, instructions)]}: a variant's counted calls grouped by the lowered step
    that made them (opkinds.attribute), so rows line up across variants even where one makes more
    calls per step (`_ref` runs BatchNorm as its own kernel after the conv); calls no step claims
    (the output copy) keep their own row, keyed by their position among such calls. Every counted
    board run records its steps (bench/__main__.py); a skipped variant has neither calls nor steps."""
    calls = r.get("calls", [])
    out: dict = {}
    extra = 0
    for f, n, k in opkinds.attribute(calls, r.get("steps", [])):
        if k is None:
            key, extra = ("extra", extra), extra + 1
        else:
            key = ("step", k)
        out.setdefault(key, []).append((f, n))
    return out


def _board_table(m: dict, bname: str, vs: dict) -> list:
    if "skipped" in vs:
        return [f"### {bname}", "", f"**Skipped** — {vs['skipped']['skipped']}", ""]
    names = list(vs)
    best = vs[names[0]]
    if "skipped" in best:
        return [f"### {bname}", "", f"**Skipped** — {best['skipped']}", ""]
    out = [f"### {bname} (board variant `{names[0]}`)", "",
           "| # | kernel | BMACs | " + " | ".join(f"`{v}` instr" for v in names) + f" | `{names[0]}` instr/BMAC |",
           "|---:|---|---:|" + "---:|" * len(names) + "---:|"]
    layers = iter(m["binary_layers"])
    per = {v: _by_step(vs[v]) for v in names}
    for i, (key, calls) in enumerate(per[names[0]].items()):
        f, n = calls[0][0], sum(c[1] for c in calls)
        macs = next(layers)[1] if f.startswith(BINARY_KERNELS) else None
        cells = [_n(sum(c[1] for c in per[v][key])) if key in per[v] else "" for v in names]
        bpm = f"{n / macs:.3f}" if macs else ""
        out.append(f"| {i} | `{_kernel(f)}` | {_n(macs)} | " + " | ".join(cells) + f" | {bpm} |")
    tot = [f"**{_n(vs[v].get('instructions'))}**" for v in names]
    out.append(f"| | **total** | {_n(m['binary_macs'])} | " + " | ".join(tot) +
               f" | {best['instructions'] / max(m['binary_macs'], 1):.3f} |")
    b = vs.get("builtin", {}).get("instructions")
    peak = m["arena"] + best["stack_hwm"]
    out += ["", f"whole model vs `_builtin`: **{_ratio(b, best['instructions'])}**, vs `_ref`: "
            f"{_ratio(vs.get('ref', {}).get('instructions'), best['instructions'])}; binary kernels vs "
            f"`_builtin`: {_ratio(vs.get('builtin', {}).get('binary_kernel_instructions'), best['binary_kernel_instructions'])}; "
            f"binary-kernel instr/BMAC {best['binary_kernel_instructions'] / max(m['binary_macs'], 1):.3f}; "
            f"image flash {_n(best['image_flash'])} B (`_builtin` {_n(vs.get('builtin', {}).get('image_flash'))}, "
            f"`_ref` {_n(vs.get('ref', {}).get('image_flash'))}); peak RAM = arena {_n(m['arena'])} + stack "
            f"HWM {_n(best['stack_hwm'])} = **{_n(peak)} B** (static RAM of the image {_n(best['image_ram'])} B)", ""]
    return out


def _per_word(results: dict) -> list:
    out = ["## Instructions per 32-bit word (XOR + popcount inner loop, `l2m_opt_xor_popcount`)", "",
           "(count(n=256) − count(n=64)) / 192, callees included. A variant whose ISA feature is "
           "missing falls back to `hs`. `sliced` = the bit-sliced engine of thresholded layers "
           "(`l2m_opt_sliced_dense`, 32 filters, input density 1/2) per 32 binary MACs — what one "
           "word of one filter stands for in the other columns: (count(n=128) − count(n=32)) / (96·32); "
           "it needs clz (the M0 and rv32 figures are libgcc's software clz: those boards keep `hs`). "
           "Notes = shared/notes/embedded-toolchains.md §4–6 "
           "(stand-alone loops: builtin / SWAR / LUT8 / Harley–Seal).", "",
           "| board | " + " | ".join(f"`{m}`" for m in COLUMNS) + " | notes: builtin / SWAR / LUT8 / HS |",
           "|---|" + "---:|" * len(COLUMNS) + "---|"]
    for b, r in results["per_word"].items():
        if "skipped" in r:
            out.append(f"| {b} | skipped: {r['skipped'][:100]} |" + " |" * len(COLUMNS))
            continue
        nt = NOTES.get(b)
        notes = " / ".join(_n(v) for v in nt.values()) if nt else ""
        out.append(f"| {b} | " + " | ".join(f"{r[m]:.2f}" if m in r else "" for m in COLUMNS) + f" | {notes} |")
    return out + [""]


def _baselines(results: dict) -> list:
    out = ["## Baselines: the same networks in float32 and int8 C (bench/baselines.py)", "",
           "Speedup = baseline instructions / BNN instructions (board variant). Flash = constant "
           "parameter bytes (BNN: exported arrays); RAM = arena + stack HWM. Scalar C, TFLM "
           "reference-kernel style; the int8 net is a cost model (arbitrary scales).", "",
           "| model | board | BNN instr | f32 instr | i8 instr | speedup vs f32 | vs i8 | flash BNN / f32 / i8 B "
           "| f32/BNN | i8/BNN | RAM BNN / f32 / i8 B | f32/BNN | i8/BNN |",
           "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|"]
    for mname, m in results["models"].items():
        for bname, bl in m.get("baselines", {}).items():
            vs = m["boards"].get(bname, {})
            bnn = next(iter(vs.values()), {}) if vs else {}
            bi = bnn.get("instructions")
            bram = m["arena"] + bnn["stack_hwm"] if bi else None
            f, i = bl.get("f32", {}), bl.get("i8", {})

            def instr(r):
                return _n(r.get("instructions")) if "instructions" in r else "does not fit"

            def ram(r):
                return r["arena"] + r["stack_hwm"] if "stack_hwm" in r else r.get("arena")
            out.append(
                f"| {mname} | {bname} | {_n(bi) if bi else 'does not fit'} | {instr(f)} | {instr(i)} | "
                f"{_ratio(f.get('instructions'), bi)} | {_ratio(i.get('instructions'), bi)} | "
                f"{_n(m['weights_bytes'])} / {_n(f.get('flash_params'))} / {_n(i.get('flash_params'))} | "
                f"{_ratio(f.get('flash_params'), m['weights_bytes'], '{:.1f}×')} | "
                f"{_ratio(i.get('flash_params'), m['weights_bytes'], '{:.1f}×')} | "
                f"{_n(bram) if bram else _n(m['arena'])} / {_n(ram(f))} / {_n(ram(i))} | "
                f"{_ratio(ram(f), bram or m['arena'], '{:.1f}×')} | {_ratio(ram(i), bram or m['arena'], '{:.1f}×')} |")
    return out + [""]


def _host(results: dict) -> list:
    if not results.get("host"):
        return []
    out = ["## Host x86-64: generated C (`_hw`, cc -O2 -mpopcnt) vs LCE interpreter (1 thread)", "",
           "µs per inference, median of 21 rounds of 50 inferences, one core (taskset), on a shared "
           "2-core machine: expect ±20 % noise. ratio = LCE / larq2mcu (> 1: larq2mcu faster).", "",
           "| model | larq2mcu µs | LCE µs | ratio |", "|---|---:|---:|---:|"]
    for mname, h in results["host"].items():
        lce = h.get("lce_us", f"not converted: {h.get('lce_error', '')[:80]}")
        out.append(f"| {mname} | {h['l2m_us']} | {lce} | {h.get('ratio', '–')} |")
    return out + [""]


def _targets(results: dict) -> list:
    tb = TARGET_BOARD
    out = ["## Targets vs measured", "", "| target | measured | met? |", "|---|---|---|"]
    pw = results["per_word"].get(tb, {})
    m4 = {mn: m["boards"].get(tb, {}) for mn, m in results["models"].items()}
    v = next((next(iter(b)) for b in m4.values() if b and "skipped" not in b), None)
    if v and v in pw:
        out.append(f"| Cortex-M4 inner loop ≤ 6 instr/word | `{v}` XOR+popcount {pw[v]:.2f} (best variant "
                   f"{min(pw[k] for k in MODES):.2f}) | {'yes' if pw[v] <= 6 else 'no'} |")
        if "sliced" in pw:
            out.append(f"| Cortex-M4 inner loop ≤ 6 instr/word: bit-sliced engine, per 32 BMACs (thresholded "
                       f"layers of `{v}`) | {pw['sliced']:.2f} | {'yes' if pw['sliced'] <= 6 else 'no'} |")
    for mn, m in results["models"].items():
        b = m4[mn]
        if not b or "skipped" in b:
            continue
        best = b[next(iter(b))]
        bpm = best["binary_kernel_instructions"] / max(m["binary_macs"], 1)
        out.append(f"| {mn}: M4 binary kernels ≤ 0.19 instr/BMAC | {bpm:.3f} | {'yes' if bpm <= 0.19 else 'no'} |")
        r = b["builtin"]["instructions"] / best["instructions"]
        share = best["binary_kernel_instructions"] / max(best["instructions"], 1)
        out.append(f"| {mn}: M4 whole model ≥ 2× `_builtin` | {r:.2f}× (binary kernels are "
                   f"{share:.0%} of the instructions; the rest is identical in every variant) | "
                   f"{'yes' if r >= 2 else 'no'} |")
    for mn, m in results["models"].items():
        for v, nbytes in {"ref": m["weights_bytes"], **m.get("weights_by_variant", {})}.items():
            r = nbytes / max(m["weights_bound"], 1)
            out.append(f"| {mn}: weights flash ≤ 1.05 × bound (`{v}` layout) | {_n(nbytes)} / "
                       f"{_n(m['weights_bound'])} B = {r:.3f}× | {'yes' if r <= 1.05 else 'no'} |")
        ok = m["arena"] == m["arena_lower_bound"]
        out.append(f"| {mn}: arena = planner lower bound | {_n(m['arena'])} / {_n(m['arena_lower_bound'])} B | "
                   f"{'yes' if ok else 'no'} |")
    for mn, h in results.get("host", {}).items():
        if "ratio" in h:
            out.append(f"| {mn}: host faster than LCE (> 1) | {h['ratio']}× | {'yes' if h['ratio'] > 1 else 'no'} |")
        else:
            out.append(f"| {mn}: host faster than LCE | LCE cannot convert it | n/a |")
    return out + [""]


# issue #14's targets: M4 whole-inference instruction budgets, and ≥ 2× `_builtin`
M4_BUDGET = {"mnist_bnn": 750_000, "cifar_bnn": 2_000_000}
VS_BUILTIN = ("seed_mixed_cnn", "bireal_tiny")
NO_FPU_GAIN = 4.0           # qemu_m0, qemu_rv32: MNIST BNN ≥ 4× fewer instructions than before


def _whole(results: dict, mname: str, bname: str, which: str = "board") -> int | None:
    vs = results.get("models", {}).get(mname, {}).get("boards", {}).get(bname, {})
    if not vs or "skipped" in vs:
        return None
    r = vs.get(which) if which != "board" else next(iter(vs.values()))
    return r.get("instructions") if r else None


def _targets14(results: dict, before: dict | None) -> list:
    out = ["## Issue #14 targets (whole-model speed)", "",
           "*before* = bench/baseline.json" + (f" (commit `{before.get('commit')}`)" if before else " (absent)")
           + "; integer input = bench/intinput.py's configurations, measured in this run.", "",
           "| target | before | now | met? |", "|---|---:|---:|---|"]
    for mn, budget in M4_BUDGET.items():
        now, was = _whole(results, mn, "qemu_m4"), _whole(before or {}, mn, "qemu_m4")
        if now:
            out.append(f"| {mn}: M4 whole inference ≤ {budget:,} | {_n(was)} | {now:,} | {'yes' if now <= budget else 'no'} |")
    ii = results.get("intinput", {})
    for mn, cfg in (("mnist_bnn", "rescaled, uint8 input"), ("cifar_bnn", "cifar_bnn: rescaled, uint8 input")):
        now = ii.get(cfg, {}).get("qemu_m4", {}).get("instructions")
        if now:
            budget = M4_BUDGET[mn]
            out.append(f"| {mn}, uint8 input (Rescaling in front; raw bytes, integer first layer): M4 whole "
                       f"inference ≤ {budget:,} | | {now:,} | {'yes' if now <= budget else 'no'} |")
    for mn in VS_BUILTIN:
        now, b = _whole(results, mn, "qemu_m4"), _whole(results, mn, "qemu_m4", "builtin")
        pb, pbb = _whole(before or {}, mn, "qemu_m4"), _whole(before or {}, mn, "qemu_m4", "builtin")
        if now and b:
            out.append(f"| {mn}: M4 ≥ 2× fewer than `_builtin` | {_ratio(pbb, pb)} | {_ratio(b, now)} | "
                       f"{'yes' if b / now >= 2 else 'no'} |")
    for bname in ("qemu_m0", "qemu_rv32"):
        was, now = _whole(before or {}, "mnist_bnn", bname), _whole(results, "mnist_bnn", bname)
        if was and now:
            out.append(f"| mnist_bnn: {bname} ≥ {NO_FPU_GAIN:g}× fewer than before (float input) | {was:,} | "
                       f"{now:,} ({was / now:.2f}×) | {'yes' if was / now >= NO_FPU_GAIN else 'no'} |")
        u8 = ii.get("rescaled, uint8 input", {}).get(bname, {}).get("instructions")
        if was and u8:
            out.append(f"| mnist_bnn: {bname} ≥ {NO_FPU_GAIN:g}× fewer than before (uint8 input, Rescaling "
                       f"in front) | {was:,} | {u8:,} ({was / u8:.2f}×) | {'yes' if was / u8 >= NO_FPU_GAIN else 'no'} |")
    lc = results.get("layerchoice")
    if lc:
        rows = [(r["ratio"], m, b, r["layer"], r["best"]) for m, pb in lc.items() for b, x in pb.items()
                for r in x["layers"]]
        worst = max(rows)
        out.append(f"| no layer slower than the best variant available for it (sliced variants' boards; "
                   f"per-layer table below) | | worst chosen / best {worst[0]:.3f} ({worst[3]} of {worst[1]} on "
                   f"{worst[2]}: `{worst[4]}` faster); {sum(1 for r in rows if r[0] > 1.0)} of {len(rows)} "
                   f"layers slower than the best | {'yes' if worst[0] <= 1.0 else 'no'} |")
    else:
        out.append("| no layer slower than the best variant available for it | | not measured (--no-layerchoice) | no |")
    if ii:
        out += ["", "Integer-input MNIST and CIFAR-sized BNNs (bench/intinput.py), whole inference / first layer:", ""]
        from .intinput import markdown as ii_markdown
        out.append(ii_markdown(ii))
    if lc:
        from .layerchoice import markdown as lc_markdown
        out += ["", "### Per-layer engine choice (bench/layerchoice.py)", "", *lc_markdown(lc)]
    return out + [""]


def markdown(results: dict, before: dict | None = None) -> str:
    out = ["# larq2mcu benchmark", "",
           f"Commit `{results.get('commit')}`{' (with uncommitted changes in the tree)' if results.get('dirty_tree') else ''}; "
           f"`make bench` wall time {results.get('wall_s')} s. Generated by `python -m bench` (bench/report.py).", "",
           "Method: exact instruction counts of one inference (untrained weights, randomize_bn) under "
           "QEMU, counted per executed translation block by a TCG plugin (firmware/qemu/qcount.c; same figures as "
           "the `-d in_asm,exec,nochain` trace). `instr` = from entry of `net_invoke` to its return, callees "
           "(libgcc, softfloat) included; per-layer rows are lowered steps, each variant's calls for the step summed (`ref` runs a folded BatchNorm as its own call: it is added to the conv/dense row it follows) — with an optimized variant (every column but `ref`) these are the model's layer-specialized functions (`net_op<i>_<kernel>_<variant>`: the runtime's engine with the layer's sizes as compile-time constants), listed under the kernel's name; `_builtin` is the same generated code with `__builtin_popcount` as its popcount, `ref` the plain-C reference kernels. BMAC = binary multiply-accumulate. "
           "Stack HWM is *measured*: the plugin records the lowest address stored to in the stack region "
           "(__bss_end..__stack_top) over the whole run (harness frames included) — what painting the stack "
           "and reading it back finds. Image flash = whole linked image incl. harness and one embedded "
           "sample. Weights bound = ⌈binary weight bits/8⌉ + thresholds + float parameters.", ""]
    out += _targets(results)
    out += _targets14(results, before)
    out += opkinds.section(results, before, BINARY_KERNELS)
    out += _per_word(results)
    out += _baselines(results)
    out += _host(results)
    for mname, m in results["models"].items():
        out += [f"## {mname}", "",
                f"binary MACs {_n(m['binary_macs'])}; weights {_n(m['weights_bytes'])} B vs bound "
                f"{_n(m['weights_bound'])} B ({m['weights_bytes'] / max(m['weights_bound'], 1):.3f}×); arena "
                f"{_n(m['arena'])} B vs planner lower bound {_n(m['arena_lower_bound'])} B", ""]
        for bname, vs in m["boards"].items():
            out += _board_table(m, bname, vs)
    return "\n".join(out) + "\n"
