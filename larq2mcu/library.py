"""Build files that make an export a drop-in library, and the kernel variant for a target CPU.

`library_files(name, files, variant)` returns, for the flat export `files` ({filename: text}):
  library.json     PlatformIO library (build.flags carry the required flags)
  CMakeLists.txt   CMake static library, and an ESP-IDF component when ESP_PLATFORM is set
  <name>.mk        a fragment for Makefile projects (STM32CubeMX "Makefile" toolchain)
All are rendered from templates/ (StrictUndefined). The export stays a flat folder of C files.

`arduino_layout(name, files, variant)` is the Arduino IDE copy (`larq2mcu export --layout
arduino`): library.properties + src/ + examples/<name>_demo/<name>_demo.ino. It is a separate
layout, not part of every export, because
the Arduino builder compiles .c files in GNU C mode with flags a library cannot change
(library.properties has no compiler-flag field) and GNU C contracts a*b+c into fused
multiply-adds on FPU cores; so each .c file of that copy starts with a pragma restoring
-ffp-contract=off -fno-strict-aliasing (templates/arduino_prelude.c.j2), which the flat export,
built with real flags, does not need.

`variant_for_cpu(cpu)`: the kernel variant boards.yaml uses for that CPU (`cpu_variants()`).
"""
from __future__ import annotations

from . import templating
from .errors import BoardError
from .version import __version__

FLAGS = ("-std=c99", "-ffp-contract=off", "-fno-strict-aliasing")
FLAG_REASONS = ("no fused multiply-add, so float results match the host bit for bit; the arena is "
                "read as floats and as packed words")


def _env():
    return templating.environment()


def _ctx(name: str, files, variant: str) -> dict:
    sources = sorted(f for f in files if f.endswith(".c") and "/" not in f)
    return dict(name=name, NAME=name.upper(), version=__version__, variant=variant, flags=list(FLAGS),
                flag_reasons=FLAG_REASONS, sources=sources)


def library_files(name: str, files, variant: str) -> dict:
    """{filename: text} of the build files for a flat export of model `name` (see module doc)."""
    env, ctx = _env(), _ctx(name, files, variant)
    return {"library.json": env.get_template("library.json.j2").render(ctx),
            "CMakeLists.txt": env.get_template("CMakeLists.txt.j2").render(ctx),
            f"{name}.mk": env.get_template("library.mk.j2").render(ctx)}


def arduino_layout(name: str, files, variant: str) -> dict:
    """{path: text} of the Arduino IDE library: library.properties, an example sketch and
    src/<every C file>, each .c file prefixed with the flag pragmas. `files` is the flat export
    (model + runtime + build files)."""
    env, ctx = _env(), _ctx(name, files, variant)
    prelude = env.get_template("arduino_prelude.c.j2").render(ctx)
    out = {"library.properties": env.get_template("library.properties.j2").render(ctx),
           f"examples/{name}_demo/{name}_demo.ino": env.get_template("arduino_example.ino.j2").render(ctx)}
    for fname, text in files.items():
        if fname.endswith(".c"):
            out[f"src/{fname}"] = prelude + text
        elif fname.endswith(".h"):
            out[f"src/{fname}"] = text
    return out


def cpu_variants(boards=None) -> dict:
    """{cpu: kernel variant} from boards.yaml. A CPU listed by several boards must name one variant
    (BoardError otherwise): the variant depends on the instruction set, not on the board."""
    from .board.profiles import load_boards
    table: dict = {}
    for b in (load_boards() if boards is None else boards).values():
        prev = table.setdefault(b.cpu, (b.kernel_variant, b.name))
        if prev[0] != b.kernel_variant:
            raise BoardError(f"boards.yaml: cpu '{b.cpu}' has kernel_variant '{prev[0]}' on board "
                             f"'{prev[1]}' but '{b.kernel_variant}' on '{b.name}'; make them agree")
    return {cpu: v for cpu, (v, _) in sorted(table.items())}


def variant_for_cpu(cpu: str, boards=None) -> str:
    """The kernel variant for `cpu` (as boards.yaml spells it: cortex-m4, esp32, rv32imc, …)."""
    table = cpu_variants(boards)
    key = cpu.lower()
    if key in table:
        return table[key]
    import difflib
    close = difflib.get_close_matches(key, list(table), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise BoardError(f"unknown cpu '{cpu}'; {hint}known: {', '.join(table)} (or pass --kernels)")
