"""The one Jinja2 environment factory: every generated file (C, headers, platformio.ini, HTML) is
rendered from templates/ with StrictUndefined, so a missing value is an error, never empty text.

C templates: trim_blocks + lstrip_blocks (block tags take no lines), no autoescape, the C
literal filters (`c_float`: exact hex float; `c_array`: an initializer body). HTML: autoescape."""
from __future__ import annotations

from functools import lru_cache

import jinja2
import numpy as np

from .paths import templates_dir


def c_float(v) -> str:
    """Exact C99 literal of a float32 value (hex float)."""
    f = float(np.float32(v))
    if not np.isfinite(f):
        raise ValueError(f"non-finite constant {f}")
    return f.hex() + "f"


def format_array(arr: np.ndarray, ctype: str, per_line: int = 8) -> str:
    """Body of a C initializer list, `per_line` values a line."""
    a = np.asarray(arr).reshape(-1)
    if ctype == "uint32_t":
        items = [f"0x{int(x):08x}u" for x in a.astype(np.uint32)]
    elif ctype == "int32_t":
        items = [str(int(x)) for x in a.astype(np.int64)]
        items = [("(-2147483647 - 1)" if s == "-2147483648" else s) for s in items]
    elif ctype == "int8_t":
        items = [str(int(x)) for x in a.astype(np.int64)]
        per_line = 16
    elif ctype == "float":
        items = [c_float(x) for x in a.astype(np.float32)]
    else:
        raise ValueError(ctype)
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines)


@lru_cache(maxsize=None)
def environment(html: bool = False, trim: bool = True) -> jinja2.Environment:
    """The cached Jinja2 environment over templates/ (StrictUndefined, the c_float and c_array
    filters): `html` turns autoescape on; `trim` makes block tags take no lines (the model C
    templates) — the board templates (harness, platformio.ini) place their whitespace by hand."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, trim_blocks=trim, lstrip_blocks=trim,
                             keep_trailing_newline=True, autoescape=html)
    env.filters["c_float"] = c_float
    env.filters["c_array"] = lambda values, ctype: format_array(values, ctype)
    return env


def render(template: str, html: bool = False, **ctx) -> str:
    """Render templates/`template` with `ctx`; jinja2.UndefinedError if it reads a missing value."""
    return environment(html).get_template(template).render(**ctx)
