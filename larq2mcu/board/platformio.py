"""PlatformIO projects for exported models, buildable offline for the emulated boards.

Contract:
  * `ensure_offline_core(core_dir)` prepares a PLATFORMIO_CORE_DIR that needs no registry: the
    core package tool-scons built from the installed `scons` pip package (pip install
    'larq2mcu[boards]'), and local toolchain packages (bin/ symlinks to the Debian toolchains in
    /usr/bin) under <core_dir>/l2m-toolchains. Idempotent; returns the core dir.
  * `write_project(out_dir, model_dir, name, board, boards, ...)` writes platformio.ini (an env
    for `board`, plus one per emulated board when asked), lib/<name>/ (the model as a PlatformIO
    library), src/main.c (the harness) and the board's console glue. No generated file names a
    path outside the project: emulated envs use the l2m-qemu platform copied into .l2m/ (by
    ${PROJECT_DIR}) and the cross compilers on PATH. Real-board envs use the official platforms
    (ststm32, espressif32, raspberrypi, nordicnrf52), which PlatformIO must download: they cannot
    build offline, but the ini parses (`pio project config`).
  * `run_pio(project_dir, env, target)` runs `pio run` with that core dir, streaming its output,
    and returns PioResult (returncode, output, guest_exit parsed from "[exec] Error N").
  * `board_manifest(board)` is the boards/<name>.json of the l2m-qemu platform for a qemu board.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from .profiles import Board
from .. import templating
from ..errors import BoardError, ToolchainMissingError
from ..paths import firmware_dir
from .build import cycles_define, render_harness
from .run import qemu_command
from .toolchain import targets_dir

SCONS_VERSION = "4.11.1"               # PlatformIO 6.2 requires tool-scons ~4.41101.0
TOOL_SCONS_VERSION = "4.41101.0"
LOCAL_TOOLCHAINS = {                   # package name -> GNU prefix
    "toolchain-l2m-arm": "arm-none-eabi",
    "toolchain-l2m-riscv": "riscv64-unknown-elf",
    "toolchain-l2m-lx106": "xtensa-lx106-elf",
}
PACKAGE_FOR_ARCH = {"arm": "toolchain-l2m-arm", "riscv": "toolchain-l2m-riscv", "xtensa": "toolchain-l2m-lx106"}


def platform_dir() -> Path:
    """The bundled PlatformIO platform folder, firmware/platformio/platform-l2m-qemu."""
    return firmware_dir() / "platformio" / "platform-l2m-qemu"


def default_core_dir() -> Path:
    """$PLATFORMIO_CORE_DIR when set, else ~/.platformio."""
    return Path(os.environ.get("PLATFORMIO_CORE_DIR") or Path.home() / ".platformio")


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def ensure_offline_core(core_dir: str | Path | None = None) -> Path:
    """Make `core_dir` usable offline (tool-scons + local toolchain packages); see module doc."""
    core = Path(core_dir) if core_dir is not None else default_core_dir()
    scons_pkg = core / "packages" / "tool-scons"
    if not (scons_pkg / ".piopm").is_file():
        try:
            import SCons  # noqa: F401  (the pip package `scons`)
        except ImportError as e:
            raise ToolchainMissingError(
                "PlatformIO needs its SCons core package and cannot download it offline; install "
                f"the pip package: pip install 'larq2mcu[boards]' (scons=={SCONS_VERSION})") from e
        if SCons.__version__ != SCONS_VERSION:
            raise ToolchainMissingError(f"scons {SCons.__version__} is installed but PlatformIO 6.2 "
                                        f"needs {SCONS_VERSION}: pip install scons=={SCONS_VERSION}")
        tmp = scons_pkg.with_name("tool-scons.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(Path(SCons.__file__).parent, tmp / "SCons",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (tmp / "scons.py").write_text(
            "import os, sys\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
            "from SCons.Script import main\nif __name__ == '__main__':\n    main()\n", encoding="utf-8")
        _write_json(tmp / "package.json", {"name": "tool-scons", "version": TOOL_SCONS_VERSION})
        # .piopm's owner/name must match PlatformIO's requirement platformio/tool-scons
        _write_json(tmp / ".piopm", {"type": "tool", "name": "tool-scons", "version": TOOL_SCONS_VERSION,
                                     "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                                              "requirements": None, "uri": None}})
        shutil.rmtree(scons_pkg, ignore_errors=True)
        tmp.rename(scons_pkg)
    ensure_local_toolchains(core)
    return core


def ensure_local_toolchains(core: Path) -> None:
    """The local toolchain packages (bin/ symlinks to the Debian cross compilers) that the
    emulated environments of a written platformio.ini point at. Idempotent."""
    for pkg, prefix in LOCAL_TOOLCHAINS.items():
        bindir = core / "l2m-toolchains" / pkg / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        gcc = shutil.which(f"{prefix}-gcc")
        for tool in sorted(Path(gcc).parent.glob(f"{prefix}-*")) if gcc else []:
            link = bindir / tool.name
            if not link.is_symlink():
                link.symlink_to(tool)
        _write_json(bindir.parent / "package.json", {
            "name": pkg, "version": "12.2.0",
            "description": f"Debian {prefix} toolchain (symlinks into {Path(gcc).parent if gcc else '/usr/bin'})"})


def board_manifest(board: Board) -> dict:
    """boards/<name>.json of the l2m-qemu platform for an emulated `board`."""
    if board.qemu is None:
        raise BoardError(f"board '{board.name}' is not emulated; only qemu boards belong to l2m-qemu")
    fo, fs, ro, rs = board.link_map()
    cycles = cycles_define(board)
    return {
        "build": {
            "cpu": board.cpu, "mcu": board.name, "f_cpu": "25000000L",
            "l2m_arch": board.arch, "l2m_toolchain": board.toolchain, "l2m_cflags": list(board.cflags),
            "l2m_cycles": cycles[0][2:] if cycles else "",
            "l2m_flash": hex(fo), "l2m_flash_size": hex(fs), "l2m_ram": hex(ro), "l2m_ram_size": hex(rs),
            "l2m_qemu_cmd": " ".join(qemu_command("ELF", board)[:-2]),
        },
        "frameworks": [],
        "name": board.description,
        "upload": {"maximum_size": board.flash, "maximum_ram_size": board.ram,
                   "protocol": "qemu", "protocols": ["qemu"]},
        "url": "https://www.qemu.org/docs/master/system/index.html",
        "vendor": "QEMU",
    }


def write_board_manifests(boards: Mapping[str, Board], dest: str | Path | None = None) -> list[Path]:
    """(Re)write boards/*.json of the platform for every emulated board (keeps them in sync)."""
    out = Path(dest) if dest is not None else platform_dir() / "boards"
    written = []
    for b in boards.values():
        if b.emulated:
            p = out / f"{b.board}.json"
            _write_json(p, board_manifest(b))
            written.append(p)
    return written


# where a written project keeps its copy of the l2m-qemu platform and the board support, so
# that the project refers to nothing outside itself (it can be moved, zipped, committed)
VENDOR_DIR = ".l2m"
CONSOLE_PREFIX = "l2m_console_"


def console_source(board: Board) -> Path | None:
    """The board's console glue (firmware/targets/boards/<console>.c or .cpp), or None."""
    if board.console in ("semihosting", "none"):
        return None
    for ext in (".c", ".cpp"):
        p = targets_dir() / "boards" / f"{board.console}{ext}"
        if p.is_file():
            return p
    raise BoardError(f"board '{board.name}': console '{board.console}' has no glue in "
                     f"{targets_dir() / 'boards'}")


def _env(board: Board) -> dict:
    """One [env:…] of platformio.ini; relocatable: the l2m-qemu platform by ${PROJECT_DIR}, the
    cross compilers from PATH (the platform's toolchain packages are optional)."""
    if board.emulated:
        opts = [("build_src_filter", f"+<*> -<{CONSOLE_PREFIX}*>")]
        platform = f"symlink://${{PROJECT_DIR}}/{VENDOR_DIR}/platformio/platform-l2m-qemu"
    else:
        platform = board.platform
        flags = [*cycles_define(board), *(["-DL2M_LINK"] if console_source(board) else [])]
        opts = [("monitor_speed", "115200"), *([("build_flags", " ".join(flags))] if flags else [])]
    return {"name": board.name, "description": board.description, "platform": platform,
            "board": board.board, "framework": board.framework, "options": opts}


def _copy_tree(src: Path, dest: Path) -> None:
    for f in sorted(src.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            (dest / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest / f.relative_to(src))


def write_project(out_dir: str | Path, model_dir: str | Path, name: str, board: Board,
                  boards: Mapping[str, Board], *, samples: Sequence[Sequence[float]] = (),
                  expected: Sequence[Sequence[float]] | None = None,
                  labels: Sequence[int] | None = None, emulated_envs: bool = False,
                  core_dir: str | Path | None = None) -> Path:
    """Write a PlatformIO project for model `name` (files in `model_dir`); returns `out_dir`.

    platformio.ini has an env for `board`; with `emulated_envs` also one per emulated board
    (an emulated `board` always brings the l2m-qemu platform, copied into .l2m/ with the board
    support, so nothing generated names a path outside the project). `samples`/`expected`/
    `labels` are embedded in src/main.c (templates/harness_main.c.j2); the board's console glue
    goes to src/l2m_console_<console>.c(pp) with l2m_board.h. `core_dir` is accepted for
    compatibility and unused: the project needs nothing from a particular core dir."""
    del core_dir
    out, model_dir = Path(out_dir), Path(model_dir)
    if not (model_dir / f"{name}.h").is_file():
        raise BoardError(f"{model_dir} has no {name}.h: not an export of model '{name}'")
    env = templating.environment(trim=False)
    extra = [b for b in boards.values() if b.emulated and b.name != board.name] if emulated_envs else []
    envs = [_env(board)] + [_env(b) for b in extra]
    lib = out / "lib" / name
    shutil.rmtree(lib, ignore_errors=True)
    lib.mkdir(parents=True)
    for f in sorted(model_dir.iterdir()):
        if f.is_file() and f.suffix in (".c", ".h"):
            shutil.copy2(f, lib / f.name)
    (lib / "library.json").write_text(env.get_template("library.json.j2").render(
        name=name, version="0.0.0"), encoding="utf-8")
    src = out / "src"
    src.mkdir(parents=True, exist_ok=True)
    for old in src.glob(f"{CONSOLE_PREFIX}*"):
        old.unlink()
    (src / "main.c").write_text(render_harness(name, samples, expected, labels), encoding="utf-8")
    glue = console_source(board)
    if glue is not None:
        shutil.copy2(glue, src / f"{CONSOLE_PREFIX}{glue.name}")
        shutil.copy2(targets_dir() / "l2m_board.h", src / "l2m_board.h")
    vendor = out / VENDOR_DIR
    shutil.rmtree(vendor, ignore_errors=True)
    if board.emulated or extra:
        _copy_tree(platform_dir(), vendor / "platformio" / "platform-l2m-qemu")
        _copy_tree(targets_dir(), vendor / "targets")
    (out / "platformio.ini").write_text(env.get_template("platformio.ini.j2").render(
        name=name, default_env=board.name, envs=envs, vendor=VENDOR_DIR), encoding="utf-8")
    return out


@dataclass
class PioResult:
    """Outcome of `run_pio`: pio's exit code and output, plus the guest's exit status if it failed."""
    returncode: int
    output: str
    guest_exit: int | None    # the guest's exit status when `exec`/`upload` ran it and it failed


def run_pio(project_dir: str | Path, env: str, target: str | None = None, *,
            core_dir: str | Path | None = None, stream: TextIO | None = sys.stdout,
            timeout: float | None = 600) -> PioResult:
    """`pio run -d project_dir -e env [-t target]` with an offline core; output is streamed
    line by line to `stream` (None: silent) and returned."""
    import importlib.util
    if importlib.util.find_spec("platformio") is None:
        raise ToolchainMissingError("PlatformIO is not installed: pip install 'larq2mcu[boards]' "
                                    "(or pip install platformio)")
    core = ensure_offline_core(core_dir)
    cmd = [sys.executable, "-m", "platformio", "run", "-d", str(project_dir), "-e", env]
    if target:
        cmd += ["-t", target]
    penv = dict(os.environ, PLATFORMIO_CORE_DIR=str(core), PLATFORMIO_SETTING_ENABLE_TELEMETRY="no",
                PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="3650", PLATFORMIO_NO_ANSI="true")
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL, env=penv)
    except FileNotFoundError as e:
        raise ToolchainMissingError("PlatformIO is not installed: pip install 'larq2mcu[boards]'") from e
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if stream is not None:
            stream.write(line)
            stream.flush()
    rc = proc.wait(timeout=timeout)
    output = "".join(lines)
    m = re.search(r"\*\*\* \[(?:exec|upload)\] Error (\d+)", output)
    return PioResult(rc, output, int(m.group(1)) if m else (0 if rc == 0 and target else None))
