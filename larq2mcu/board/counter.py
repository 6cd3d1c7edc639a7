"""Exact instruction counts of one `<name>_invoke` under QEMU, via a TCG plugin (firmware/qemu/qcount.c).

Contract: `count(elf, board, name)` runs the harness ELF (targets.build) under the board's QEMU
with the qcount plugin and returns a Count: `total` instructions executed from the first entry of
`<name>_invoke` until control is back in the harness, `calls`, one (function, instructions) pair
per call made from the invoke body (callees included: a kernel's libgcc/softfloat helpers count
towards it), and `stack_hwm`, the stack high-water mark of the whole run in bytes: __stack_top
minus the lowest address stored to in [__bss_end, __stack_top) (what painting the stack with a
pattern and reading it back finds, measured exactly by watching stores).

Why QEMU and not Unicorn: Unicorn 2.1 lacks RISC-V Zbb (cpop raises) and Xtensa; QEMU has both.
Why a plugin and not `-d in_asm,exec,nochain`: the TB log is line-buffered (about 0.4 M blocks/s,
~2 M instructions/s), too slow for the full matrix; the plugin counts the same blocks at
emulation speed. Both count each executed block with its instruction count, so they agree
exactly (checked against the TB log in RESULTS.md's first run, and in the notes §3).
"""
from __future__ import annotations

import bisect
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ToolchainMissingError
from ..paths import firmware_dir
from .run import qemu_command

_PLUGIN: Path | None = None


def _elffile():
    """pyelftools' ELFFile, imported on first use: it is an extra (`larq2mcu[bench]`), not a
    dependency of the exporter."""
    try:
        from elftools.elf.elffile import ELFFile
    except ImportError:
        raise ToolchainMissingError("the instruction counter reads ELF symbols with pyelftools, which is "
                                    "not installed: pip install 'larq2mcu[bench]' (or pip install pyelftools)"
                                    ) from None
    return ELFFile


@dataclass
class Count:
    """Instructions counted in one guest run (see the module docstring); `stack_hwm` in bytes."""
    total: int = 0
    calls: list = field(default_factory=list)   # [(function, instructions)] in call order
    ok: bool = False                            # the invoke window opened and closed
    stack_hwm: int = 0                          # bytes, whole run


class Symbols:
    """Function symbols of an ELF: address → name lookup (Thumb bit cleared), plus all symbols."""

    def __init__(self, elf: Path):
        with open(elf, "rb") as f:
            e = _elffile()(f)
            st = e.get_section_by_name(".symtab")
            funcs, self.values = {}, {}
            for s in st.iter_symbols():
                if s.name:
                    self.values[s.name] = int(s["st_value"])
                if s["st_info"]["type"] == "STT_FUNC" and s["st_value"]:
                    funcs[s["st_value"] & ~1] = (s.name, max(int(s["st_size"]), 1))
        self.addrs = sorted(funcs)
        self.info = [funcs[a] for a in self.addrs]
        self.by_name = {n: (a, sz) for a, (n, sz) in zip(self.addrs, self.info)}

    def name_at(self, pc: int) -> str:
        """Name of the function whose [address, address + size) holds `pc`; `?0x…` when none does."""
        i = bisect.bisect_right(self.addrs, pc) - 1
        if i >= 0 and pc < self.addrs[i] + self.info[i][1]:
            return self.info[i][0]
        return f"?{pc:#x}"

    def range(self, name: str):
        """(start, end) address of function `name`, end exclusive; KeyError when there is none."""
        a, sz = self.by_name[name]
        return a, a + sz


def plugin() -> Path:
    """Build firmware/qemu/qcount.c with the host compiler once per process; return the .so path."""
    global _PLUGIN
    if _PLUGIN is None or not _PLUGIN.exists():
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("bench needs a host C compiler (cc) for the QEMU counting plugin")
        d = Path(tempfile.mkdtemp(prefix="l2m-qcount-"))
        so = d / "qcount.so"
        subprocess.run([cc, "-O2", "-shared", "-fPIC", str(firmware_dir() / "qemu" / "qcount.c"), "-o", str(so)],
                       check=True, capture_output=True, text=True)
        _PLUGIN = so
    return _PLUGIN


def plugin_option(elf: str | Path, name: str, out: str | Path) -> tuple[list[str], Symbols, tuple]:
    """(QEMU arguments `-plugin qcount.so,...` that count the first `<name>_invoke` of `elf` into
    file `out`, the ELF's symbols, the stack range) for any QEMU command line running `elf`
    (the semihosting run of `count`, or the serial session of larq2mcu.validate)."""
    sym = Symbols(Path(elf))
    # a model with several outputs: the harness calls <name>_invoke_all (which may have inlined
    # <name>_invoke, whose own copy the linker then drops), so the window opens there
    entry = sym.range(f"{name}_invoke_all" if f"{name}_invoke_all" in sym.by_name else f"{name}_invoke")[0]
    body = [sym.range(f) for f in (f"{name}_invoke", f"{name}_invoke_partial", f"{name}_invoke_range",
                                   f"{name}_invoke_all") if f in sym.by_name]
    # the harness functions calling invoke: back in one of them closes the window
    stop = [sym.range(f) for f in ("l2m_measure", "l2m_harness_run", "l2m_link_serve", "main")
            if f in sym.by_name][:4]
    stack = (sym.values["__bss_end"], sym.values["__stack_top"])
    args = [f"entry={entry:x}", *(f"body={lo:x}-{hi:x}" for lo, hi in body),
            *(f"stop={lo:x}-{hi:x}" for lo, hi in stop), f"stack={stack[0]:x}-{stack[1]:x}",
            f"out={out}"]
    return ["-plugin", ",".join([str(plugin()), *args])], sym, stack


def parse_counts(text: str, sym: Symbols, stack: tuple, exit_ok: bool) -> Count:
    """The plugin's output file (see firmware/qemu/qcount.c) as a Count."""
    res = Count()
    for line in text.splitlines():
        k, *v = line.split()
        if k == "total":
            res.total = int(v[0])
        elif k == "ok":
            res.ok = v[0] == "1" and exit_ok
        elif k == "stack_min_all":
            lo = int(v[0], 16)
            res.stack_hwm = stack[1] - lo if lo < stack[1] else 0
        elif k == "call":
            res.calls.append((sym.name_at(int(v[0], 16)), int(v[1])))
    return res


def count(elf: str | Path, board, name: str, timeout: float = 300.0) -> Count:
    """See the module docstring. Raises RuntimeError when QEMU fails or the window never opens."""
    with tempfile.TemporaryDirectory(prefix="l2m-count-") as tmp:
        out = Path(tmp) / "count.txt"
        opt, sym, stack = plugin_option(elf, name, out)
        cmd = qemu_command(elf, board) + opt
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        if not out.exists():
            raise RuntimeError(f"qcount wrote nothing (exit {proc.returncode}): {proc.stderr[-500:]}")
        return parse_counts(out.read_text(), sym, stack, proc.returncode == 0)
