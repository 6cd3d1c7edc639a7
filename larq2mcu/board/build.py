"""Cross-compile a generated model + harness + board support into one bare-metal ELF.

Contract:
  * `render_harness(name, samples, expected)` -> text of main.c (templates/harness_main.c.j2).
  * `build(model_dir, board, samples, expected, workdir)` -> Path of the linked ELF. Every *.c in
    `model_dir` is compiled with the board's toolchain and cflags, C99, -Wall -Wextra -Wconversion
    -Werror, -ffreestanding, -ffp-contract=off (so float results do not depend on FMA fusion),
    and linked with the per-arch startup and linker script (memory map via --defsym). Compiler
    failures raise BuildError carrying the compiler output; an image too large for the board's
    memory map raises BoardError (linker's overflow figures); a missing compiler raises
    ToolchainMissingError.
  * `size(elf, board=None)` -> SizeInfo(text, data, bss) from `<prefix>-size`.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .profiles import Board
from .. import objcache, templating
from ..errors import BoardError, BuildError, ToolchainMissingError
from .toolchain import Toolchain, resolve_toolchain, targets_dir

WARNINGS = ("-Wall", "-Wextra", "-Wconversion", "-Werror")
COMMON_CFLAGS = ("-std=c99", "-O2", "-g", "-ffreestanding", "-ffunction-sections",
                 "-fdata-sections", "-ffp-contract=off", "-fno-strict-aliasing")


@dataclass(frozen=True)
class SizeInfo:
    """Section totals of an ELF (Berkeley format): flash = text + data, RAM = data + bss."""

    text: int
    data: int
    bss: int

    @property
    def flash(self) -> int:
        """Flash bytes: `.text` + `.data` (the initial values of data live in flash)."""
        return self.text + self.data

    @property
    def ram(self) -> int:
        """Static RAM bytes: `.data` + `.bss`."""
        return self.data + self.bss


def render_harness(name: str, samples: Sequence[Sequence[float]],
                   expected: Sequence[Sequence[float]] | None = None,
                   labels: Sequence[int] | None = None) -> str:
    """main.c source running `<name>_invoke` on `samples`, checking against `expected` if given;
    `labels` (data-set classes) are printed beside the predicted class."""
    env = templating.environment(trim=False)
    samples = [[float(v) for v in s] for s in samples]
    if expected is not None:
        expected = [[float(v) for v in s] for s in expected]
        if len(expected) != len(samples):
            raise ValueError(f"{len(samples)} samples but {len(expected)} expected outputs")
    if labels is not None:
        labels = [int(v) for v in labels]
        if len(labels) != len(samples):
            raise ValueError(f"{len(samples)} samples but {len(labels)} labels")
    return env.get_template("harness_main.c.j2").render(
        name=name, NAME=name.upper(), samples=samples, expected=expected, labels=labels,
        num_samples=len(samples))


def model_name(model_dir: Path) -> str:
    """The model's name: the `<name>.h` beside `<name>_weights.h` in `model_dir`."""
    for h in sorted(model_dir.glob("*_weights.h")):
        name = h.name[: -len("_weights.h")]
        if (model_dir / f"{name}.h").is_file() and (model_dir / f"{name}.c").is_file():
            return name
    raise BuildError(f"{model_dir} does not look like an exported model (no <name>.h, <name>.c "
                     f"and <name>_weights.h)")


