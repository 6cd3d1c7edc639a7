"""Cross-compile the hand-written fake model for every emulated board, run it under QEMU and
compare with the same C compiled on the host (ctypes). Skips with the install hint when a
toolchain or QEMU is missing."""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from larq2mcu import board as targets
from larq2mcu.board.profiles import load_boards
from larq2mcu.errors import BoardError, BuildError, EmulationError

FAKE = Path(__file__).parent / "fixtures" / "fake_model"
BOARDS = load_boards()
QEMU_BOARDS = [n for n, b in BOARDS.items() if b.emulated]
SAMPLES = [
    [0.5, -1.0, 2.0, -0.25, 3.0, -4.0, 0.1, -0.2],
    [-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0],
    [0.3, 0.2, -0.7, 1.5, -2.5, 0.9, 0.05, -3.0],
    [1e-3, -7.5, 0.0, -0.0, 12.25, -0.5, 0.75, 5.0],
]
EXACT = [2, 3, 5]          # integer / plain float arithmetic: bit-exact everywhere
LIBM = [0, 1, 4]           # through expf/tanhf: the libm differs (glibc, newlib, l2m_shim)


def _need(board_name: str, emulator: bool = True):
    err = targets.toolchain_available(BOARDS[board_name], emulator=emulator)
    if err is not None:
        pytest.skip(str(err))
    return BOARDS[board_name]


