"""Which cross compiler and emulator a board needs, and whether they are installed.

Contract: `resolve_toolchain(board)` picks the board's own toolchain when installed, else its
`host_check` stand-in (compile/size check only); `toolchain_available(board, emulator=...)`
returns None when everything needed is on PATH, otherwise a `ToolchainMissingError` (not raised)
whose message names the Debian package to install. `require_toolchain` raises it.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .profiles import Board
from ..errors import ToolchainMissingError
from ..paths import firmware_dir

# GNU prefix -> Debian 12 packages providing gcc (+ libc where there is one) and binutils.
DEBIAN_PACKAGES = {
    "arm-none-eabi": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "riscv64-unknown-elf": "gcc-riscv64-unknown-elf",
    "xtensa-lx106-elf": "gcc-xtensa-lx106 binutils-xtensa-lx106",
}
QEMU_PACKAGES = {
    "qemu-system-arm": "qemu-system-arm",
    "qemu-system-riscv32": "qemu-system-misc",
    "qemu-system-xtensa": "qemu-system-misc",
}
# Toolchains shipped without a C library: they get l2m_shim.c and the minimal headers.
NO_LIBC = {"riscv64-unknown-elf", "xtensa-lx106-elf"}


@dataclass(frozen=True)
class Toolchain:
    """A resolved compiler: GNU `prefix`, the `cflags` selecting core/ABI, and whether it only
    stands in for the board's real compiler (`stand_in`, with the board's `note`)."""

    prefix: str
    cflags: tuple[str, ...]
    arch: str
    stand_in: bool = False
    note: str = ""

    @property
    def gcc(self) -> str:
        """The cross compiler's name, `<prefix>-gcc`."""
        return f"{self.prefix}-gcc"

    @property
    def has_libc(self) -> bool:
        """False for a toolchain prefix listed in NO_LIBC."""
        return self.prefix not in NO_LIBC


def targets_dir() -> Path:
    """firmware/targets: per-arch startup, linker scripts, board API and the libc shim."""
    return firmware_dir() / "targets"


def _install_hint(prefix: str) -> str:
    pkg = DEBIAN_PACKAGES.get(prefix)
    if pkg:
        return f"install it with: apt-get install {pkg}"
    return "no Debian package provides it; install the vendor toolchain and put it on PATH"


def resolve_toolchain(board: Board) -> Toolchain:
    """The toolchain used to build for `board` (real one if on PATH, else the host_check stand-in).

    Raises ToolchainMissingError when neither is installed."""
    if shutil.which(f"{board.toolchain}-gcc"):
        return Toolchain(board.toolchain, board.cflags, board.arch)
    hc = board.host_check
    if hc is not None and shutil.which(f"{hc.toolchain}-gcc"):
        return Toolchain(hc.toolchain, hc.cflags, board.arch, stand_in=True, note=hc.note)
    msg = f"board '{board.name}' needs {board.toolchain}-gcc, which is not on PATH; " \
          f"{_install_hint(board.toolchain)}"
    if hc is not None:
        msg += f". Its compile-check stand-in {hc.toolchain}-gcc is missing too: {_install_hint(hc.toolchain)}"
    raise ToolchainMissingError(msg)


def toolchain_available(board: Board, emulator: bool = False) -> ToolchainMissingError | None:
    """None when `board` can be built (and, with emulator=True, run in QEMU); else the error.

    The error is returned, not raised, so callers can `pytest.skip(str(err))` or `raise err`."""
    try:
        resolve_toolchain(board)
    except ToolchainMissingError as e:
        return e
    if emulator:
        if board.qemu is None:
            return ToolchainMissingError(
                f"board '{board.name}' is not emulated (it has no 'qemu' entry in boards.yaml); "
                f"emulated boards: the qemu_* entries")
        binary = board.qemu.binary
        if not shutil.which(binary):
            pkg = QEMU_PACKAGES.get(binary, "qemu-system-misc")
            return ToolchainMissingError(f"board '{board.name}' runs under {binary}, which is not on "
                                         f"PATH; install it with: apt-get install {pkg}")
    return None


def require_toolchain(board: Board, emulator: bool = False) -> None:
    """Raise ToolchainMissingError unless `toolchain_available(board, emulator)` is None."""
    err = toolchain_available(board, emulator)
    if err is not None:
        raise err
