"""Cross-compile generated models for a board and run them under QEMU.

Public API:
  build(model_dir, board, samples, expected, workdir, *, extra_cflags=(), opt=None) -> Path (ELF)
  run(elf, board, timeout=30.0) -> RunResult            (RunResult.check() raises on failure)
  size(elf, board=None) -> SizeInfo(text, data, bss)   (.flash / .ram totals)
  toolchain_available(board, emulator=False) -> ToolchainMissingError | None
  require_toolchain(board, emulator=False)              (raises ToolchainMissingError)
  render_harness(name, samples, expected, labels=None) -> str   (main.c text)
  latency.measure(exp, board, workdir) -> dict          (per-layer instructions, image, stack)
  latency.store(out_dir, data, kind)                    (latency.json beside the export, for the reports)
"""
from __future__ import annotations

from .build import SizeInfo, build, model_name, render_harness, size
from .run import FAULT_EXIT, RunResult, SampleResult, parse_output, qemu_command, run
from .toolchain import Toolchain, require_toolchain, resolve_toolchain, targets_dir, toolchain_available

__all__ = [
    "build", "run", "size", "render_harness", "model_name", "toolchain_available",
    "require_toolchain", "resolve_toolchain", "targets_dir", "parse_output", "qemu_command",
    "RunResult", "SampleResult", "SizeInfo", "Toolchain", "FAULT_EXIT",
]
