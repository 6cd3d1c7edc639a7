"""Atomic, concurrency-safe and kill-safe writing of an export folder.

Contract of `write_atomic(out, files, manifest, force)`:
  * One writer per destination at a time: an advisory lock (fcntl.flock) on `.<name>.l2m-lock`
    beside the destination. A second writer does not wait: it gets OutputDirError("another export
    (pid N) is writing to X") at once, before it touches anything. The holder deletes the lock file
    when done; a locker re-checks that the path still names the inode it locked, so that is safe.
    A killed writer leaves the (unlocked) lock file behind; the next export takes and removes it.
  * The files are written to a staging folder `.<name>.l2m-new-<pid>-<token>` beside the
    destination, owned by its process (flock on the folder; the kernel drops it when the process
    dies), then placed:
      - destination missing → one rename;
      - destination empty or written by larq2mcu before (has MANIFEST) → an atomic swap
        (renameat2(RENAME_EXCHANGE); where unsupported, the old one is renamed aside to
        `.<name>.l2m-old-…` and the new one in), then the files the user added to the old export
        are moved across, then the old export is deleted;
      - destination holding foreign files → refused unless `force`; with `force` each of our files
        is moved in with os.replace (MANIFEST last) and nothing else is touched.
    A user file where the new export writes one of its files is refused, never overwritten.
  * Recovery: holding the lock, a writer first recovers every folder of the destination whose
    owner is gone (its flock can be taken). One holding a manifest, with the destination missing, is
    renamed back into place (an old export renamed aside). Otherwise every entry it holds that its
    manifest does not list (a user file, after a swap) is moved back into the destination, a `force`
    staging is completed, and the folder is deleted. So after SIGKILL at any instant the destination
    holds the old complete export or the new complete one (for `force`: completed by the next
    export), and the next export puts every user file back in place.
    Folders left by a killed older larq2mcu (mkdtemp-named staging, `<name>.l2m-old`) are
    recovered the same way once quiet for a minute; what cannot be proven ours is kept
    (outdir_legacy.py).
  * Permissions as mkdir/touch give them (0777/0666 minus the umask).
  * A symlinked destination is written through: the export goes to the link's target, the link
    stays as it was.
  * Every OS failure (ENOSPC, EACCES, EROFS, a path under /proc, …) becomes one OutputDirError
    carrying the cause; the previous export is then unchanged.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
from pathlib import Path

from . import outdir_legacy
from .errors import OutputDirError

MANIFEST = "larq2mcu.json"
_ROLES = ("old", "new", "force")        # recovery order: an old export renamed aside comes first
_HOOK = None                            # fault-injection seam for tests/test_writer_races.py


def _step(name: str) -> None:
    """Called after every file-system change of a write (no-op unless a test set _HOOK)."""
    if _HOOK is not None:
        _HOOK(name)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ≥ 3.15). False where the system or file system lacks it."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    if fn(AT_FDCWD, os.fsencode(str(a)), AT_FDCWD, os.fsencode(str(b)), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def read_manifest(path: Path):
    """The parsed MANIFEST of folder `path`; None when it is missing or not valid JSON."""
    try:
        return json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _resolve(out) -> Path:
    """Absolute path with every symlink resolved (a symlinked destination is written through)."""
    return Path(os.path.realpath(os.path.abspath(str(out))))


def _cause(e: OSError) -> str:
    where = f": {e.filename}" if e.filename else ""
    return f"{e.strerror or e}{where}"


def _probe_writable(folder: Path, out: Path) -> None:
    """Create and remove a folder in `folder`: os.access says yes to root even under /proc."""
    if not os.access(folder, os.W_OK):
        raise OutputDirError(f"cannot write to {out}: {folder} is not writable")
    probe = folder / f".{out.name}.l2m-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as e:
        raise OutputDirError(f"cannot write to {out}: cannot create a folder in {folder} ({e.strerror or e})") from None


def check_destination(out: Path, force: bool) -> str:
    """Classify `out`: 'new', 'empty', 'ours' or 'foreign' (raises OutputDirError when unusable).
    Cheap, so export() calls it before the slow part; write_atomic calls it again under the lock."""
    out = _resolve(out)
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output path {out} is a file, not a folder")
    if not out.exists():
        probe = out.parent
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise OutputDirError(f"cannot create {out}: {probe} is a file, not a folder")
        _probe_writable(probe, out)
        return "new"
    _probe_writable(out.parent, out)
    if not os.access(out, os.W_OK):
        raise OutputDirError(f"output folder {out} is not writable")
    if not any(out.iterdir()):
        return "empty"
    if read_manifest(out) is not None:
        return "ours"
    if not force:
        raise OutputDirError(f"output folder {out} already holds files larq2mcu did not write; choose another "
                             "folder, empty it, or pass --force (force adds our files and leaves the others)")
    _probe_writable(out, out)
    return "foreign"


# -- locks ---------------------------------------------------------------------------------------

def _lock(out: Path) -> tuple:
    """Take the destination's lock → (fd, path); OutputDirError naming the holder when taken."""
    path = out.parent / f".{out.name}.l2m-lock"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except PermissionError:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 16, 0).decode(errors="replace").strip()
            os.close(fd)
            raise OutputDirError(f"another export{f' (pid {holder})' if holder.isdigit() else ''} is writing "
                                 f"to {out}; wait for it to finish or choose another folder") from None
        try:
            st, now = os.fstat(fd), os.stat(path)
            same = (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino)
        except FileNotFoundError:
            same = False
        if same:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError:
                pass              # read-only lock file: the holder's pid is only informative
            return fd, path
        os.close(fd)              # its holder deleted it after we opened it: lock the new one


