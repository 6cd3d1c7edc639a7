"""Build files that make an export a drop-in library.

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

"""
from __future__ import annotations

from . import templating
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

