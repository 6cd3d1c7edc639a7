"""Where the shipped data lives: templates/, firmware/ and boards.yaml.

In a source checkout (editable install) they sit at the repository root beside the package; in a
wheel they are installed as data files under <prefix>/share/larq2mcu (see pyproject.toml).
"""
from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def data_root() -> Path:
    here = Path(__file__).resolve().parent.parent
    for root in (here, Path(sys.prefix) / "share" / "larq2mcu"):
        if (root / "templates").is_dir() and (root / "firmware").is_dir():
            return root
    raise RuntimeError("larq2mcu data files (templates/, firmware/) not found; reinstall the package")


def templates_dir() -> Path:
    return data_root() / "templates"


def firmware_dir() -> Path:
    return data_root() / "firmware"


def runtime_dir() -> Path:
    return firmware_dir() / "runtime"


def boards_yaml() -> Path:
    return data_root() / "boards.yaml"
