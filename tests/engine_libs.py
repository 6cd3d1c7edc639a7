"""The runtime plus a test's own C source (engines instantiated the way generated code does),
compiled into a shared library by every host compiler there is (gcc, clang) with the host flags
and -Wpedantic, warning-free. For tests (not a test file itself)."""
from __future__ import annotations

import ctypes
import shutil
from pathlib import Path

import numpy as np
import pytest

from larq2mcu import paths
from larq2mcu.host import build_shared


def build(tmp: Path, name: str, source: str, flags: tuple = ()) -> dict:
    """{compiler: CDLL} of the runtime + `source`, both compiled with `flags` too (e.g. -D...:
    the runtime's own out-of-line loops then see the same configuration); skips the test when no
    compiler exists."""
    rt = paths.runtime_dir()
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = {}
    for cc in ("gcc", "clang"):
        if not shutil.which(cc):
            continue
        so = tmp / f"lib{name}_{cc}.so"
        # -Werror (host CFLAGS) + -Wpedantic: a warning fails the build
        build_shared([*sorted(rt.glob("*.c")), src], so, [rt], ("-Wpedantic", *flags), cc=cc)
        out[cc] = ctypes.CDLL(str(so))
    if not out:
        pytest.skip("no host C compiler (gcc or clang)")
    return out


def geometry(h, w, c, oc, k, s, same) -> list:
    """The 12 l2m_geom fields of a k x k, stride-s conv of an h x w x c input to oc channels;
    `same`: TensorFlow's 'same' padding (the extra row/column at the bottom/right), else 'valid'."""
    if same:
        oh, ow = -(-h // s), -(-w // s)
        ph, pw = max((oh - 1) * s + k - h, 0), max((ow - 1) * s + k - w, 0)
        return [h, w, c, oh, ow, oc, k, k, s, s, ph // 2, pw // 2]
    return [h, w, c, (h - k) // s + 1, (w - k) // s + 1, oc, k, k, s, s, 0, 0]


GUARD = 0x7FC0DEAD      # garbage the output starts as (a quiet NaN as float32) and the guard words


def call(lib, name: str, n: int, dtype, *args):
    """Call void `name` of `lib` with `args` (arrays as pointers, None as NULL, ctypes objects as
    they are) and an output of n 32-bit words filled with GUARD, 4 guard words after it; the
    output as float32 or uint32, failing if the function wrote past it."""
    out = np.full(n + 4, GUARD, np.uint32)
    fn = getattr(lib, name)
    fn.restype = None
    fn(*(a.ctypes.data_as(ctypes.c_void_p) if isinstance(a, np.ndarray) else a for a in (*args, out)))
    assert (out[n:] == GUARD).all(), f"{name} wrote past its output"
    return out[:n].view(dtype) if dtype == np.float32 else out[:n]
