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

from larq2mcu import board as targets
from larq2mcu.board.profiles import load_boards
from larq2mcu.board.platformio import (board_manifest, ensure_offline_core, platform_dir, run_pio,
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


def test_written_project_names_no_path_outside_itself(tmp_path):
    """No generated file holds an absolute path (the venv, the core dir, this checkout): the
    emulated envs find the l2m-qemu platform in .l2m/ by ${PROJECT_DIR}, compilers on PATH."""
    proj = write_project(tmp_path / "proj", FAKE, "fake", BOARDS["qemu_m4"], BOARDS, samples=SAMPLES,
                         emulated_envs=True)
    repo = str(Path(__file__).resolve().parents[1])
    for f in proj.rglob("*"):
        if f.is_file():
            text = f.read_text()
            for bad in (repo, str(Path.home()), sys.prefix, "symlink:///", str(tmp_path)):
                assert bad not in text, f"{f.relative_to(proj)} names {bad}"
    ini = (proj / "platformio.ini").read_text()
    assert "platform = symlink://${PROJECT_DIR}/.l2m/platformio/platform-l2m-qemu" in ini
    assert (proj / ".l2m" / "targets" / "arm" / "startup.c").is_file()
    assert (proj / ".l2m" / "platformio" / "platform-l2m-qemu" / "builder" / "main.py").is_file()


def test_board_manifests_in_sync_with_boards_yaml():
    """boards/*.json of the platform must match boards.yaml (regenerate with write_board_manifests)."""
    emulated = [b for b in BOARDS.values() if b.emulated]
    assert len(emulated) >= 9
    for b in emulated:
        path = platform_dir() / "boards" / f"{b.board}.json"
        assert path.is_file(), f"missing {path}"
        assert json.loads(path.read_text()) == board_manifest(b), f"{path} is stale"


@pytest.mark.parametrize("board_name", ["nucleo_f446re", "nucleo_h743zi", "nucleo_l552ze_q", "esp32dev", "pico",
                                        "esp32-c3-devkitm-1"])
def test_project_config_parses_offline(board_name, core, tmp_path):
    plain = write_project(tmp_path / "plain", FAKE, "fake", BOARDS[board_name], BOARDS, samples=SAMPLES)
    assert "[env:qemu_" not in (plain / "platformio.ini").read_text()   # emulated envs only when asked
    proj = write_project(tmp_path / "proj", FAKE, "fake", BOARDS[board_name], BOARDS,
                         samples=SAMPLES, emulated_envs=True)
    r = _pio(["project", "config", "--json-output"], proj, core)
    assert r.returncode == 0, r.stdout + r.stderr
    sections = dict(json.loads(r.stdout))
    env = dict(sections[f"env:{board_name}"])
    assert env["platform"] == BOARDS[board_name].platform and env["board"] == BOARDS[board_name].board
    assert {f"env:{n}" for n, b in BOARDS.items() if b.emulated} <= set(sections)
    assert (proj / "lib" / "fake" / "library.json").is_file() and (proj / "src" / "main.c").is_file()
    assert (proj / "src" / "l2m_console_arduino_serial.cpp").exists() == (BOARDS[board_name].framework == "arduino")
    # the board's console glue is in src/, kept out of the emulated envs' builds
    b = BOARDS[board_name]
    glue = f"l2m_console_{b.console}.{'cpp' if b.framework == 'arduino' else 'c'}"
    assert (proj / "src" / glue).is_file() and (proj / "src" / "l2m_board.h").is_file()
    flags = env["build_flags"]
    assert "-DL2M_LINK" in (" ".join(flags) if isinstance(flags, list) else flags)
    assert dict(sections["env:qemu_m4"])["build_src_filter"]


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
                         samples=SAMPLES, emulated_envs=True)
    r = run_pio(proj, env_name, "upload", core_dir=core, stream=None)
    assert r.returncode == 0, r.output
    samples, complete = targets.parse_output(r.output)
    got = np.stack([s.outputs for s in samples])
    exact = [2, 3, 5]   # libm-dependent outputs may differ in the last bits (see test_targets)
    assert complete and np.array_equal(got[:, exact], np.asarray(expected, dtype=np.float32)[:, exact])


def test_missing_platformio_says_how_to_install(monkeypatch, tmp_path):
    import importlib.util

    from larq2mcu.errors import ToolchainMissingError
    from larq2mcu.board.platformio import run_pio
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ToolchainMissingError, match="pip install"):
        run_pio(tmp_path, "qemu_m4", "exec")