def _unlock(lock: tuple) -> None:
    fd, path = lock
    try:
        os.unlink(path)           # while still holding it (see _lock)
    except OSError:
        pass
    os.close(fd)


def _own(folder: Path):
    """flock `folder` → fd; None when another process holds it (never waits: no deadlock)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _new_folder(out: Path, role: str) -> Path:
    """An empty folder `.<name>.l2m-<role>-<pid>-<token>` beside `out`, mode 0777 minus umask."""
    while True:
        p = out.parent / f".{out.name}.l2m-{role}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(p)
            return p
        except FileExistsError:
            continue


def _aside_name(out: Path, role: str) -> Path:
    return out.parent / f".{out.name}.l2m-{role}-{os.getpid()}-{secrets.token_hex(4)}"


# -- recovery ------------------------------------------------------------------------------------

def _folders_of(out: Path) -> list:
    pat = re.compile(rf"\.{re.escape(out.name)}\.l2m-({'|'.join(_ROLES)})-(\d+)-[0-9a-f]{{8}}")
    found = []
    try:
        entries = list(os.scandir(out.parent))
    except FileNotFoundError:
        return []
    for e in entries:
        m = pat.fullmatch(e.name)
        if m and e.is_dir(follow_symlinks=False):
            found.append((_ROLES.index(m.group(1)), e.name, m.group(1), Path(e.path)))
    return [(role, path) for _, _, role, path in sorted(found)]


def _move_user_entries(src: Path, dst: Path, ours: set) -> list:
    """Move every entry of `src` not listed in `ours` (relative paths) to the same place in `dst`;
    a folder holding none of ours moves in one rename. Returns the entries left (a path taken)."""
    ours_dirs = {"/".join(p.split("/")[:i]) for p in ours for i in range(1, p.count("/") + 1)}
    left = []

    def walk(rel: str) -> None:
        for e in sorted(os.scandir(src / rel), key=lambda e: e.name):
            r = f"{rel}/{e.name}" if rel else e.name
            if r in ours:
                continue
            is_dir = e.is_dir(follow_symlinks=False)
            target = dst / r
            if is_dir and (r in ours_dirs or (target.is_dir() and not target.is_symlink())):
                walk(r)
            elif os.path.lexists(target):
                left.append(r)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(src / r, target)
                _step("moved")
    walk("")
    return left


def recover(out: Path) -> None:
    """Recover the abandoned folders of `out` (see the module docstring), then those an older
    larq2mcu left (outdir_legacy.py). Caller holds the lock."""
    for role, folder in _folders_of(out):
        _recover_folder(out, role, folder)
    for kind, entry in outdir_legacy.find(out):
        if kind == "link":
            os.unlink(entry)       # a symlinked destination swapped out: the link only, its target stays
            _step("recovered")
            continue
        role = outdir_legacy.classify(kind, entry, read_manifest(entry), out, read_manifest(out))
        if role == "delete":
            shutil.rmtree(entry)
            _step("recovered")
        elif role != "keep":
            _recover_folder(out, role, entry)


def _recover_folder(out: Path, role: str, folder: Path) -> None:
    fd = _own(folder)
    if fd is None:
        return                    # its writer is alive: never touch a live folder
    try:
        m = read_manifest(folder)
        if os.path.lexists(out) and not os.path.isdir(out):
            return                # check_destination refuses the file; keep everything
        if m is None:
            if role == "old" and any(folder.iterdir()):
                return            # an aside folder is made from an export: without MANIFEST, keep it
        elif not os.path.lexists(out):
            os.rename(folder, out)     # an old export renamed aside, or a complete new one
            _step("recovered")
            return
        elif role == "force":          # complete an interrupted forced export (MANIFEST last)
            for f in sorted(set(m.get("files", []))) + [MANIFEST]:
                if os.path.lexists(folder / f):
                    (out / f).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(folder / f, out / f)
                    _step("recovered")
        else:
            left = _move_user_entries(folder, out, set(m.get("files", [])) | {MANIFEST})
            if left:
                raise OutputDirError(
                    f"files from an interrupted export are kept in {folder} because {out} already holds "
                    f"{', '.join(left[:5])}{' …' if len(left) > 5 else ''}; move them yourself, then export again")
        shutil.rmtree(folder)
        _step("recovered")
    finally:
        os.close(fd)


# -- writing -------------------------------------------------------------------------------------

def _write_file(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _collisions(out: Path, files: dict, kind: str) -> None:
    """Refuse to overwrite a file larq2mcu did not write."""
    ours = set((read_manifest(out) or {}).get("files", [])) if kind == "ours" else set()
    taken = [f for f in sorted(files) if f not in ours and os.path.lexists(out / f)]
    if taken:
        raise OutputDirError(f"{out} holds {', '.join(taken[:5])}{' …' if len(taken) > 5 else ''}, not written by "
                             "larq2mcu, where this export writes its own; move them away or choose another folder")


def write_atomic(out, files: dict, manifest: dict, force: bool = False) -> Path:
    """Write `files` ({relative path: text}) and MANIFEST to the folder `out`; see the module
    docstring for the guarantees. Returns the resolved destination."""
    out = _resolve(out)
    try:
        check_destination(out, force)      # fails before the lock for a file, /proc, read-only …
        out.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock(out)
    except OSError as e:
        raise OutputDirError(f"cannot write the export to {out}: {_cause(e)}") from None
    try:
        _step("locked")
        recover(out)
        kind = check_destination(out, force)
        _collisions(out, files, kind)
        return _write(out, files, manifest, kind)
    except OSError as e:
        raise OutputDirError(f"cannot write the export to {out}: {_cause(e)}; the previous content of {out} "
                             "is unchanged") from None
    finally:
        _unlock(lock)


def _write(out: Path, files: dict, manifest: dict, kind: str) -> Path:
    tmp = _new_folder(out, "force" if kind == "foreign" else "new")
    own = _own(tmp)
    try:
        try:
            for fname, text in files.items():      # names may hold sub-folders (lib/<name>/x.c)
                (tmp / fname).parent.mkdir(parents=True, exist_ok=True)
                _write_file(tmp / fname, text)
                _step("wrote")
            _write_file(tmp / MANIFEST, json.dumps(dict(manifest, files=sorted(files)), indent=2,
                                                   sort_keys=True) + "\n")
            _step("staged")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if kind == "new":
            try:
                os.rename(tmp, out)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            _step("placed")
        elif kind == "foreign":
            for fname in sorted(files) + [MANIFEST]:
                (out / fname).parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / fname, out / fname)
                _step("placed")
            shutil.rmtree(tmp)
        else:
            _swap_in(out, tmp, kind)
        return out
    finally:
        os.close(own)


def _swap_in(out: Path, tmp: Path, kind: str) -> None:
    """Swap the staging folder `tmp` with the old export `out`, move the user's files across."""
    old_fd = _own(out)                    # after the swap the old export is ours to recover too
    if old_fd is None:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputDirError(f"another process is writing to {out}; wait for it to finish or choose another folder")
    try:
        try:
            swapped = _exchange(tmp, out)
            if not swapped:
                aside = _aside_name(out, "old")
                os.rename(out, aside)
                _step("aside")
                try:
                    os.rename(tmp, out)
                except BaseException:
                    os.rename(aside, out)
                    raise
                shutil.rmtree(tmp, ignore_errors=True)   # (now empty: renamed away)
                tmp = aside
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)       # the unswapped staging folder
            raise
        _step("swapped")
        old = read_manifest(tmp) or {}
        ours = set(old.get("files", [])) | {MANIFEST} if kind == "ours" else set()
        try:
            left = _move_user_entries(tmp, out, ours)
        except OSError as e:
            raise OutputDirError(f"the new export is in {out}, but moving your files back from {tmp} failed "
                                 f"({_cause(e)}); they are kept there and the next export moves them back") from None
        if left:
            raise OutputDirError(f"the new export is in {out}; your files {', '.join(left[:5])} are kept in {tmp} "
                                 "because the new export holds files of the same name")
        shutil.rmtree(tmp)
        _step("cleaned")
    finally:
        os.close(old_fd)