def _run(cmd: list[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError as e:
        raise ToolchainMissingError(f"{cmd[0]} not found: {e}") from e
    if proc.returncode != 0:
        overflow = [ln.split(": ", 1)[-1] for ln in proc.stderr.splitlines()
                    if "overflowed by" in ln or "less than 2 KiB" in ln]
        if overflow:   # the image is fine, the board is too small: a board problem, not a bug
            raise BoardError(f"{what}: the image does not fit the board's memory: " + "; ".join(overflow))
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n$ {' '.join(cmd)}\n"
                         f"{proc.stdout}{proc.stderr}".rstrip())


def _libgcc(tc: Toolchain) -> str:
    """riscv multilib caveat: rv32imc_zbb etc. select the rv64 default multilib, so ask for the
    libgcc of the base ISA (extensions after '_' stripped) explicitly."""
    flags = []
    for f in tc.cflags:
        if f.startswith("-march="):
            flags.append(f.split("_", 1)[0])
        elif f.startswith("-mabi="):
            flags.append(f)
    out = subprocess.run([tc.gcc, *flags, "-print-libgcc-file-name"], capture_output=True, text=True)
    return out.stdout.strip() or "-lgcc"


def arch_sources(tc: Toolchain) -> tuple[list[Path], list[str], list[str]]:
    """(board-support sources, extra include flags, link flags without memory defsyms)."""
    t = targets_dir()
    inc = [f"-I{t}", f"-I{t / tc.arch}"]
    if not tc.has_libc:
        inc = [f"-isystem{t / 'include'}", *inc]
    if tc.arch == "arm":
        srcs = [t / "arm" / "startup.c"]
        link = ["-nostartfiles", "--specs=nano.specs", "-T", str(t / "arm" / "cm.ld"), "-lm"]
    elif tc.arch == "riscv":
        srcs = [t / "riscv" / "start.S", t / "riscv" / "board.c"]
        link = ["-nostdlib", "-T", str(t / "riscv" / "rv.ld"), _libgcc(tc)]
    else:
        srcs = [t / "xtensa" / "start.S", t / "xtensa" / "board.c", t / "xtensa" / "udiv.c",
                t / "xtensa" / "softfloat.c"]
        link = ["-nostdlib", "-T", str(t / "xtensa" / "xt.ld"), "-lgcc"]
    if not tc.has_libc:
        srcs.append(t / "l2m_shim.c")
    return srcs, inc, link


def cycles_define(board: Board) -> list[str]:
    """-D switches of the harness' tick counter: which counter, and (real boards only: emulated
    cycles are no timing) its rate L2M_TICK_HZ, the core clock or the RP2040's 1 MHz timer."""
    if board.cycle_counter == "none":
        return []
    flags = [f"-DL2M_CYCLES_{board.cycle_counter.upper()}"]
    if not board.emulated and board.clock_hz:
        hz = 1000000 if board.cycle_counter == "rp2040_timer" else board.clock_hz
        flags.append(f"-DL2M_TICK_HZ={hz}u")
    return flags


# consoles whose glue compiles without a vendor framework (registers when there is no HAL)
BARE_CONSOLES = ("stm32f4_usart2", "cmsdk_uart", "stm32h7_usart3", "stm32l5_lpuart1", "nrf51_uart")


def console_glue(board: Board, console: str | None = None) -> tuple[list[Path], list[str]]:
    """(glue sources, -D switches) of the console (default the board's) in a bare-metal build:
    the glue, a UART console instead of semihosting printing, and the serial link (L2M_LINK)."""
    console = console or board.console
    if console not in BARE_CONSOLES:
        return [], []
    return [targets_dir() / "boards" / f"{console}.c"], ["-DL2M_CONSOLE_UART", "-DL2M_LINK"]


def build(model_dir: str | Path, board: Board, samples: Sequence[Sequence[float]],
          expected: Sequence[Sequence[float]] | None, workdir: str | Path, *,
          extra_cflags: Sequence[str] = (), opt: str | None = None,
          labels: Sequence[int] | None = None, console: str | None = None) -> Path:
    """Build `<workdir>/<name>_<board>.elf` from the exported model in `model_dir`.

    `extra_cflags` are appended to every compile (e.g. -D switches); `opt` replaces -O2. A board
    whose console glue builds bare (console_glue; `console` overrides the board's, e.g. the
    uart_emulator's) gets it, with the serial link."""
    model_dir, workdir = Path(model_dir).resolve(), Path(workdir).resolve()
    name = model_name(model_dir)
    tc = resolve_toolchain(board)
    workdir.mkdir(parents=True, exist_ok=True)
    main_c = workdir / "l2m_harness_main.c"
    main_c.write_text(render_harness(name, samples, expected, labels), encoding="utf-8")
    srcs, inc, link = arch_sources(tc)
    glue, glue_defs = console_glue(board, console)
    srcs = [*glue, *srcs]
    cflags = [*COMMON_CFLAGS, *WARNINGS, *tc.cflags, *cycles_define(board), *glue_defs, *inc,
              f"-I{model_dir}", *extra_cflags]
    if opt:
        cflags = [opt if f == "-O2" else f for f in cflags]
    objs = []
    for i, src in enumerate([*sorted(model_dir.glob("*.c")), main_c, *srcs]):
        obj = workdir / f"{i:02d}_{src.stem}.o"
        what = f"compiling {src.name} for {board.name}"
        objcache.compile_cached([tc.gcc, *cflags, "-c", str(src), "-o", str(obj)], lambda c: _run(c, what))
        objs.append(str(obj))
    fo, fs, ro, rs = board.link_map()
    defsyms = f"-Wl,--defsym=__flash={fo:#x},--defsym=__flash_size={fs:#x}," \
              f"--defsym=__ram={ro:#x},--defsym=__ram_size={rs:#x}"
    elf = workdir / f"{name}_{board.name}.elf"
    _run([tc.gcc, *tc.cflags, *objs, defsyms, "-Wl,--gc-sections", f"-Wl,-Map={elf.with_suffix('.map')}",
          "-o", str(elf), *link], f"linking {elf.name}")
    return elf


_SIZE_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+[0-9a-f]+\s+(.*)$")


def size(elf: str | Path, board: Board | None = None, prefix: str | None = None) -> SizeInfo:
    """text/data/bss of `elf` via `<prefix>-size` (prefix from `board`, else guessed from PATH)."""
    if prefix is None and board is not None:
        prefix = resolve_toolchain(board).prefix
    candidates = [f"{prefix}-size"] if prefix else [
        f"{p}-size" for p in ("arm-none-eabi", "riscv64-unknown-elf", "xtensa-lx106-elf")] + ["size"]
    tool = next((c for c in candidates if shutil.which(c)), None)
    if tool is None:
        raise ToolchainMissingError(f"none of {', '.join(candidates)} is on PATH (binutils missing)")
    proc = subprocess.run([tool, "-B", str(elf)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        m = _SIZE_LINE.match(line)
        if m:
            return SizeInfo(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    raise BuildError(f"{tool} could not read {elf}: {proc.stderr.strip() or proc.stdout.strip()}")
