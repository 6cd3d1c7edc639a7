"""The runtime plus a test's own C source (engines instantiated the way generated code does),
compiled into a shared library by every host compiler there is (gcc, clang) with the host flags
and -Wpedantic, warning-free. For tests (not a test file itself)."""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from larq2mcu import paths
from larq2mcu.host import CFLAGS


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
        cmd = [cc, *CFLAGS, "-Wpedantic", "-I", str(rt), *sorted(str(p) for p in rt.glob("*.c")), str(src),
               "-o", str(so), "-lm"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr.strip(), f"{' '.join(cmd)}\n{r.stderr[:3000]}"
        out[cc] = ctypes.CDLL(str(so))
    if not out:
        pytest.skip("no host C compiler (gcc or clang)")
    return out
