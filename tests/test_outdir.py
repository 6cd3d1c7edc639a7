"""Atomic output folders: never half-written, never deleting user files."""
from __future__ import annotations

import json
import os

import pytest

import larq2mcu
import model_cases as mc
from larq2mcu.outdir import MANIFEST, write_atomic


@pytest.fixture(scope="module")
def model():
    return mc.build("dense_mix")


def test_new_then_reexport_keeps_user_files(model, tmp_path):
    out = tmp_path / "o"
    larq2mcu.export(model, out, name="a")
    (out / "main.c").write_text("user code")
    larq2mcu.export(model, out, name="b")
    names = {p.name for p in out.iterdir()}
    assert "main.c" in names and "b.c" in names and "a.c" not in names
    assert (out / "main.c").read_text() == "user code"
    assert json.loads((out / MANIFEST).read_text())["name"] == "b"
    assert not [p for p in tmp_path.iterdir() if p.name != "o"]


def test_foreign_folder_refused_unless_force(model, tmp_path):
    out = tmp_path / "proj"
    out.mkdir()
    (out / "README").write_text("x")
    with pytest.raises(larq2mcu.OutputDirError, match="--force"):
        larq2mcu.export(model, out, name="m")
    assert [p.name for p in out.iterdir()] == ["README"]
    larq2mcu.export(model, out, name="m", force=True)
    assert (out / "README").read_text() == "x" and (out / "m.c").exists()


