"""PlatformIO offline: a generated project builds and runs the fake model under QEMU with the
local l2m-qemu platform (`pio run -t exec`), fails when an expected value is corrupted, and the
real-board envs parse (`pio project config`). One PLATFORMIO_CORE_DIR for the whole session."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from larq2mcu import targets
from larq2mcu.boards import load_boards
from larq2mcu.platformio import (board_manifest, ensure_offline_core, platform_dir, run_pio,
                                 write_project)

FAKE = Path(__file__).parent / "fixtures" / "fake_model"
BOARDS = load_boards()
SAMPLES = [[0.5, -1.0, 2.0, -0.25, 3.0, -4.0, 0.1, -0.2], [0.3, 0.2, -0.7, 1.5, -2.5, 0.9, 0.05, -3.0]]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("platformio") is None,
                                reason="PlatformIO not installed: pip install 'larq2mcu[boards]'")


@pytest.fixture(scope="session")
def core(tmp_path_factory) -> Path:
    if importlib.util.find_spec("SCons") is None:
        pytest.skip("scons pip package missing (PlatformIO's tool-scons is built from it): "
                    "pip install 'larq2mcu[boards]'")
    return ensure_offline_core(tmp_path_factory.mktemp("pio-core"))


def _need(name: str):
    err = targets.toolchain_available(BOARDS[name], emulator=True)
    if err is not None:
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def expected(tmp_path_factory) -> list[list[float]]:
    """Reference outputs from the direct (non-PlatformIO) qemu_m4 build of the same C."""
    _need("qemu_m4")
    elf = targets.build(FAKE, BOARDS["qemu_m4"], SAMPLES, None, tmp_path_factory.mktemp("ref"))
    return [o.tolist() for o in targets.run(elf, BOARDS["qemu_m4"]).check().outputs]


def _pio(args, project: Path, core: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(core), PLATFORMIO_SETTING_ENABLE_TELEMETRY="no")
    return subprocess.run([sys.executable, "-m", "platformio", *args, "-d", str(project)],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)


def test_offline_core_is_idempotent(core):
    piopm = json.loads((core / "packages" / "tool-scons" / ".piopm").read_text())
    assert piopm["spec"]["owner"] == "platformio" and piopm["version"] == "4.41101.0"
    assert (core / "packages" / "tool-scons" / "SCons" / "Script").is_dir()
    assert ensure_offline_core(core) == core
    assert (core / "l2m-toolchains" / "toolchain-l2m-arm" / "package.json").is_file()


def test_written_project_has_its_toolchain_packages(tmp_path):
    """platformio.ini names core/l2m-toolchains/<pkg> by path: writing the project creates them,
    so a plain `pio run` works there without run_pio having prepared that core first."""
    fresh = tmp_path / "fresh-core"
    write_project(tmp_path / "proj", FAKE, "fake", BOARDS["qemu_m4"], BOARDS, samples=SAMPLES, core_dir=fresh)
    ini = (tmp_path / "proj" / "platformio.ini").read_text()
    for pkg in ("toolchain-l2m-arm", "toolchain-l2m-riscv", "toolchain-l2m-lx106"):
        assert f"symlink://{fresh / 'l2m-toolchains' / pkg}" in ini
        assert (fresh / "l2m-toolchains" / pkg / "package.json").is_file()


def test_board_manifests_in_sync_with_boards_yaml():
    """boards/*.json of the platform must match boards.yaml (regenerate with write_board_manifests)."""
    emulated = [b for b in BOARDS.values() if b.emulated]
    assert len(emulated) >= 9
    for b in emulated:
        path = platform_dir() / "boards" / f"{b.board}.json"
        assert path.is_file(), f"missing {path}"
        assert json.loads(path.read_text()) == board_manifest(b), f"{path} is stale"


@pytest.mark.parametrize("board_name", ["nucleo_f446re", "esp32dev", "pico", "esp32-c3-devkitm-1"])
def test_project_config_parses_offline(board_name, core, tmp_path):
    proj = write_project(tmp_path / "proj", FAKE, "fake", BOARDS[board_name], BOARDS,
                         samples=SAMPLES, core_dir=core)
    r = _pio(["project", "config", "--json-output"], proj, core)
    assert r.returncode == 0, r.stdout + r.stderr
    sections = dict(json.loads(r.stdout))
    env = dict(sections[f"env:{board_name}"])
    assert env["platform"] == BOARDS[board_name].platform and env["board"] == BOARDS[board_name].board
    assert {f"env:{n}" for n, b in BOARDS.items() if b.emulated} <= set(sections)
    assert (proj / "lib" / "fake" / "library.json").is_file() and (proj / "src" / "main.c").is_file()
    assert (proj / "src" / "l2m_arduino.cpp").exists() == (BOARDS[board_name].framework == "arduino")


@pytest.mark.toolchain
def test_pio_exec_qemu_m4_passes_and_fails_on_corruption(core, expected, tmp_path):
    proj = write_project(tmp_path / "proj", FAKE, "fake", BOARDS["qemu_m4"], BOARDS,
                         samples=SAMPLES, expected=expected, core_dir=core)
    ok = run_pio(proj, "qemu_m4", "exec", core_dir=core, stream=None)
    assert ok.returncode == 0, ok.output
    assert "L2M end mismatches=0 errors=0" in ok.output
    samples, complete = targets.parse_output(ok.output)
    assert complete and np.array_equal(np.stack([s.outputs for s in samples]),
                                       np.asarray(expected, dtype=np.float32))
    bad = [list(e) for e in expected]
    bad[0][2] += 1.0
    write_project(proj, FAKE, "fake", BOARDS["qemu_m4"], BOARDS, samples=SAMPLES, expected=bad, core_dir=core)
    fail = run_pio(proj, "qemu_m4", "exec", core_dir=core, stream=None)
    assert fail.returncode != 0 and fail.guest_exit == 1, fail.output
    assert "MISMATCH" in fail.output


@pytest.mark.toolchain
@pytest.mark.parametrize("env_name", ["qemu_rv32_zbb", "qemu_lx106"])
def test_pio_upload_other_arches(env_name, core, expected, tmp_path):
    _need(env_name)
    proj = write_project(tmp_path / "proj", FAKE, "fake", BOARDS["qemu_m4"], BOARDS,
                         samples=SAMPLES, core_dir=core)
    r = run_pio(proj, env_name, "upload", core_dir=core, stream=None)
    assert r.returncode == 0, r.output
    samples, complete = targets.parse_output(r.output)
    got = np.stack([s.outputs for s in samples])
    exact = [2, 3, 5]   # libm-dependent outputs may differ in the last bits (see test_targets)
    assert complete and np.array_equal(got[:, exact], np.asarray(expected, dtype=np.float32)[:, exact])


def test_missing_platformio_says_how_to_install(monkeypatch, tmp_path):
    import importlib.util

    from larq2mcu.errors import ToolchainMissingError
    from larq2mcu.platformio import run_pio
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ToolchainMissingError, match="pip install"):
        run_pio(tmp_path, "qemu_m4", "exec")
