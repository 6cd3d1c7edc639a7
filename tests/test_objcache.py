"""The object cache (larq2mcu/objcache.py) behind every host and board build: keyed by contents
(source, transitive headers, flags, compiler), never by paths; a hit gives the same object; a
failed compile stores nothing and still fails; LARQ2MCU_CACHE=off compiles every time."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from larq2mcu import objcache
from larq2mcu.objcache import key

GCC = shutil.which("gcc")


def test_object_cache_key_follows_contents_not_paths(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "k.h").write_text("#define N 1\n")
        (tmp_path / d / "m.h").write_text('#include "k.h"\n')
        (tmp_path / d / "x.c").write_text('#include "m.h"\nint x = N;\n')
    def cmd(d, o="x.o"):
        return ["gcc", "-O2", f"-I{tmp_path / d}", "-c", str(tmp_path / d / "x.c"), "-o", o]
    assert key(cmd("a")) == key(cmd("b", "other.o"))            # paths do not matter
    (tmp_path / "b" / "k.h").write_text("#define N 2\n")         # a transitively included header does
    assert key(cmd("a")) != key(cmd("b"))
    assert key(cmd("a")) != key(["gcc", "-O1", *cmd("a")[2:]])   # and so do the flags
    assert key(["gcc", "x.o", "-o", "a.elf"]) is None             # links are not cached


def test_separate_include_flag_follows_the_headers(tmp_path):
    """`-I dir` (two arguments, as the host build passes it) is read like `-Idir`: a changed header
    in that folder changes the key (a stale object once survived a header-only edit)."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "k.h").write_text("#define N 1\n")
    (tmp_path / "x.c").write_text('#include "k.h"\nint x = N;\n')
    for form in (["-I", str(tmp_path / "inc")], [f"-I{tmp_path / 'inc'}"], ["-isystem", str(tmp_path / "inc")]):
        c = ["gcc", "-O2", *form, "-c", str(tmp_path / "x.c"), "-o", "x.o"]
        before = key(c)
        (tmp_path / "inc" / "k.h").write_text("#define N 2\n")
        assert key(c) != before, form
        (tmp_path / "inc" / "k.h").write_text("#define N 1\n")
        assert key(c) == before, form


def _tree(root, value):
    root.mkdir()
    (root / "k.h").write_text(f"#define N {value}\n")
    (root / "x.c").write_text('#include "k.h"\nint x = N;\n')
    return ["gcc", "-O2", f"-I{root}", "-c", str(root / "x.c"), "-o", str(root / "x.o")]


@pytest.mark.skipif(GCC is None, reason="gcc not installed (Debian package: gcc)")
def test_hit_miss_and_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("LARQ2MCU_CACHE", str(tmp_path / "cache"))
    runs = []

    def run(cmd):
        runs.append(cmd)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(r.stderr)

    assert objcache.compile_cached(_tree(tmp_path / "a", 1), run) is False and len(runs) == 1
    assert objcache.compile_cached(_tree(tmp_path / "b", 1), run) is True and len(runs) == 1
    assert (tmp_path / "a" / "x.o").read_bytes() == (tmp_path / "b" / "x.o").read_bytes()
    assert objcache.compile_cached(_tree(tmp_path / "c", 2), run) is False and len(runs) == 2
    bad = _tree(tmp_path / "d", "syntax error")
    for _ in range(2):                       # nothing stored: the second try compiles (and fails) again
        with pytest.raises(RuntimeError, match="error"):
            objcache.compile_cached(bad, run)
    assert len(runs) == 4
    assert all(p.suffix == ".o" for p in (tmp_path / "cache" / "objects").iterdir())   # no temp files left
    monkeypatch.setenv("LARQ2MCU_CACHE", "off")
    assert objcache.compile_cached(_tree(tmp_path / "e", 1), run) is False and len(runs) == 5


def test_uncacheable_commands():
    assert key(["gcc", "-include", "cfg.h", "-c", "x.c", "-o", "x.o"]) is None   # a file not in the key
    assert key(["gcc", "@args", "-c", "x.c", "-o", "x.o"]) is None
    assert key(["gcc", "-c", "x.c"]) is None
