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


def _base_python():
    """The interpreter the venv was made from: `pip install --user` needs one whose user site is
    enabled (a venv disables it). Same version, so the venv's packages can serve as dependencies."""
    import sys
    base = getattr(sys, "_base_executable", None) if sys.prefix != sys.base_prefix else sys.executable
    if not base:
        return None
    ok = subprocess.run([base, "-m", "pip", "--version"], capture_output=True, text=True)
    return base if ok.returncode == 0 else None


def test_wheel_user_install_runs_export_and_verify(tmp_path, tfm):
    """`pip wheel` (offline, no build isolation) + `pip install --user --no-deps` into a fresh
    PYTHONUSERBASE; the installed `larq2mcu` finds its data files there (paths.py), and runs
    export and verify on a tiny saved model. The venv's site-packages lends the dependencies
    (TensorFlow, larq, ...) through PYTHONPATH: .pth files are not processed there, so the
    venv's own (editable) larq2mcu stays invisible and the user-site copy is the one imported."""
    import os
    import shutil
    import sys
    import sysconfig

    import pytest
    base = _base_python()
    if base is None:
        pytest.skip("no base interpreter with pip for a --user install")
    src = tmp_path / "src"
    for d in ("larq2mcu", "templates", "firmware"):
        shutil.copytree(ROOT / d, src / d, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for f in ("pyproject.toml", "README.md", "boards.yaml"):
        shutil.copy2(ROOT / f, src / f)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "-q", "-w", str(tmp_path / "wh"), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp_path / "wh").glob("larq2mcu-*.whl")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS", "PYTHONHOME")}
    env.update(PYTHONUSERBASE=str(tmp_path / "ub"), PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run([base, "-m", "pip", "install", "--user", "--no-deps", "-q", "--no-warn-script-location",
                        str(wheel)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    where = subprocess.run([base, "-c", "import larq2mcu.paths as p; print(p.__file__, p.data_root(), p._from_record())"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    pkg, root, record = where.stdout.split()
    assert pkg.startswith(str(tmp_path / "ub")), where
    assert Path(root) == Path(record) == tmp_path / "ub" / "share" / "larq2mcu", where   # found via RECORD
    _, keras, lq = tfm
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                          lq.layers.QuantDense(10, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                               kernel_constraint="weight_clip")])
    m.save(tmp_path / "tiny.keras")
    exe = tmp_path / "ub" / "bin" / "larq2mcu"
    r = subprocess.run([str(exe), "export", str(tmp_path / "tiny.keras"), "-o", str(tmp_path / "out"), "--cpu",
                        "cortex-m4"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {"model.h", "CMakeLists.txt", "library.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    r = subprocess.run([str(exe), "verify", str(tmp_path / "tiny.keras"), "--data", "digits", "-n", "20"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and "AGREE" in r.stdout, r.stdout + r.stderr


def test_bench_only_dependencies_are_extras(monkeypatch):
    """unicorn and pyelftools are extras; the instruction counter imports pyelftools only when it
    reads an ELF, and says how to install it when it is missing."""
    import importlib
    import sys

    import pytest

    from larq2mcu.errors import ToolchainMissingError
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in proj["dependencies"]}
    assert not names & {"unicorn", "pyelftools"}
    assert {"unicorn", "pyelftools"} <= {d.split(">")[0] for d in proj["optional-dependencies"]["bench"]}
    assert not any("==" in d for d in proj["dependencies"])          # ranges; CI pins constraints-ci.txt
    monkeypatch.setitem(sys.modules, "elftools", None)                 # makes `import elftools...` fail
    monkeypatch.setitem(sys.modules, "elftools.elf", None)
    monkeypatch.setitem(sys.modules, "elftools.elf.elffile", None)
    monkeypatch.delitem(sys.modules, "larq2mcu.board.counter", raising=False)
    counter = importlib.import_module("larq2mcu.board.counter")
    with pytest.raises(ToolchainMissingError, match=r"larq2mcu\[bench\]"):
        counter._elffile()
