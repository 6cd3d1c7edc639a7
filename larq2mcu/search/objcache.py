"""A content-addressed cache of compiled objects for the many builds of a search.

Why: `targets.build` compiles every file of an export each time (12 compiler runs for a model
on Cortex-M4); across candidates with the same kernel variant 10 of them — the runtime, the
startup code, the shim, often the harness — are the same source with the same flags. The cache
wraps the compile step of `targets.build` (its `_run`), so the build itself (flags, link map,
error handling) stays the one in targets/build.py.

Key of an object: SHA-256 over the compile flags (paths left out: every candidate is exported
to a fresh temporary folder) and the names and bytes of the source and of every header it
includes, transitively, from its folder or the -I folders; any change to any of them is a
miss. Link commands are never cached.
The compiler's identity (`--version`, resolved path) is part of the key. The cache is a folder
of immutable objects named by key (see `_cache_dir`), written atomically; delete it at will.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path


@cache
def _cache_dir() -> Path:
    """$LARQ2MCU_CACHE/objects, else $XDG_CACHE_HOME (or ~/.cache)/larq2mcu/objects: shared by
    the workers of one machine and kept between runs (entries are immutable, named by key)."""
    root = os.environ.get("LARQ2MCU_CACHE") or \
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "larq2mcu"
    d = Path(root) / "objects"
    d.mkdir(parents=True, exist_ok=True)
    return d


@cache
def _compiler_id(gcc: str) -> bytes:
    """`gcc --version` and the resolved path: an upgraded compiler never reuses old objects."""
    exe = shutil.which(gcc) or gcc
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    return f"{os.path.realpath(exe)}\0{out}".encode()


_INCLUDE = re.compile(rb'^\s*#\s*include\s*[<"]([^">]+)[">]', re.MULTILINE)


def _deps_digest(src: Path, dirs: list[Path]) -> str:
    """SHA-256 over the name and bytes of `src` and of every header it includes, transitively,
    found in its own folder or `dirs` (a header found in neither — the C library's — is fixed
    for the toolchain, which the command names). Conditional includes count too (a superset)."""
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
    not enter the key (each candidate is exported to a fresh temporary folder), contents do."""
    if "-c" not in cmd or "-o" not in cmd:
        return None
    i_src, i_obj = cmd.index("-c") + 1, cmd.index("-o") + 1
    dirs = [Path(a[2:]) for a in cmd if a.startswith("-I") and len(a) > 2]
    dirs += [Path(a[len("-isystem"):]) for a in cmd if a.startswith("-isystem") and len(a) > 8]
    flags = [a for i, a in enumerate(cmd) if i not in (i_src, i_obj) and not a.startswith(("-I", "-isystem"))]
    h = hashlib.sha256(_compiler_id(cmd[0]) + b"\0" + "\0".join(flags).encode())
    h.update(_deps_digest(Path(cmd[i_src]), dirs).encode())
    return h.hexdigest()


@contextlib.contextmanager
def cached_compiles():
    """Within the block, `targets.build` reuses objects compiled before from the same inputs."""
    import importlib
    B = importlib.import_module("larq2mcu.board.build")   # the module (the package exports the function)
    try:
        _cache_dir()
    except OSError:                # no writable cache folder: build without the cache
        yield
        return
    if not callable(getattr(B, "_run", None)):   # targets.build changed shape: build uncached
        yield
        return
    real = B._run

    def run(cmd, what):
        k = key(cmd)
        if k is None:
            return real(cmd, what)
        obj, hit = Path(cmd[cmd.index("-o") + 1]), _cache_dir() / f"{k}.o"
        if hit.is_file():
            shutil.copyfile(hit, obj)
            return None
        real(cmd, what)
        tmp = hit.with_name(f"{hit.name}.{os.getpid()}.tmp")
        shutil.copyfile(obj, tmp)
        os.replace(tmp, hit)          # atomic: a concurrent worker sees the whole object or none
        return None
    B._run = run
    try:
        yield
    finally:
        B._run = real
