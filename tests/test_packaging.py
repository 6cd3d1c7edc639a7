"""templates/, firmware/ and boards.yaml ship in the wheel: the data-files globs in pyproject.toml
cover every tracked file of those folders, each at its own relative path."""
from __future__ import annotations

import glob
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_data_files_cover_the_shipped_folders():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped = {}
    for dest, patterns in cfg.items():
        for pat in patterns:
            for f in glob.glob(str(ROOT / pat)):
                rel = Path(f).relative_to(ROOT)
                shipped[rel.as_posix()] = dest
                assert Path(dest) == Path("share/larq2mcu") / rel.parent, (rel, dest)
    tracked = subprocess.run(["git", "ls-files", "templates", "firmware", "boards.yaml"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    if not tracked:       # not a git checkout (e.g. an sdist): fall back to the file system
        tracked = [p.relative_to(ROOT).as_posix() for d in ("templates", "firmware") for p in (ROOT / d).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts] + ["boards.yaml"]
    missing = sorted(set(tracked) - set(shipped))
    assert not missing, f"not in the wheel: {missing}"
