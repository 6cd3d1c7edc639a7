"""The shell commands: export, report, verify (exit 0 on agreement), run on an emulated board."""
from __future__ import annotations

import subprocess
import sys

import pytest

from larq2mcu import board as targets
from larq2mcu.board.profiles import get_board


def cli(*args):
    return subprocess.run([sys.executable, "-m", "larq2mcu.cli", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, tfm):
    _, keras, lq = tfm
    kw = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
    keras.utils.set_random_seed(1)
    m = keras.Sequential([keras.Input((8, 8, 1)), lq.layers.QuantConv2D(8, 3, kernel_quantizer="ste_sign"),
                          keras.layers.BatchNormalization(), keras.layers.Flatten(),
                          lq.layers.QuantDense(10, **kw), keras.layers.BatchNormalization(),
                          keras.layers.Activation("softmax")])
    from larq2mcu import datasets
    from larq2mcu.dev import zoo
    ds = datasets.load_digits()
    xtr, _ = ds.inputs()
    zoo.train(m, xtr, ds.y_train, epochs=2)
    p = tmp_path_factory.mktemp("m") / "digits.keras"
    m.save(p)
    return p


def test_export_then_report(model_path, tmp_path):
    r = cli("export", model_path, "-o", tmp_path / "out", "--name", "dig")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "dig.c").exists()
    r = cli("report", tmp_path / "out", "--html", tmp_path / "r.html")
    assert r.returncode == 0 and "BinaryDense" in r.stdout and "arena" in r.stdout
    assert "<svg" in (tmp_path / "r.html").read_text()


def test_verify_digits(model_path):
    r = cli("verify", model_path, "--data", "digits", "-n", "200")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "AGREE" in r.stdout and "argmax agreement = 100.00 %" in r.stdout


@pytest.mark.toolchain
def test_run_on_qemu(model_path):
    if targets.toolchain_available(get_board("qemu_m3"), emulator=True) is not None:
        pytest.skip("arm-none-eabi-gcc / qemu-system-arm missing")
    r = cli("run", model_path, "--board", "qemu_m3", "--data", "digits", "-n", "100")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bit-identical to the host library: yes" in r.stdout


def test_export_kernel_variant(model_path, tmp_path):
    """--kernels picks the layer-specialized kernels for a library export; with --board it is a
    usage error (the board's own variant is used)."""
    r = cli("export", model_path, "-o", tmp_path / "out", "--name", "dig", "--kernels", "hw")
    assert r.returncode == 0, r.stderr
    c = (tmp_path / "out" / "dig.c").read_text()
    assert "static L2M_NOINLINE void dig_op0_conv2d_w1_f32_b32_hw(" in c and "l2mi_dense(L2M_MODE_HW, " in c
    r = cli("export", model_path, "-o", tmp_path / "p", "--board", "qemu_m4", "--kernels", "hw")
    assert r.returncode == 2 and "--kernels applies to library exports" in r.stderr
    assert not (tmp_path / "p").exists()
