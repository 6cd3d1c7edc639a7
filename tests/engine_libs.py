"""The runtime plus a test's own C source (engines instantiated the way generated code does),
compiled into a shared library by every host compiler there is (gcc, clang) with the host flags
and -Wpedantic, warning-free. For tests (not a test file itself)."""
from __future__ import annotations

import ctypes
import shutil
from pathlib import Path

import pytest

from larq2mcu import paths
from larq2mcu.host import build_shared


def build(tmp: Path, name: str, source: str) -> dict:
    """{compiler: CDLL} of the runtime + `source`; skips the test when no compiler exists."""
    rt = paths.runtime_dir()
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = {}
    for cc in ("gcc", "clang"):
        if not shutil.which(cc):
            continue
        so = tmp / f"lib{name}_{cc}.so"
        # -Werror (host CFLAGS) + -Wpedantic: a warning fails the build
        build_shared([*sorted(rt.glob("*.c")), src], so, [rt], ("-Wpedantic",), cc=cc)
        out[cc] = ctypes.CDLL(str(so))
    if not out:
        pytest.skip("no host C compiler (gcc or clang)")
    return out
