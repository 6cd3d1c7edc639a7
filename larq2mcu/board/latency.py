"""Latency and footprint of an export on a board: exact instructions per layer under QEMU, the
linked image's flash per section, RAM including the measured stack.

Contract:
  * `op_calls(model_c, name)` -> [(op index, function)] in the order `<name>_invoke_range`
    calls them, read from the generated C (each op's statements follow its `/* op <i>: */`).
  * `attribute(calls, op_calls, n_ops)` -> instructions per op: each counted call (function,
    instructions), in execution order, goes to the next op (from the current one on) that
    calls that function; a call no op names (a helper gcc emitted, e.g. memcpy) goes to the op
    being executed. Instructions of the invoke body itself (argument set-up, the n_ops checks)
    are in `total` but in no op: `glue = total - sum(per op)`.
  * `sections(elf, prefix)` -> {section: bytes} of the allocated sections (`<prefix>-size -A`);
    flash = sections loaded from flash (text, rodata, vectors, data's load image), RAM = data + bss.
  * `measure(exp, board, workdir)` -> the JSON-ready dict of `larq2mcu run`:
    {board, layers: [{index, op, layer, instructions}], glue, total, clock_hz, ms,
     image_flash, sections, stack_hwm, static_ram, ram_total, flash_capacity, ram_capacity, fits}
    where ms = total * 1000 / clock_hz (one instruction per cycle: a lower bound on cores with
    multi-cycle loads or multiplies; real cycles come from `larq2mcu validate`).
  * `store(out_dir, data, kind="emulated")` puts that dict (or, kind="target", a validation's
    to_dict()) into the export folder's `latency.json` sidecar (larq2mcu.latency_report), which
    the text and HTML reports read.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np

from .profiles import Board
from .. import latency_report
from ..errors import BuildError
from ..outdir import MANIFEST
from .build import build
from .counter import count
from .toolchain import resolve_toolchain

_OP = re.compile(r"/\* op (\d+): ")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\(")
_NOT_CALLS = {"if", "return", "sizeof", "for", "while", "switch"}
# sections the size tool lists that occupy no target memory
_NOT_ALLOC = re.compile(r"^\.(debug|comment|ARM\.attributes|riscv\.attributes|xtensa\.info|xt\.|stab)")


def op_calls(model_c: str, name: str) -> list[tuple[int, str]]:
    """See the module docstring."""
    # the op bodies live in _invoke_range (older exports and test programs: _invoke_partial)
    start = model_c.find(f"int {name}_invoke_range(")
    if start < 0:
        start = model_c.find(f"int {name}_invoke_partial(")
    if start < 0:
        raise BuildError(f"generated C has no {name}_invoke_partial")
    end = model_c.find("\n}\n", start)
    body = model_c[start:end]
    marks = list(_OP.finditer(body))
    res = []
    for m, nxt in zip(marks, marks[1:] + [None]):
        text = body[m.end():nxt.start() if nxt else len(body)]
        for c in _CALL.findall(text):
            if c not in _NOT_CALLS and not c.startswith("L2M_"):
                res.append((int(m.group(1)), c))
    return res


def _norm(fn: str) -> str:
    """A function's name as the C source spells it, up to the op index of layer-specialized
    kernels: gcc clones get suffixes (.constprop.0, .isra.0), and its identical-code folding
    lets net_op7_<kernel> run as net_op3_<kernel> when both layers have the same sizes."""
    return re.sub(r"^(\w+?)_op\d+_", r"\1_op*_", fn.split(".", 1)[0])


def attribute(calls, expected: list[tuple[int, str]], n_ops: int) -> list[int]:
    """See the module docstring."""
    per = [0] * n_ops
    pos, current = 0, 0
    want = [(i, _norm(f)) for i, f in expected]
    for fn, n in calls:
        fn = _norm(fn)
        j = next((k for k in range(pos, len(want)) if want[k][1] == fn), None)
        if j is not None:
            current, pos = want[j][0], j + 1
        if 0 <= current < n_ops:
            per[current] += int(n)
    return per


def sections(elf: str | Path, prefix: str) -> dict[str, int]:
    """See the module docstring."""
    proc = subprocess.run([f"{prefix}-size", "-A", "-d", str(elf)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{prefix}-size -A failed on {elf}: {proc.stderr.strip()}")
    res = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit() and not _NOT_ALLOC.match(parts[0]):
            if int(parts[1]):
                res[parts[0]] = int(parts[1])
    return res


def flash_ram(secs: dict[str, int]) -> tuple[int, int]:
    """(flash, static RAM) of a section table: .data is in both (load image and run copy)."""
    flash, ram = latency_report.split_sections(secs)
    return sum(flash.values()), sum(ram.values())


def measure(exp, board: Board, workdir: str | Path, sample=None) -> dict:
    """See the module docstring. `sample`: one input (default zeros: the instruction count of a
    binarized network hardly depends on the input)."""
    shape = exp.graph.tensors[exp.graph.inputs[0]].shape
    x = np.zeros((1, int(np.prod(shape))), np.float32) if sample is None else \
        np.asarray(sample, np.float32).reshape(1, -1)
    elf = build(exp.out_dir, board, x, None, Path(workdir) / "latency")
    c = count(elf, board, exp.name)
    if not c.ok:
        raise BuildError(f"the instruction counter saw no complete {exp.name}_invoke on {board.name}")
    rows = exp.rows()
    model_c = (Path(exp.out_dir) / f"{exp.name}.c").read_text(encoding="utf-8")
    per = attribute(c.calls, op_calls(model_c, exp.name), len(rows))
    secs = sections(elf, resolve_toolchain(board).prefix)
    flash, static_ram = flash_ram(secs)
    hz = board.clock_hz
    layers = [dict(index=r.index, op=r.op, layer=r.layer, instructions=per[r.index]) for r in rows]
    ram_total = static_ram + c.stack_hwm
    return dict(board=board.name, layers=layers, glue=c.total - sum(per), total=c.total,
                clock_hz=hz, ms=(c.total * 1000.0 / hz) if hz else None,
                image_flash=flash, sections=secs, stack_hwm=c.stack_hwm, static_ram=static_ram,
                ram_total=ram_total, flash_capacity=board.flash, ram_capacity=board.ram,
                fits=flash <= board.flash and ram_total <= board.ram)


def store(out_dir: str | Path, data: dict, kind: str = "emulated") -> Path:
    """See the module docstring: `data` (a `measure` dict, or with kind="target" a
    validate.Validation.to_dict()) into the export folder's latency.json sidecar, keyed by the
    model hash and kernel variant its manifest records (latency_report.store)."""
    m = json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
    variant = m.get("kernel_variant") or (m.get("report") or {}).get("kernel_variant")
    return latency_report.store(out_dir, kind, data, m["model_hash"], variant)
