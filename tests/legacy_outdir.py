"""The output writer of larq2mcu before process-owned staging folders (git 1c11a26, outdir.py
`write_atomic` / `_replace_ours`), kept verbatim in its file-system operations so that tests can
SIGKILL it after every one of them (`HOOK`) and check that today's recovery cleans up after it.
Only the hook calls are added, and shutil.rmtree is spelled out entry by entry so that a kill can
land in the middle of a deletion too."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from larq2mcu.outdir import MANIFEST, _exchange, read_manifest

HOOK = None


def _step():
    if HOOK is not None:
        HOOK()


def _rmtree(p: Path) -> None:
    if not os.path.lexists(p):
        return
    if p.is_symlink() or not p.is_dir():
        shutil.rmtree(p, ignore_errors=True)       # the old code: rmtree of a link fails silently
        return
    for root, dirs, files in os.walk(p, topdown=False):
        for f in files:
            os.unlink(os.path.join(root, f))
            _step()
        for d in dirs:
            os.rmdir(os.path.join(root, d))
    os.rmdir(p)
    _step()


def _kind(out: Path) -> str:
    if not out.exists():
        return "new"
    if not any(out.iterdir()):
        return "empty"
    return "ours" if read_manifest(out) is not None else "foreign"


def write_atomic(out, files: dict, manifest: dict, force: bool = False, exchange=_exchange) -> Path:
    """The old writer: mkdtemp staging `.<name>.l2m-XXXXXXXX`, stale folders deleted up front."""
    out = Path(out).absolute()
    kind = _kind(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.l2m-*"):
        _rmtree(stale)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.l2m-", dir=out.parent))
    _step()
    try:
        for fname, text in files.items():
            (tmp / fname).parent.mkdir(parents=True, exist_ok=True)
            (tmp / fname).write_text(text)
            _step()
        (tmp / MANIFEST).write_text(json.dumps(dict(manifest, files=sorted(files)), indent=2, sort_keys=True) + "\n")
        _step()
        if kind in ("new", "empty"):
            if kind == "empty":
                out.rmdir()
                _step()
            os.rename(tmp, out)
            _step()
        elif kind == "ours":
            _replace_ours(out, tmp, exchange)
        else:
            for fname in sorted(files) + [MANIFEST]:
                (out / fname).parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / fname, out / fname)
                _step()
    finally:
        _rmtree(tmp)
    return out


def _replace_ours(out: Path, tmp: Path, exchange) -> None:
    old = read_manifest(out) or {}
    ours = set(old.get("files", [])) | {MANIFEST}
    if exchange(tmp, out):
        _step()
    else:
        backup = out.with_name(out.name + ".l2m-old")
        _rmtree(backup)
        os.rename(out, backup)
        _step()
        os.rename(tmp, out)
        _step()
        tmp = backup
    for p in sorted(tmp.rglob("*")):
        rel = p.relative_to(tmp).as_posix()
        if p.is_file() and rel not in ours and not (out / rel).exists():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.rename(p, out / rel)
            _step()
    _rmtree(tmp)