def test_output_path_is_a_file(model, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(larq2mcu.OutputDirError, match="is a file"):
        larq2mcu.export(model, f, name="m")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_parent(model, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(larq2mcu.OutputDirError, match="not writable"):
            larq2mcu.export(model, ro / "o", name="m")
    finally:
        ro.chmod(0o700)


def test_read_only_destination_reported(model, tmp_path, monkeypatch):
    """Same check as above, independent of the uid (CI runs as root)."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p).endswith("ro") else real(p, m))
    (tmp_path / "ro").mkdir()
    with pytest.raises(larq2mcu.OutputDirError, match="not writable"):
        larq2mcu.export(model, tmp_path / "ro" / "o", name="m")


def test_failure_during_write_leaves_old_content(tmp_path, monkeypatch):
    out = tmp_path / "o"
    write_atomic(out, {"a.c": "old"}, {"name": "a"})

    class Boom(Exception):
        pass

    real = os.rename

    def failing_rename(a, b):
        raise Boom()
    monkeypatch.setattr(os, "rename", failing_rename)
    import larq2mcu.outdir as od
    monkeypatch.setattr(od, "_exchange", lambda a, b: False)
    with pytest.raises(Boom):
        write_atomic(out, {"a.c": "new", "b.c": "new"}, {"name": "a"})
    monkeypatch.setattr(os, "rename", real)
    assert (out / "a.c").read_text() == "old" and not (out / "b.c").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_exports_are_deterministic(model, tmp_path):
    e1 = larq2mcu.export(model, tmp_path / "x", name="m")
    larq2mcu.export(model, tmp_path / "y", name="m")
    for f in e1.files:
        assert (tmp_path / "x" / f).read_bytes() == (tmp_path / "y" / f).read_bytes()
    assert "larq2mcu" in e1.files["m.c"].splitlines()[0] and e1.model_hash in e1.files["m.c"]


KILL_SCRIPT = r"""
import sys, time
from larq2mcu.outdir import write_atomic

class Slow(dict):
    def items(self):
        for k, v in super().items():
            time.sleep(0.05)
            yield k, v

files = Slow((f"f{i:03d}.c", "new") for i in range(40))
print("start", flush=True)
write_atomic(sys.argv[1], files, {"name": "new"})
"""


def test_killed_export_leaves_old_or_new(tmp_path):
    """SIGKILL at several moments: the destination holds the complete old export or the complete
    new one, never a mix; the next export cleans the abandoned temporary folder."""
    import signal
    import subprocess
    import sys
    import time
    out = tmp_path / "o"
    for delay in (0.3, 1.2, 3.5):
        write_atomic(out, {"old.c": "old"}, {"name": "old"})
        p = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out)], stdout=subprocess.PIPE)
        assert p.stdout.readline().strip() == b"start"
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        names = sorted(x.name for x in out.iterdir())
        if "old.c" in names:
            assert names == ["larq2mcu.json", "old.c"]
        else:
            assert len(names) == 41 and all((out / n).read_text() == "new" for n in names if n.endswith(".c"))
        write_atomic(out, {"old.c": "old"}, {"name": "old"})
        assert sorted(x.name for x in tmp_path.iterdir()) == ["o"]


# -- issue 15: permissions, symlinks, OS failures, collisions -------------------------------------

import errno  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import larq2mcu.outdir as od  # noqa: E402


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_permissions_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        out = write_atomic(tmp_path / "o", {"m.c": "x", "lib/m/k.h": "y"}, {"name": "m"})
        write_atomic(out, {"m.c": "x2", "lib/m/k.h": "y2"}, {"name": "m"})      # the swap path too
    finally:
        os.umask(old)
    for d in (out, out / "lib", out / "lib" / "m"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o777 & ~umask, d
    assert stat.S_IMODE((out / "m.c").stat().st_mode) == 0o666 & ~umask


def test_symlink_to_previous_export_is_written_through(tmp_path):
    target = write_atomic(tmp_path / "v1", {"a.c": "old"}, {"name": "a"})
    (target / "mine.txt").write_text("user")
    link = tmp_path / "current"
    link.symlink_to(target)
    assert write_atomic(link, {"b.c": "new"}, {"name": "b"}) == target
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert _tree(target) == {"b.c": "new", "mine.txt": "user", MANIFEST: (target / MANIFEST).read_text()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "v1"]    # no stray link or folder


def test_symlink_to_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "empty")
    write_atomic(tmp_path / "l", {"m.c": "x"}, {"name": "m"})
    assert (tmp_path / "l").is_symlink() and (tmp_path / "empty" / "m.c").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "l"]


def test_proc_path_fails_at_once(tmp_path):
    with pytest.raises(larq2mcu.OutputDirError, match="cannot write to /proc/l2m_new: cannot create a folder in /proc"):
        od.check_destination(od.Path("/proc/l2m_new"), False)
    with pytest.raises(larq2mcu.OutputDirError, match="/proc"):
        write_atomic("/proc/l2m_new", {"m.c": "x"}, {"name": "m"})


def test_disk_full_while_writing_keeps_old_export(tmp_path, monkeypatch):
    out = write_atomic(tmp_path / "o", {"a.c": "old"}, {"name": "a"})
    (out / "mine.txt").write_text("user")
    before = _tree(out)
    real, n = od._write_file, [0]

    def full(path, text):
        n[0] += 1
        if n[0] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, text)
    monkeypatch.setattr(od, "_write_file", full)
    with pytest.raises(larq2mcu.OutputDirError, match=r"No space left on device: .*b\.c.*previous content .* unchanged"):
        write_atomic(out, {"a.c": "new", "b.c": "new"}, {"name": "b"})
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_permission_denied_at_the_swap_keeps_old_export(tmp_path, monkeypatch):
    out = write_atomic(tmp_path / "o", {"a.c": "old"}, {"name": "a"})
    before = _tree(out)

    def denied(a, b):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(b))
    monkeypatch.setattr(od, "_exchange", denied)
    with pytest.raises(larq2mcu.OutputDirError, match="Permission denied"):
        write_atomic(out, {"a.c": "new"}, {"name": "b"})
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["o"]


NOSPACE = r"""
import os, sys
from larq2mcu.errors import OutputDirError
from larq2mcu.outdir import write_atomic
out = sys.argv[1] + "/o"
write_atomic(out, {"a.c": "old"}, {"name": "a"})
try:
    write_atomic(out, {f"f{i}.c": "x" * 4096 for i in range(40)}, {"name": "b"})
except OutputDirError as e:
    print("ERR", e)
print("OLD", sorted(os.listdir(out)), open(out + "/a.c").read(), sorted(os.listdir(sys.argv[1])))
"""


def test_real_full_disk(tmp_path):
    """A 64 KiB tmpfs (in a private mount namespace): the old export survives a real ENOSPC."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare (user + mount namespaces) not available")
    r = subprocess.run(["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size=64k tmpfs "{mnt}" && '
                        f'"{sys.executable}" -c \'{NOSPACE}\' "{mnt}"'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "ERR cannot write the export to" in r.stdout and "No space left on device" in r.stdout
    assert "OLD ['a.c', 'larq2mcu.json'] old ['o']" in r.stdout, r.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_real_permission_denied(tmp_path):
    """As an unprivileged user, a root-owned folder: one OutputDirError, nothing written."""
    import multiprocessing as mp
    (tmp_path / "ro").mkdir()
    tmp_path.chmod(0o755)
    q = mp.get_context("fork").Queue()

    def child():
        os.setuid(65534)
        try:
            write_atomic(tmp_path / "ro" / "o", {"m.c": "x"}, {"name": "m"})
            q.put("written")
        except larq2mcu.OutputDirError as e:
            q.put(str(e))
    p = mp.get_context("fork").Process(target=child)
    p.start()
    p.join(20)
    msg = q.get(timeout=5)
    assert ("not writable" in msg or "Permission denied" in msg) and list((tmp_path / "ro").iterdir()) == []


def test_user_file_where_the_new_export_writes_is_refused(tmp_path):
    out = write_atomic(tmp_path / "o", {"a.c": "old"}, {"name": "a"})
    (out / "b.c").write_text("my own b.c")
    before = _tree(out)
    with pytest.raises(larq2mcu.OutputDirError, match=r"holds b\.c, not written by larq2mcu"):
        write_atomic(out, {"b.c": "new"}, {"name": "b"})
    assert _tree(out) == before
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "m.c").write_text("mine")
    with pytest.raises(larq2mcu.OutputDirError, match=r"holds m\.c"):
        write_atomic(tmp_path / "f", {"m.c": "new"}, {"name": "m"}, force=True)
    assert (tmp_path / "f" / "m.c").read_text() == "mine"
