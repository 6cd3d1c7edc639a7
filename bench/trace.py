"""Exact instruction counts of one `<name>_invoke` under QEMU, from its translation-block trace.

Contract: `count(elf, board, name)` runs the harness ELF (targets.build) under the board's QEMU
with `-d in_asm,exec,nochain` written into a FIFO (nothing large touches the disk) and returns a
Count: `total` instructions executed from the first entry of `<name>_invoke` until control is
back in the harness, and `calls`, one (function, instructions) pair per call made from the
invoke body (callees included: a kernel's libgcc/softfloat helpers count towards it).

Why TB traces and not Unicorn: Unicorn 2.1 lacks RISC-V Zbb (cpop raises) and Xtensa; QEMU has
both. With `nochain` every executed TB is logged once, and `in_asm` gives each TB's instruction
count, so sum(count per executed TB) is exact — the same figure a Unicorn block hook gives, and
the same as QEMU's instruction-counting plugin (shared/notes/embedded-toolchains.md §3).
"""
from __future__ import annotations

import bisect
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile

from larq2mcu.targets import qemu_command


@dataclass
class Count:
    total: int = 0
    calls: list = field(default_factory=list)   # [(function, instructions)] in call order
    ok: bool = False                            # the invoke window opened and closed


class Symbols:
    """Function symbols of an ELF: address → name lookup (Thumb bit cleared)."""

    def __init__(self, elf: Path):
        with open(elf, "rb") as f:
            e = ELFFile(f)
            st = e.get_section_by_name(".symtab")
            funcs = {}
            for s in st.iter_symbols():
                if s["st_info"]["type"] == "STT_FUNC" and s["st_value"]:
                    funcs[s["st_value"] & ~1] = (s.name, max(int(s["st_size"]), 1))
        self.addrs = sorted(funcs)
        self.info = [funcs[a] for a in self.addrs]
        self.by_name = {n: (a, sz) for a, (n, sz) in zip(self.addrs, self.info)}

    def name_at(self, pc: int) -> str:
        i = bisect.bisect_right(self.addrs, pc) - 1
        if i >= 0 and pc < self.addrs[i] + self.info[i][1]:
            return self.info[i][0]
        return f"?{pc:#x}"

    def range(self, name: str):
        a, sz = self.by_name[name]
        return a, a + sz


def count(elf: str | Path, board, name: str, timeout: float = 300.0) -> Count:
    """See the module docstring."""
    sym = Symbols(Path(elf))
    entry = sym.range(f"{name}_invoke")[0]
    body = [sym.range(f) for f in (f"{name}_invoke", f"{name}_invoke_partial") if f in sym.by_name]
    stop = [sym.range(f) for f in ("l2m_harness_run", "main") if f in sym.by_name]

    def within(pc, ranges):
        return any(lo <= pc < hi for lo, hi in ranges)

    with tempfile.TemporaryDirectory(prefix="l2m-trace-") as tmp:
        fifo = Path(tmp) / "log"
        os.mkfifo(fifo)
        cmd = qemu_command(elf, board) + ["-d", "in_asm,exec,nochain", "-D", str(fifo)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        res = Count()
        size: dict[int, int] = {}
        cls: dict[int, int] = {}        # pc -> 0 body, 1 stop, 2 other
        state = 0                       # 0 before, 1 in window, 2 done
        cur_tb, cur_n = None, 0
        call_name, call_n = None, 0
        try:
            with open(fifo, "r", errors="replace") as log:
                for line in log:
                    if line.startswith("Trace"):
                        if state == 2:
                            continue
                        pc = int(line.split("/", 2)[1], 16)
                        if state == 0:
                            if pc != entry:
                                continue
                            state = 1
                        k = cls.get(pc)
                        if k is None:
                            k = cls[pc] = 0 if within(pc, body) else 1 if within(pc, stop) else 2
                        if k == 1:
                            state = 2
                            res.ok = True
                            if call_name is not None:
                                res.calls.append((call_name, call_n))
                            continue
                        n = size.get(pc, 0)
                        res.total += n
                        if k == 0:
                            if call_name is not None:
                                res.calls.append((call_name, call_n))
                                call_name = None
                        else:
                            if call_name is None:
                                call_name, call_n = sym.name_at(pc), 0
                            call_n += n
                    elif line.startswith("IN:"):
                        cur_tb, cur_n = None, 0
                    elif line.startswith("0x") and ":" in line[:20]:
                        if cur_tb is None:
                            cur_tb = int(line.split(":", 1)[0], 16)
                        cur_n += 1
                        size[cur_tb] = cur_n
        finally:
            timer.cancel()
            proc.wait()
        return res
