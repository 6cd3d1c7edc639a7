"""Atomic writing of an export folder.

The files are written into a temporary sibling folder and then moved into place:
  * destination missing or empty  → one rename;
  * destination written by larq2mcu before (has MANIFEST) → an atomic swap of the two folders
    (Linux renameat2(RENAME_EXCHANGE); elsewhere two renames), after which files the user added
    there are moved across, and the old export is deleted;
  * destination holding foreign files → refused unless `force`; with `force` our files are placed
    one by one with os.replace (each atomic) and nothing else in the folder is touched.
A failure or interruption leaves either the old content or the complete new one, never a mix,
and never removes a file larq2mcu did not write.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import OutputDirError

MANIFEST = "larq2mcu.json"


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ≥ 3.15). False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    return fn(AT_FDCWD, os.fsencode(str(a)), AT_FDCWD, os.fsencode(str(b)), RENAME_EXCHANGE) == 0


def read_manifest(path: Path):
    try:
        return json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def check_destination(out: Path, force: bool) -> str:
    """Classify `out`: 'new', 'empty', 'ours' or 'foreign' (raises when unusable)."""
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output path {out} is a file, not a folder")
    parent = out.parent if out.parent != Path("") else Path(".")
    if not out.exists():
        probe = parent
        while not probe.exists():
            probe = probe.parent
        if not os.access(probe, os.W_OK):
            raise OutputDirError(f"cannot create {out}: {probe} is not writable")
        return "new"
    if not os.access(parent, os.W_OK) or not os.access(out, os.W_OK):
        raise OutputDirError(f"output folder {out} (or its parent) is not writable")
    if not any(out.iterdir()):
        return "empty"
    if read_manifest(out) is not None:
        return "ours"
    if not force:
        raise OutputDirError(f"output folder {out} already holds files larq2mcu did not write; choose another "
                             "folder, empty it, or pass --force (force adds our files and leaves the others)")
    return "foreign"


def write_atomic(out, files: dict, manifest: dict, force: bool = False) -> Path:
    out = Path(out).absolute()
    kind = check_destination(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.l2m-*"):    # left by an export that was killed
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.l2m-", dir=out.parent))
    try:
        for fname, text in files.items():          # names may hold sub-folders (lib/<name>/x.c)
            (tmp / fname).parent.mkdir(parents=True, exist_ok=True)
            (tmp / fname).write_text(text)
        manifest = dict(manifest, files=sorted(files))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if kind in ("new", "empty"):
            if kind == "empty":
                out.rmdir()
            os.rename(tmp, out)
        elif kind == "ours":
            _replace_ours(out, tmp)
        else:
            for fname in sorted(files) + [MANIFEST]:
                (out / fname).parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / fname, out / fname)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _replace_ours(out: Path, tmp: Path) -> None:
    old = read_manifest(out) or {}
    ours = set(old.get("files", [])) | {MANIFEST}
    if not _exchange(tmp, out):
        backup = out.with_name(out.name + ".l2m-old")
        shutil.rmtree(backup, ignore_errors=True)
        os.rename(out, backup)
        os.rename(tmp, out)
        tmp = backup          # `tmp` now names the old export, like after an exchange
    # Keep every file the user added beside (or inside) our files, at the same relative path.
    for p in sorted(tmp.rglob("*")):
        rel = p.relative_to(tmp).as_posix()
        if p.is_file() and rel not in ours and not (out / rel).exists():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.rename(p, out / rel)
    shutil.rmtree(tmp, ignore_errors=True)
