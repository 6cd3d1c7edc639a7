"""Issue 17: the board harness talks. The serial validation protocol end to end against QEMU's
netduinoplus2 (STM32F405) running the nucleo_f446re USART2 firmware, read with pyserial;
`run`'s per-layer instruction table and fit line; the latency attribution; the harness + console
glue compiled for real-board profiles with the cross compiler; a user-edited platformio.ini kept;
a moved project still building and running under PlatformIO."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from larq2mcu.board import runs as boardrun

from larq2mcu import board as targets
from larq2mcu.board.profiles import load_boards
from larq2mcu.board.serial_link import (
    SerialLink,
    crc32_words,
    emulated_uart,
    encode_sample,
    parse_sample,
)
from larq2mcu.board import latency

BOARDS = load_boards()
FAKE = Path(__file__).parent / "fixtures" / "fake_model"
SAMPLES = [[0.5, -1.0, 2.0, -0.25, 3.0, -4.0, 0.1, -0.2], [0.3, 0.2, -0.7, 1.5, -2.5, 0.9, 0.05, -3.0]]


def _need(name: str, emulator: bool = True):
    b = BOARDS[name]
    err = targets.toolchain_available(b, emulator=emulator and b.emulated)
    if err is not None:
        pytest.skip(str(err))
    if not b.emulated and emulator and shutil.which(b.uart_emulator.binary) is None:
        pytest.skip(f"{b.uart_emulator.binary} missing: apt-get install qemu-system-arm")
    return b


@pytest.fixture(scope="module")
def dense_exports(tmp_path_factory, tfm):
    """variant -> (export, x, host outputs) of dense_mix (float, binary-weight and binary dense
    layers, sigmoid outputs: no saturated one-hot outputs that would make bit-identity trivial),
    exported once per kernel variant asked for."""
    from model_cases import dense_mix

    import larq2mcu
    from larq2mcu.dev import zoo
    m = dense_mix()
    zoo.randomize_bn(m)
    cache = {}

    def get(variant):
        if variant not in cache:
            exp = larq2mcu.export(m, tmp_path_factory.mktemp("dm") / "lib", name="net", kernel_variant=variant)
            x = np.random.default_rng(3).normal(size=(4, 40)).astype(np.float32)
            cache[variant] = (exp, x, exp.build_host().predict(x))
        return cache[variant]
    return get


@pytest.fixture(scope="module")
def dense_export(dense_exports):
    """dense_mix exported for the M4's usad8 kernels (see dense_exports)."""
    return dense_exports("usad8")


def test_protocol_frames_round_trip():
    x = np.array(SAMPLES[0], np.float32)
    frame = encode_sample(7, x).decode()
    words = frame.split()
    assert words[:2] == ["I", "7"] and len(words) == 2 + 8 + 1 and frame.endswith("\n")
    assert int(words[-1], 16) == crc32_words(x.view(np.uint32))
    y = np.array([1.5, -0.0, np.nan], np.float32).view(np.uint32)
    line = f"L2M sample 7 st=0 ticks=12 hz=16000000 layers=5,7 y={','.join(f'{w:08x}' for w in y)} " \
           f"crc={crc32_words(y):08x}"
    r = parse_sample(line)
    assert r.seq == 7 and r.layers == [5, 7] and np.array_equal(r.outputs.view(np.uint32), y)
    assert parse_sample(line.replace("layers=5,7", "layers=5,8")) is not None   # CRC covers outputs only
    assert parse_sample(line[:-1] + ("0" if line[-1] != "0" else "1")) is None  # corrupted answer


