"""Where the shipped data lives: templates/, firmware/ and boards.yaml.

The fixed layout keeps them at the repository root, beside the package, so a wheel carries them as
data files (pyproject.toml, `[tool.setuptools.data-files]`) that pip puts under the install
scheme's data directory: `<venv>/share/larq2mcu`, `$PYTHONUSERBASE/share/larq2mcu` for
`pip install --user`, `<prefix>/share/larq2mcu` for `--prefix`. Which one is not guessable from
`sys.prefix`, so the search order is:

1. the source checkout: the repository root beside this package (editable installs, PYTHONPATH);
2. the installed distribution's own file list (importlib.metadata RECORD, paths relative to the
   site-packages folder the package was installed into), which names the data files wherever
   that scheme put them;
3. `<data>/share/larq2mcu` for every install scheme sysconfig knows (user, prefix, venv).
"""
from __future__ import annotations

import sysconfig
from functools import lru_cache
from importlib import metadata
from pathlib import Path

_DIST = "larq2mcu"


def _complete(root: Path) -> bool:
    return (root / "templates").is_dir() and (root / "firmware").is_dir() and (root / "boards.yaml").is_file()


def _from_record() -> Path | None:
    """Data root named by the RECORD of the distribution that installed this very package folder
    (another larq2mcu elsewhere on sys.path, e.g. an editable install, must not lend us its data)."""
    pkg = Path(__file__).resolve().parent
    for dist in metadata.distributions(name=_DIST):
        files = dist.files or ()
        if not any(f.name == "paths.py" and Path(dist.locate_file(f)).resolve().parent == pkg for f in files):
            continue
        for f in files:
            if f.as_posix().endswith("share/larq2mcu/boards.yaml"):
                root = Path(dist.locate_file(f)).resolve().parent
                if _complete(root):
                    return root
    return None


def _from_schemes() -> list[Path]:
    out = []
    for scheme in sysconfig.get_scheme_names():
        try:
            out.append(Path(sysconfig.get_path("data", scheme)) / "share" / _DIST)
        except KeyError:
            continue
    return out


@lru_cache(maxsize=None)
def data_root() -> Path:
    """The folder holding templates/, firmware/ and boards.yaml (see the module docstring)."""
    checkout = Path(__file__).resolve().parent.parent
    candidates = [checkout]
    record = _from_record()
    if record is not None:
        candidates.append(record)
    candidates += _from_schemes()
    for root in candidates:
        if _complete(root):
            return root
    from .errors import Larq2McuError
    raise Larq2McuError("larq2mcu data files (templates/, firmware/, boards.yaml) not found; looked in "
                        + ", ".join(dict.fromkeys(str(c) for c in candidates))
                        + "; reinstall the package (pip install --force-reinstall larq2mcu)")


def templates_dir() -> Path:
    """The Jinja2 templates folder, data_root()/templates."""
    return data_root() / "templates"


def firmware_dir() -> Path:
    """The firmware folder, data_root()/firmware."""
    return data_root() / "firmware"


def runtime_dir() -> Path:
    """The C runtime folder, firmware/runtime."""
    return firmware_dir() / "runtime"


def boards_yaml() -> Path:
    """The board profiles file, data_root()/boards.yaml."""
    return data_root() / "boards.yaml"