@pytest.fixture(scope="module")
def host_outputs(tmp_path_factory) -> np.ndarray:
    """The fake model compiled with the host's cc and called through ctypes."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no host C compiler (cc); apt-get install gcc")
    lib = tmp_path_factory.mktemp("host") / "libfake.so"
    subprocess.run([cc, "-std=c99", "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-Wall", "-Wextra",
                    "-Wconversion", "-Werror", "-o", str(lib), *map(str, sorted(FAKE.glob("*.c"))), "-lm"],
                   check=True)
    dll = ctypes.CDLL(str(lib))
    dll.fake_invoke.argtypes = [ctypes.c_void_p] * 3
    outs = []
    arena = (ctypes.c_uint64 * 16)()
    for s in SAMPLES:
        x = np.asarray(s, dtype=np.float32)
        y = np.zeros(6, dtype=np.float32)
        assert dll.fake_invoke(x.ctypes.data, y.ctypes.data, arena) == 0
        outs.append(y)
    return np.stack(outs)


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ia, ib = a.view(np.int32).astype(np.int64), b.view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)   # sign-magnitude -> monotonic integers
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return np.abs(ia - ib)


@pytest.mark.toolchain
@pytest.mark.parametrize("board_name", QEMU_BOARDS)
def test_fake_model_matches_host(board_name, host_outputs, tmp_path):
    board = _need(board_name)
    elf = targets.build(FAKE, board, SAMPLES, None, tmp_path)
    res = targets.run(elf, board, timeout=20).check()
    got = np.stack(res.outputs)
    assert got.shape == host_outputs.shape
    assert np.array_equal(got[:, EXACT].view(np.uint32), host_outputs[:, EXACT].view(np.uint32))
    assert _ulps(got[:, LIBM], host_outputs[:, LIBM]).max() <= 3
    assert [s.predicted for s in res.samples] == [int(np.argmax(h)) for h in host_outputs]
    sz = targets.size(elf, board)
    assert 0 < sz.flash <= board.flash and sz.ram <= board.ram


@pytest.mark.toolchain
def test_expected_outputs_pass_and_corruption_fails(tmp_path):
    board = _need("qemu_m4")
    first = targets.run(targets.build(FAKE, board, SAMPLES, None, tmp_path / "a"), board).check()
    expected = [o.tolist() for o in first.outputs]
    ok = targets.run(targets.build(FAKE, board, SAMPLES, expected, tmp_path / "b"), board).check()
    assert all(s.ok for s in ok.samples) and [s.expected for s in ok.samples] == [s.predicted for s in ok.samples]
    bad = [list(e) for e in expected]
    bad[1][3] = float(np.nextafter(np.float32(bad[1][3]), np.float32(np.inf)))   # one ulp off
    res = targets.run(targets.build(FAKE, board, SAMPLES, bad, tmp_path / "c"), board)
    assert res.exit_code == 1 and res.complete
    assert [s.ok for s in res.samples] == [True, False, True, True]
    with pytest.raises(EmulationError, match="differs"):
        res.check()


@pytest.mark.toolchain
@pytest.mark.parametrize("board_name", ["qemu_m0", "qemu_rv32", "qemu_lx106"])
def test_invoke_status_propagates(board_name, tmp_path):
    board = _need(board_name)
    elf = targets.build(FAKE, board, SAMPLES[:2], None, tmp_path, extra_cflags=["-DFAKE_STATUS=3"])
    res = targets.run(elf, board)
    assert res.exit_code == 2 and [s.status for s in res.samples] == [3, 3]
    with pytest.raises(EmulationError, match="status 2"):
        res.check()


@pytest.mark.toolchain
def test_hang_raises_emulation_error(tmp_path):
    board = _need("qemu_m3")
    elf = targets.build(FAKE, board, SAMPLES[:1], None, tmp_path, extra_cflags=["-DFAKE_HANG"])
    with pytest.raises(EmulationError, match=r"within 1.5 s \(timeout"):
        targets.run(elf, board, timeout=1.5)


@pytest.mark.toolchain
@pytest.mark.parametrize("board_name,addr", [("qemu_m4", "0xE0100000u"), ("qemu_rv32", "0xF0000000u")])
def test_fault_is_reported(board_name, addr, tmp_path):
    board = _need(board_name)
    elf = targets.build(FAKE, board, SAMPLES[:1], None, tmp_path, extra_cflags=[f"-DFAKE_FAULT={addr}"])
    res = targets.run(elf, board)
    assert res.faulted and res.exit_code == targets.FAULT_EXIT and "FAULT" in res.stdout
    with pytest.raises(EmulationError, match="faulted"):
        res.check()


@pytest.mark.toolchain
@pytest.mark.parametrize("board_name", ["nucleo_f446re", "pico", "esp32dev", "esp32-c3-devkitm-1"])
def test_real_boards_compile_check(board_name, tmp_path):
    """Real boards link bare-metal for a size check; ESP32 boards use their host_check stand-in."""
    board = _need(board_name, emulator=False)
    tc = targets.resolve_toolchain(board)
    assert tc.stand_in == (board.host_check is not None)
    elf = targets.build(FAKE, board, SAMPLES, None, tmp_path)
    assert targets.size(elf, board).flash > 0
    with pytest.raises(EmulationError, match="not emulated"):
        targets.run(elf, board)


@pytest.mark.toolchain
def test_compile_error_is_build_error(tmp_path):
    board = _need("qemu_m4", emulator=False)
    with pytest.raises(BuildError, match="FAKE_STATUS"):
        targets.build(FAKE, board, SAMPLES, None, tmp_path, extra_cflags=["-DFAKE_STATUS=)"])


@pytest.mark.toolchain
def test_too_big_for_board_is_board_error(tmp_path):
    board = _need("qemu_m0", emulator=False)   # 256 KiB flash; 9000 samples need 288 KB
    with pytest.raises(BoardError, match="does not fit.*overflowed by"):
        targets.build(FAKE, board, [[0.5] * 8] * 9000, None, tmp_path)


def test_missing_toolchain_message_names_debian_package(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    err = targets.toolchain_available(BOARDS["qemu_rv32"])
    assert err is not None and "apt-get install gcc-riscv64-unknown-elf" in str(err)
    err = targets.toolchain_available(BOARDS["esp32dev"])
    assert "xtensa-esp32-elf-gcc" in str(err) and "gcc-xtensa-lx106" in str(err)


def test_missing_qemu_message(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n: None if n.startswith("qemu") else real(n))
    err = targets.toolchain_available(BOARDS["qemu_lx106"], emulator=True)
    if targets.toolchain_available(BOARDS["qemu_lx106"]) is None:
        assert err is not None and "apt-get install qemu-system-misc" in str(err)


def test_harness_renders_special_floats_and_no_samples():
    text = targets.render_harness("fake", [[1.0, float("nan"), float("inf"), -float("inf"), -0.0]],
                                  [[0.1, 1e-45, 3.4028235e38]])
    assert "__builtin_nanf" in text and "(-__builtin_inff())" in text and "-0.00000000e+00f" in text
    assert "1.00000001e-01f" in text or "1.00000000e-01f" in text
    assert "L2M_NUM_SAMPLES 0" in targets.render_harness("fake", [], None)
    with pytest.raises(ValueError):
        targets.render_harness("fake", [[1.0]], [[1.0], [2.0]])


def test_parse_output_concatenates_lines():
    text = ("L2M begin samples=1 outputs=3\nout 0: 3f800000 40000000\nout 0: bf800000\n"
            "res 0: status=0 pred=1 expected=1 cycles=7 ok\nL2M end mismatches=0 errors=0\n")
    samples, complete = targets.parse_output(text)
    assert complete and samples[0].outputs.tolist() == [1.0, 2.0, -1.0] and samples[0].ok
    assert samples[0].cycles == 7


def test_run_rejects_real_board():
    with pytest.raises(EmulationError, match="not emulated"):
        targets.run("x.elf", BOARDS["nano33ble"])


def test_unknown_model_dir(tmp_path):
    with pytest.raises(BuildError, match="exported model"):
        targets.build(tmp_path, BOARDS["qemu_m4"], [], None, tmp_path / "w")