@pytest.mark.toolchain
@pytest.mark.parametrize("board_name", ["nucleo_f446re", "qemu_m4", "qemu_m0"])
def test_serial_validation_end_to_end_on_emulated_uart(board_name, dense_exports, tmp_path):
    """The nucleo_f446re firmware (its USART2 register driver, its flags) on netduinoplus2, the
    M4 profile over the CMSDK UART of mps2-an386, and the micro:bit (qemu_m0, hs kernels) over
    the nRF51 UART of QEMU's microbit machine; pyserial over a socket chardev; outputs
    bit-identical to the host library; per-layer ticks present for every op and exact per-layer
    instructions from the same QEMU run."""
    from larq2mcu.board.validate import on_target
    b = _need(board_name)
    exp, x, y_host = dense_exports(b.kernel_variant)
    v = on_target(exp.out_dir, exp.name, b, x, y_host, labels=[0, 1, 2, 3], emulated=True,
                  workdir=tmp_path, rows=exp.rows())
    assert v.ok and v.identical.all() and len(v.replies) == len(x)
    n_ops = len(exp.rows())
    assert v.ready.ops == n_ops and v.ready.inputs == 40
    assert v.ready.hz == (16000000 if board_name == "nucleo_f446re" else 0)   # HSI / no counter
    assert all(r.layers is not None and len(r.layers) == n_ops for r in v.replies)
    assert v.instructions is not None and len(v.instructions) == n_ops
    assert all(n > 0 for n in v.instructions) and 0 < sum(v.instructions) <= v.total_instructions
    d = v.to_dict()
    assert d["bit_identical"] == len(x) and [r["layer"] for r in d["layers"]] == [r.layer for r in exp.rows()]
    json.dumps(d)


@pytest.mark.toolchain
def test_link_naks_a_corrupted_sample_and_recovers(tmp_path):
    """A sample with a wrong CRC is answered `L2M nak <seq> crc`; the same sample sent again is
    computed; a short line is a `len` nak; Q ends the guest with its embedded-run status."""
    b = _need("nucleo_f446re")
    elf = targets.build(FAKE, b, SAMPLES[:1], None, tmp_path)
    with emulated_uart(elf, b) as (url, proc):
        with SerialLink(url, timeout=10) as link:
            assert link.hello().inputs == 8

            def answer():   # the next protocol line that is not a (repeated) ready
                deadline = time.monotonic() + 10
                while (line := link._line(deadline)) is not None and line.startswith("L2M ready"):
                    pass
                return line
            good = encode_sample(1, np.array(SAMPLES[1], np.float32))
            link.port.write(good[:-3] + (b"00\n" if good[-3:] != b"00\n" else b"11\n"))
            assert answer() == "L2M nak 1 crc"
            link.port.write(b"I 2 3f800000 00000000\n")
            assert answer() == "L2M nak 2 len"
            r = link.infer(1, np.array(SAMPLES[1], np.float32))
            assert r.seq == 1 and r.status == 0 and len(r.layers) == 3
            link.quit()
        assert proc.wait(10) == 0
    assert any(s.startswith("sample 0: class") for s in link.skipped)   # human-readable lines


@pytest.mark.toolchain
def test_run_prints_per_layer_instructions_and_fit(dense_export, tmp_path):
    from larq2mcu.board.project import latency_text
    b = _need("qemu_m4")
    exp, x, _ = dense_export
    d = latency.measure(exp, b, tmp_path, sample=x[0])
    assert [r["index"] for r in d["layers"]] == [r.index for r in exp.rows()]
    assert all(r["instructions"] > 0 for r in d["layers"]) and d["glue"] >= 0
    assert d["total"] == sum(r["instructions"] for r in d["layers"]) + d["glue"]
    assert d["image_flash"] >= d["sections"][".text"] > boardrun.footprint(exp)[0]
    assert d["stack_hwm"] > 0 and d["ram_total"] == d["static_ram"] + d["stack_hwm"]
    assert d["ms"] == pytest.approx(d["total"] * 1000 / 25e6)
    text = latency_text(d)
    for r in exp.rows():
        assert re.search(rf"│\s*{r.index}\s*│\s*{r.layer}\s", text), text
    assert f"{d['total']:,}" in text and "ms at 25 MHz" in text
    assert re.search(r"fits qemu_m4: flash [\d,]+ of 4,194,304 B .*RAM [\d,]+ of 4,194,304 B", text)
    exp_dir = Path(exp.out_dir)
    latency.store(exp_dir, d)
    side = json.loads((exp_dir / "latency.json").read_text())
    assert side["emulated"]["qemu_m4"]["total"] == d["total"] and side["model_hash"] == exp.model_hash
    assert side["kernel_variant"] == "usad8"
    (exp_dir / "latency.json").unlink()          # the module's export is shared with other tests


