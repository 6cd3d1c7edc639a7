"""CLI conventions: the model path is checked before TensorFlow is imported, `boards` lists the
boards, `report` reads board projects, already-scaled data get a warning, pass-through
subcommands, and the unsupported-layer message lists only what is supported."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from larq2mcu import datasets


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "larq2mcu.cli", *map(str, args)], capture_output=True, text=True, **kw)


@pytest.mark.parametrize("make", ["missing", "folder", "junk_keras", "junk_h5", "txt"])
def test_model_path_checked_before_tensorflow(tmp_path, make):
    p = {"missing": tmp_path / "nope.keras", "folder": tmp_path, "junk_keras": tmp_path / "m.keras",
         "junk_h5": tmp_path / "m.h5", "txt": tmp_path / "m.txt"}[make]
    if make.startswith("junk") or make == "txt":
        p.write_text("not a model")
    t0 = time.monotonic()
    r = cli("export", p, "-o", tmp_path / "out")
    elapsed = time.monotonic() - t0
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    assert str(p) in r.stderr and not (tmp_path / "out").exists()
    # no TensorFlow import: well under the ~5-8 s that import takes (generous for a loaded CI box)
    assert elapsed < 3.0, f"{elapsed:.1f} s"


def test_boards_lists_cpu_variant_flash_ram():
    r = cli("boards")
    assert r.returncode == 0, r.stderr
    row = next(ln for ln in r.stdout.splitlines() if "nucleo_f446re" in ln)
    for cell in ("cortex-m4", "usad8", "512 KiB", "128 KiB", "stm32cube", "real board"):
        assert cell in row, (cell, row)
    assert "qemu_m0" in r.stdout and "emulated" in r.stdout


def test_boards_own_file(tmp_path):
    from larq2mcu.paths import boards_yaml
    mine = tmp_path / "my_boards.yaml"
    mine.write_text(boards_yaml().read_text().replace("nucleo_f446re:", "my_f446:", 1))
    r = cli("boards", "--boards", mine)
    assert r.returncode == 0 and "my_f446" in r.stdout and "nucleo_f446re" not in r.stdout, r.stderr
    mine.write_text("version: 1\nboards:\n  b: {arch: arm}\n")
    r = cli("boards", "--boards", mine)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "missing required field" in r.stderr


def test_scaling_warning():
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8)).astype(np.float32)
    w = datasets.scaling_warning(x, "sym", datasets.full_scale(x))
    assert w is not None and "[-1, 1]" in w and "--preprocess none" in w
    assert "[0, 1]" in datasets.scaling_warning(np.abs(x), "sym", 1.0)
    assert datasets.scaling_warning(x, "none", 1.0) is None and datasets.scaling_warning(x, "unit", 1.0) is None
    assert datasets.scaling_warning((x * 127 + 128).astype(np.uint8), "sym", 255) is None
    assert datasets.scaling_warning(x * 200, "sym", datasets.full_scale(x * 200)) is None
    np.testing.assert_array_equal(datasets.preprocess(x, "none"), x[..., None])


def test_load_samples_warns_and_none_keeps_values(tmp_path, capsys):
    import functools
    import sys

    from larq2mcu.datasets import load_samples as _load
    load_samples = functools.partial(_load, warn=lambda w: print(f"WARNING: {w}", file=sys.stderr))
    x = np.random.default_rng(1).uniform(-1, 1, (6, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "s.npz", x=x, y=np.arange(6))
    xs, _ = load_samples(str(tmp_path / "s.npz"), (8, 8, 1), 6, "sym")
    assert "WARNING: " in capsys.readouterr().err and xs.min() < -1.5        # re-normalised: [-3, 1]
    xs, _ = load_samples(str(tmp_path / "s.npz"), (8, 8, 1), 6, "none")
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(xs[..., 0], x)


def test_report_on_a_board_project(tmp_path, tfm):
    _, keras, lq = tfm
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                          lq.layers.QuantDense(10, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                               kernel_constraint="weight_clip")])
    from larq2mcu.board.project import export_project
    export_project(m, tmp_path / "proj", "bp", "nucleo_f446re", None, False)
    r = cli("report", tmp_path / "proj", "--html", tmp_path / "r.html")
    assert r.returncode == 0, r.stderr
    assert "BinaryDense" in r.stdout and "arena" in r.stdout and (tmp_path / "r.html").is_file()
    # a board project from before the manifest recorded the report: text from lib/<name>/, clear --html error
    mf = tmp_path / "proj" / "larq2mcu.json"
    man = json.loads(mf.read_text())
    del man["report"]
    mf.write_text(json.dumps(man))
    r = cli("report", tmp_path / "proj")
    assert r.returncode == 0 and "BinaryDense" in r.stdout and "board project for nucleo_f446re" in r.stdout, r.stderr
    r = cli("report", tmp_path / "proj", "--html", tmp_path / "r2.html")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "re-export" in r.stderr


def test_passthrough_subcommands():
    r = cli("fuzz", "--help")
    assert r.returncode == 0 and "--models" in r.stdout
    r = cli("demo", "--help")
    assert r.returncode == 0 and "--epochs" in r.stdout


def test_bench_needs_a_source_checkout(tmp_path, monkeypatch):
    import larq2mcu.cli as c
    fake = tmp_path / "site" / "larq2mcu" / "cli.py"
    fake.parent.mkdir(parents=True)
    monkeypatch.setattr(c, "__file__", str(fake))
    from click.testing import CliRunner
    r = CliRunner().invoke(c.main, ["bench"])
    assert r.exit_code == 2 and "source checkout" in r.output


def test_unsupported_layer_lists_only_supported(tfm):
    _, keras, lq = tfm
    import larq2mcu
    from larq2mcu.errors import UnsupportedLayerError
    m = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2DTranspose(3, 3)])
    with pytest.raises(UnsupportedLayerError) as e:
        larq2mcu.export(m, "unused-out")
    msg = str(e.value)
    assert "Conv2DTranspose" in msg and "QuantConv2D" in msg and "QuantDepthwiseConv2D" in msg
    assert "MagnitudeAwareSign" not in msg, msg          # refused as a layer (not element-wise)
    for supported in ("SteTern", "DoReFa", "SteHeaviside", "NoOp"):   # exported (step functions, identity)
        assert supported in msg, msg


def test_import_sets_legacy_keras_and_warns_when_too_late():
    import os
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    r = subprocess.run([sys.executable, "-c", "import os, larq2mcu; print(os.environ['TF_USE_LEGACY_KERAS'])"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "1" and "Warning" not in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-W", "always", "-c", "import sys, types; "
                        "sys.modules['tensorflow'] = types.ModuleType('tensorflow'); import larq2mcu"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "TF_USE_LEGACY_KERAS" in r.stderr and "RuntimeWarning" in r.stderr
