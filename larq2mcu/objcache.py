"""A content-addressed cache of compiled objects, for the host build and the board builds.

Why: every host build (`Export.build_host`) and every board build compiles all the files of an
export; the runtime files (firmware/runtime, copied verbatim into each export) are ~15 of them and
the same source with the same flags from one export to the next, and the instantiations of the
optimized engines take seconds each. Compiling them once per content saves most of a build.

Key of an object: SHA-256 over the compiler's identity (resolved path and `--version`), the
compile flags (paths left out: exports live in fresh folders) and the names and bytes of the
source and of every header it includes, transitively, from its folder or the -I folders; any
change to any of them is a miss. Commands that are not `… -c SRC -o OBJ`, or that name files by
other flags (`-include`, `-imacros`, `@file`), are never cached; links are never cached. A failed
compile stores nothing, so its diagnostics are always shown.

The cache is a folder of immutable objects named by key (`cache_dir`), written atomically, shared
by concurrent builds; delete it at will. `LARQ2MCU_CACHE=off` turns it off.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Callable

_UNCACHEABLE = ("-include", "-imacros", "@")


def enabled() -> bool:
    """False when $LARQ2MCU_CACHE is "off" (or "0"): every compile then runs."""
    return os.environ.get("LARQ2MCU_CACHE", "").lower() not in ("off", "0")


def cache_dir() -> Path | None:
    """$LARQ2MCU_CACHE/objects, else $XDG_CACHE_HOME (or ~/.cache)/larq2mcu/objects, created on
    first use; None when it cannot be created (the builds then run uncached)."""
    return _cache_dir(os.environ.get("LARQ2MCU_CACHE") or "",
                      os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"))


@cache
def _cache_dir(explicit: str, xdg: str) -> Path | None:
    d = Path(explicit or Path(xdg) / "larq2mcu") / "objects"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return d if os.access(d, os.W_OK) else None


@cache
def _compiler_id(cc: str) -> bytes:
    """`cc --version` and the resolved path: an upgraded compiler never reuses old objects."""
    exe = shutil.which(cc) or cc
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    return f"{os.path.realpath(exe)}\0{out}".encode()


_INCLUDE = re.compile(rb'^\s*#\s*include\s*[<"]([^">]+)[">]', re.MULTILINE)


def _deps_digest(src: Path, dirs: list[Path]) -> str:
    """SHA-256 over the name and bytes of `src` and of every header it includes, transitively,
    found in its own folder or `dirs` (a header found in neither — the C library's — is fixed
    for the toolchain, which the key names). Conditional includes count too (a superset)."""
    h, seen, todo = hashlib.sha256(), set(), [src]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        data = f.read_bytes()
        h.update(f.name.encode() + b"\0" + data + b"\0")
        for inc in _INCLUDE.findall(data):
            name = inc.decode()
            for d in (f.parent, src.parent, *dirs):
                if (d / name).is_file():
                    todo.append(d / name)
                    break
    return h.hexdigest()


def key(cmd: list[str]) -> str | None:
    """Cache key of a compile command (`… -c SRC -o OBJ`), or None for anything else. Paths do
    not enter the key, contents do."""
    if "-c" not in cmd or "-o" not in cmd or any(str(a).startswith(_UNCACHEABLE) for a in cmd[1:]):
        return None
    i_src, i_obj = cmd.index("-c") + 1, cmd.index("-o") + 1
    if i_src >= len(cmd) or i_obj >= len(cmd):
        return None
    # include folders, joined (-Idir) or separate (-I dir: the host build's form): their headers'
    # contents enter the key, their paths do not
    dirs, skip = [], {i_src, i_obj}
    for i, a in enumerate(cmd):
        for opt in ("-isystem", "-I"):
            if a == opt and i + 1 < len(cmd):
                dirs.append(Path(cmd[i + 1]))
                skip.update((i, i + 1))
            elif a.startswith(opt) and len(a) > len(opt) and i not in skip:
                dirs.append(Path(a[len(opt):]))
                skip.add(i)
            else:
                continue
            break
    flags = [a for i, a in enumerate(cmd) if i not in skip]
    h = hashlib.sha256(_compiler_id(cmd[0]) + b"\0" + "\0".join(flags).encode())
    h.update(_deps_digest(Path(cmd[i_src]), dirs).encode())
    return h.hexdigest()


def compile_cached(cmd: list[str], run: Callable[[list[str]], None]) -> bool:
    """Produce the object of the compile command `cmd`: copied from the cache when an object of
    the same key is there (True), else by `run(cmd)` (which raises on failure) and then stored
    (False). Anything uncacheable, or a cache that is off or unwritable, just runs."""
    d = cache_dir() if enabled() else None
    k = key(cmd) if d is not None else None
    if k is None:
        run(cmd)
        return False
    obj, hit = Path(cmd[cmd.index("-o") + 1]), d / f"{k}.o"
    if hit.is_file():
        shutil.copyfile(hit, obj)
        return True
    run(cmd)
    tmp = hit.with_name(f"{hit.name}.{os.getpid()}.{id(cmd)}.tmp")
    try:
        shutil.copyfile(obj, tmp)
        os.replace(tmp, hit)          # atomic: a concurrent build sees the whole object or none
    except OSError:                   # a full or read-only disk: the build itself succeeded
        tmp.unlink(missing_ok=True)
    return False