def test_latency_attribution_handles_clones_and_folded_layers():
    src = """int net_invoke_partial(const float *input, void *arena, int32_t n_ops) {
    if (n_ops <= 0) return L2M_OK;
    /* op 0: BinaryDense (d0) */
    net_op0_dense_b32_usad8((const uint32_t *)(const void *)(a + 0), W->op0_w, (float *)(void *)(a + 8));
    if (n_ops <= 1) return L2M_OK;
    /* op 1: Reshape (r) */
    if (n_ops <= 2) return L2M_OK;
    /* op 2: BinaryDense (d1) */
    net_op2_dense_b32_usad8((const uint32_t *)(const void *)(a + 8), W->op2_w, (float *)(void *)(a + 0));
    l2m_batchnorm_f32_ref(4, 1, (const float *)(a + 0), W->m, W->s, W->o, (float *)(a + 0));
    return L2M_OK;
}
"""
    calls = latency.op_calls(src, "net")
    assert calls == [(0, "net_op0_dense_b32_usad8"), (2, "net_op2_dense_b32_usad8"), (2, "l2m_batchnorm_f32_ref")]
    counted = [("net_op0_dense_b32_usad8.constprop.0", 100), ("memcpy", 7),
               ("net_op0_dense_b32_usad8.constprop.0", 90), ("l2m_batchnorm_f32_ref", 5)]
    assert latency.attribute(counted, calls, 3) == [107, 0, 95]


@pytest.mark.toolchain
@pytest.mark.parametrize("board_name", ["nucleo_f446re", "nucleo_h743zi", "nucleo_l552ze_q", "pico", "nano33ble"])
def test_harness_and_glue_compile_for_real_board_profiles(board_name, tmp_path):
    """The harness with the board's tick counter and -DL2M_TICK_HZ, and (the Nucleo boards) its
    register-level UART console on the ST-LINK VCP (F446: USART2, H743: USART3, L552: LPUART1)
    + serial link, compiled with the board's flags and -Werror. The H743 and L552 consoles are
    not run anywhere (no QEMU machine): this compile and the register checks below are their test."""
    from larq2mcu.board.build import BARE_CONSOLES
    b = _need(board_name, emulator=False)
    elf = targets.build(FAKE, b, SAMPLES, None, tmp_path, labels=[1, 2])
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True).stdout
    has_link = b.console in BARE_CONSOLES
    assert (" T l2m_board_getc" in nm) == has_link and (" T l2m_board_init" in nm) == has_link
    strings = elf.read_bytes()
    assert (b"L2M ready v1 inputs=" in strings) == has_link
    flags = targets.build.__globals__["cycles_define"](b)
    assert f"-DL2M_TICK_HZ={1000000 if b.cycle_counter == 'rp2040_timer' else b.clock_hz}u" in flags


@pytest.mark.toolchain
@pytest.mark.parametrize("board_name,family,chip", [("nucleo_f446re", "F4", "STM32F446xx"),
                                                    ("nucleo_h743zi", "H7", "STM32H743xx"),
                                                    ("nucleo_l552ze_q", "L5", "STM32L552xx")])
