"""Issue 3 matrix: a trained MNIST BNN and a trained shortcut model, cross-compiled for every
emulated board and run under QEMU: outputs bit-identical to the host library, classes identical
to Keras, on ≥ 100 images each. Plus real-board cross-compiles (-Werror) with size checks and the
offline PlatformIO exec of an exported project."""
from __future__ import annotations

import re

import numpy as np
import pytest

import larq2mcu
from larq2mcu import datasets
from larq2mcu.board import runs as boardrun
from larq2mcu.board import profiles as boards
from larq2mcu import board as targets
from larq2mcu.dev import zoo
from larq2mcu.verify import compare

ALL = boards.load_boards()
EMULATED = sorted(n for n, b in ALL.items() if b.emulated)
REAL = sorted(n for n, b in ALL.items() if not b.emulated)


def small_mnist_bnn(keras, lq):
    """Image binarized, two binary convs, binary dense: fits the 16 KiB of qemu_m0 (micro:bit)."""
    kw = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
              use_bias=False)
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)), lq.layers.QuantConv2D(16, 3, **kw), L.BatchNormalization(scale=False),
        L.MaxPooling2D(), lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, **kw),
        L.BatchNormalization(scale=False), L.MaxPooling2D(), L.Flatten(), lq.layers.QuantDense(64, **kw),
        L.BatchNormalization(scale=False), lq.layers.QuantDense(10, **kw), L.BatchNormalization(scale=False),
        L.Activation("softmax")])


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tfm):
    _, keras, lq = tfm
    out = {}
    try:
        mn = datasets.split(datasets.load_mnist())
    except larq2mcu.DataError as e:
        pytest.skip(f"MNIST not available: {e}")
    xtr, xte = mn.inputs("sym")
    keras.utils.set_random_seed(0)
    m = small_mnist_bnn(keras, lq)
    zoo.train(m, xtr, mn.y_train, epochs=1)
    out["mnist_bnn"] = (m, xte[:100])
    dg = datasets.load_digits()
    xtr, xte = dg.inputs("sym")
    keras.utils.set_random_seed(0)
    m = zoo.bireal_tiny(input_shape=(8, 8, 1), filters=8)
    zoo.train(m, xtr, dg.y_train, epochs=3)
    out["bireal"] = (m, xte[:100])
    res = {}
    for name, (m, x) in out.items():
        exp = larq2mcu.export(m, tmp_path_factory.mktemp(name) / "lib", name=name)
        host = exp.build_host()
        ag = compare(exp, host, x)
        assert ag.ok, ag.summary()
        res[name] = (exp, x, host.predict(x))
        for variant in sorted({b.kernel_variant for b in ALL.values()}):
            res[name, variant] = larq2mcu.export(m, tmp_path_factory.mktemp(f"{name}_{variant}") / "lib",
                                                 name=name, kernel_variant=variant)
    return res


@pytest.mark.toolchain
@pytest.mark.parametrize("board", EMULATED)
@pytest.mark.parametrize("model", ["mnist_bnn", "bireal"])
def test_board_matches_host_bit_for_bit(exports, board, model):
    b = ALL[board]
    missing = targets.toolchain_available(b, emulator=True)
    if missing is not None:
        pytest.skip(str(missing))
    _, x, y_host = exports[model]                 # host library built with the _ref kernels
    exp = exports[model, b.kernel_variant]         # the board's own kernel variant
    assert len(x) >= 100
    y_board, results = boardrun.run_on_board(exp, b, x, expected=y_host)
    assert all(r.exit_code == 0 for r in results)
    assert np.array_equal(y_board.view(np.uint32), y_host.view(np.uint32))


@pytest.mark.toolchain
@pytest.mark.parametrize("board", REAL)
def test_real_board_cross_compile_and_size(exports, board, tmp_path):
    """Every real board's sources compile with its flags and -Werror; the linked image's size
    (from <prefix>-size) is within the board's flash and RAM from boards.yaml."""
    b = ALL[board]
    missing = targets.toolchain_available(b)
    if missing is not None:
        pytest.skip(str(missing))
    exp, x, y_host = exports["mnist_bnn"]
    elf = targets.build(exp.out_dir, b, x[:2].reshape(2, -1), y_host[:2], tmp_path)
    sz = targets.size(elf, b)
    assert 0 < sz.flash <= b.flash and sz.ram <= b.ram
    assert sz.flash >= boardrun.footprint(exp)[0]
    assert sz.ram >= exp.plan.arena_size


@pytest.mark.toolchain
def test_platformio_exec_on_exported_project(exports, tmp_path, monkeypatch):
    pytest.importorskip("platformio")
    from larq2mcu.board import platformio
    exp, x, y_host = exports["mnist_bnn"]
    b = ALL["qemu_m4"]
    if targets.toolchain_available(b, emulator=True) is not None:
        pytest.skip("arm-none-eabi-gcc / qemu-system-arm missing")
    core = tmp_path / "core"
    # project_files writes for the default core, as `larq2mcu export --board` does: point it here
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(core))
    files = boardrun.project_files(exp, b, x[:3].reshape(3, -1), y_host[:3].reshape(3, -1))
    proj = tmp_path / "proj"
    larq2mcu.outdir.write_atomic(proj, files, {"name": exp.name})
    ok = platformio.run_pio(proj, "qemu_m4", "exec", core_dir=core, stream=None)
    assert ok.returncode == 0 and "mismatches=0" in ok.output
    main_c = proj / "src" / "main.c"
    text = main_c.read_text()
    # corrupt the first expected output value: the guest must notice and pio must fail
    start = text.index("static const float l2m_expected")
    m = re.compile(r"\{\s*([^,{}\s]+),").search(text, start)
    assert m
    main_c.write_text(text[:m.start(1)] + "123.0f" + text[m.end(1):])
    fail = platformio.run_pio(proj, "qemu_m4", "exec", core_dir=core, stream=None)
    assert fail.returncode != 0 and fail.guest_exit not in (None, 0)
