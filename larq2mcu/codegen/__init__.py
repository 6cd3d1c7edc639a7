"""IR + arena plan → the C files of one model (rendered from templates/ with StrictUndefined).

Files: <name>.h (API), <name>.c (kernel calls), <name>_weights.h/.c (constant data), plus the
runtime copied from firmware/runtime. Output is deterministic: no timestamps, hex-float literals,
and a banner carrying the larq2mcu version and a hash of the lowered model.
"""
from __future__ import annotations

import hashlib
import re

import jinja2
import numpy as np

from .. import __version__, ir, paths
from ..errors import InvalidNameError
from ..planner import Plan
from .lower import Lowering

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


def model_hash(g: ir.Graph) -> str:
    """sha256 (first 16 hex digits) of the lowered graph: op kinds, attributes, shapes, arrays."""
    h = hashlib.sha256()
    for op in g.ops:
        h.update(type(op).__name__.encode())
        for k, v in sorted(vars(op).items()):
            if k in ("name", "layer"):
                continue
            if isinstance(v, np.ndarray):
                h.update(k.encode() + str(v.dtype).encode() + str(v.shape).encode() + v.tobytes())
            elif isinstance(v, (ir.Threshold, ir.FloatThreshold)):
                h.update(k.encode() + v.tau.tobytes() + getattr(v, "mode", np.zeros(0)).tobytes())
            else:
                h.update(f"{k}={v!r}".encode())
        t = g.tensors[op.output]
        h.update(f"{t.shape}{t.dtype}{t.packing}".encode())
    return h.hexdigest()[:16]


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(paths.templates_dir())),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True, autoescape=False)


def runtime_files() -> dict:
    """The runtime kernels shipped in firmware/runtime (name → text)."""
    rd = paths.runtime_dir()
    return {p.name: p.read_text() for p in sorted(rd.iterdir()) if p.suffix in (".c", ".h")}


def render(g: ir.Graph, plan: Plan, name: str, variant: str = "ref") -> dict:
    """Return {filename: text} for the model and the runtime (`variant`: see lower.Lowering)."""
    name = validate_name(name)
    steps = Lowering(g, plan, name, variant).lower()
    arrays = [a for s in steps for a in s.arrays]
    out_t = g.tensors[g.outputs[0]]
    low = Lowering(g, plan, name)
    src = low.ptr(out_t.name, True)
    if out_t.dtype == ir.BITS:
        groups, c = out_t.packing
        out_stmt = f"l2m_dequantize_b32_f32_ref({groups}, {c}, {src}, output);"
    else:
        out_stmt = f"memcpy(output, {src}, {4 * out_t.numel}u);"
    ctx = dict(
        name=name, NAME=name.upper(), version=__version__, model_hash=model_hash(g),
        arena_size=plan.arena_size, arena_lower_bound=plan.lower_bound,
        input_len=g.tensors[g.inputs[0]].numel, output_len=out_t.numel,
        input_shape=list(g.tensors[g.inputs[0]].shape), output_shape=list(out_t.shape),
        num_ops=len(steps), variant=variant, weight_bytes=sum(a.nbytes for a in arrays),
        steps=steps, arrays=arrays, output_statement=out_stmt)
    env = _env()
    files = {
        f"{name}.h": env.get_template("model.h.j2").render(**ctx),
        f"{name}.c": env.get_template("model.c.j2").render(**ctx),
        f"{name}_weights.h": env.get_template("model_weights.h.j2").render(**ctx),
        f"{name}_weights.c": env.get_template("model_weights.c.j2").render(**ctx),
    }
    files.update(runtime_files())
    return files
