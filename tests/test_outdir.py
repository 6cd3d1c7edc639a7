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
    e2 = larq2mcu.export(model, tmp_path / "y", name="m")
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