def test_stm32_hal_path_compiles_where_the_headers_exist(board_name, family, chip, tmp_path):
    """The STM32Cube HAL branch of each STM32 console; the HAL is not installable offline here,
    so this runs only where the family's HAL headers are found (STM32CUBE_<F4|H7|L5>_INC =
    colon-separated include dirs: the HAL's Inc, CMSIS Device Include, CMSIS Include and a
    folder with stm32<family>xx_hal_conf.h)."""
    import os
    dirs = [d for d in os.environ.get(f"STM32CUBE_{family}_INC", "").split(":") if d]
    hal = f"stm32{family.lower()}xx_hal.h"
    if not any((Path(d) / hal).is_file() for d in dirs):
        pytest.skip(f"no STM32Cube{family} HAL headers (set STM32CUBE_{family}_INC); the HAL path is compiled "
                    "by PlatformIO's stm32cube framework on a machine with the ststm32 platform")
    b = _need(board_name, emulator=False)
    src = targets.targets_dir() / "boards" / f"{b.console}.c"
    subprocess.run(["arm-none-eabi-gcc", *b.cflags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-DUSE_HAL_DRIVER",
                    f"-D{chip}", f"-I{targets.targets_dir()}", *(f"-I{d}" for d in dirs), "-c", str(src),
                    "-o", str(tmp_path / "hal.o")], check=True)


def test_edited_platformio_ini_is_kept(tmp_path):
    """A re-export keeps the user's platformio.ini and writes the fresh one beside it."""
    from larq2mcu import outdir
    exp = SimpleNamespace(out_dir=FAKE, name="fake")
    out = tmp_path / "proj"
    files = boardrun.project_files(exp, BOARDS["qemu_m4"], SAMPLES, None, out_dir=out)
    assert "platformio.l2m.ini" not in files
    outdir.write_atomic(out, files, {"name": "fake", "platformio_ini_sha256": boardrun.ini_hash(files)})
    again = boardrun.project_files(exp, BOARDS["qemu_m4"], SAMPLES, None, out_dir=out)
    assert "platformio.l2m.ini" not in again          # unedited: simply rewritten
    edited = (out / "platformio.ini").read_text() + "\n[env:mine]\nboard = qemu_m4\n"
    (out / "platformio.ini").write_text(edited)
    third = boardrun.project_files(exp, BOARDS["qemu_m4"], SAMPLES, None, out_dir=out)
    assert third["platformio.ini"] == edited and third["platformio.l2m.ini"] == files["platformio.ini"]
    outdir.write_atomic(out, third, {"name": "fake", "platformio_ini_sha256": boardrun.ini_hash(third)})
    assert (out / "platformio.ini").read_text() == edited and (out / "platformio.l2m.ini").is_file()


@pytest.mark.toolchain
def test_moved_project_still_builds_and_runs(tmp_path):
    if importlib.util.find_spec("platformio") is None or importlib.util.find_spec("SCons") is None:
        pytest.skip("PlatformIO / scons not installed: pip install 'larq2mcu[boards]'")
    from larq2mcu.board.platformio import run_pio, write_project
    _need("qemu_m4")
    core = tmp_path / "core"
    first = write_project(tmp_path / "here", FAKE, "fake", BOARDS["qemu_m4"], BOARDS, samples=SAMPLES)
    assert run_pio(first, "qemu_m4", "exec", core_dir=core, stream=None).returncode == 0
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    shutil.move(str(first), str(moved))          # with its .pio build folder, as a user would
    r = run_pio(moved, "qemu_m4", "exec", core_dir=core, stream=None)
    assert r.returncode == 0, r.output
    samples, complete = targets.parse_output(r.output)
    assert complete and len(samples) == 2 and "L2M sample 1 st=0" in r.output


@pytest.mark.toolchain
@pytest.mark.parametrize("board_name", ["esp32dev", "esp32-c3-devkitm-1"])
def test_link_code_compiles_with_the_esp_stand_in_compilers(board_name, tmp_path):
    """The ESP-IDF glue needs ESP-IDF (not offline here); the harness' serial link code it
    drives is compiled with the boards' stand-in compilers (xtensa-lx106, rv32imc) and -Werror."""
    b = _need(board_name, emulator=False)
    elf = targets.build(FAKE, b, SAMPLES, None, tmp_path, extra_cflags=["-DL2M_LINK"])
    assert b"L2M ready v1 inputs=" in elf.read_bytes()
