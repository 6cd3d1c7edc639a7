"""`Lowered` record → the C files of one model (rendered from templates/, StrictUndefined).

Files: <name>.h (API), <name>.c (kernel calls), <name>_weights.h/.c (constant data), plus the
runtime copied from firmware/runtime. Output is deterministic: no timestamps, hex-float literals,
and a banner carrying the larq2mcu version and a hash of the lowered model.
"""
from __future__ import annotations

import re

from .. import ir, paths, templating
from ..errors import InvalidNameError
from ..ops import model_hash
from ..version import __version__
from .lower import Lowered, lower, runtime_kernels

__all__ = ["validate_name", "model_hash", "render", "runtime_files", "lower", "Lowered", "runtime_kernels"]

C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while _Bool _Complex _Imaginary main""".split())


def validate_name(name: str) -> str:
    """A model name becomes a C symbol prefix and the file names <name>.h/.c: [A-Za-z_][A-Za-z0-9_]*,
    ≤ 48 chars, not a C keyword, not the runtime's 'l2m_' prefix, not '__', and <name>.h must not
    shadow a standard header (C99/C11 and the common POSIX/newlib ones, compared case-insensitively
    for case-insensitive file systems)."""
    std_headers = frozenset("""assert complex ctype errno fenv float inttypes iso646 limits locale math setjmp
    signal stdalign stdarg stdatomic stdbool stddef stdint stdio stdlib stdnoreturn string tgmath threads time
    uchar wchar wctype alloca dirent dlfcn fcntl getopt malloc memory poll pthread sched semaphore strings
    syslog termios unistd utime""".split())
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,47}", name or ""):
        raise InvalidNameError(f"model name {name!r} is not a valid C identifier prefix "
                               "(letters, digits, '_'; not starting with a digit; at most 48 characters)")
    if name in C_KEYWORDS or name.lower().startswith("l2m_") or name.startswith("__"):
        raise InvalidNameError(f"model name {name!r} is reserved (C keyword, 'l2m_' runtime prefix or '__')")
    if name.lower() in std_headers:
        raise InvalidNameError(f"model name {name!r} would write {name}.h, which shadows the C header "
                               f"<{name.lower()}.h> so the export would not compile; choose another name")
    return name


def runtime_files() -> dict:
    """The runtime kernels shipped in firmware/runtime (name → text)."""
    rd = paths.runtime_dir()
    return {p.name: p.read_text() for p in sorted(rd.iterdir()) if p.suffix in (".c", ".h")}


# C type of the caller's input buffer per graph-input dtype (raw bytes: passes/integer_input.py)
INPUT_CTYPES = {ir.F32: "float", ir.U8: "uint8_t", ir.I8: "int8_t"}


def render(low: Lowered) -> dict:
    """Return {filename: text} for the lowered model and the runtime."""
    name = validate_name(low.name)
    g, plan = low.graph, low.plan
    out_t = g.tensors[g.outputs[0]]
    ctx = dict(
        name=name, NAME=name.upper(), version=__version__, model_hash=low.model_hash,
        arena_size=plan.arena_size, arena_lower_bound=plan.lower_bound,
        input_len=g.tensors[g.inputs[0]].numel, output_len=out_t.numel,
        input_ctype=INPUT_CTYPES[g.tensors[g.inputs[0]].dtype],
        input_shape=list(g.tensors[g.inputs[0]].shape), output_shape=list(out_t.shape),
        num_ops=len(low.steps), variant=low.variant.name, weight_bytes=low.weight_bytes,
        steps=low.steps, arrays=low.arrays, output=low.output, outputs=low.outputs)
    files = {f"{name}{suffix}": templating.render(tpl, **ctx) for suffix, tpl in (
        (".h", "model.h.j2"), (".c", "model.c.j2"), ("_weights.h", "model_weights.h.j2"),
        ("_weights.c", "model_weights.c.j2"))}
    files.update(runtime_files())
    return files


