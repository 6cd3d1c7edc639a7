"""Every unsupported layer, attribute and quantizer gets a typed error naming the layer, its class,
the attribute and the supported values — and a failed export leaves the output folder untouched."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import larq2mcu
from larq2mcu._tf import tf_modules
from larq2mcu.errors import (ModelLoadError, ModelStructureError, UnsupportedLayerError,
                             UnsupportedQuantizerError)

tf, keras, lq = tf_modules()
L = keras.layers
BIN = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")


def _seq(shape, *layers):
    return keras.Sequential([keras.Input(shape), *layers])


UNSUPPORTED = {
    # quantizers are classified by evaluation (frontend/quantizers.py): these evaluate to
    # something without an exact export, and the message says what was seen
    "reducing input quantizer": (lambda: _seq((6, 6, 2), lq.layers.QuantConv2D(
        4, 3, input_quantizer=lq.quantizers.MagnitudeAwareSign(), kernel_quantizer="ste_sign")),
        UnsupportedQuantizerError, ["input_quantizer", "MagnitudeAwareSign", "not element-wise", "ste_tern"]),
    "dorefa weights as input": (lambda: _seq((6, 6, 2), lq.layers.QuantConv2D(
        4, 3, input_quantizer=lq.quantizers.DoReFa(mode="weights"), kernel_quantizer="ste_sign")),
        UnsupportedQuantizerError, ["input_quantizer", "DoReFa", "element-wise"]),
    "magnitude_aware_sign layer": (lambda: _seq((8,), lq.quantizers.MagnitudeAwareSign()),
                                   UnsupportedQuantizerError, ["MagnitudeAwareSign", "element-wise"]),
    "non-monotone input": (lambda: _seq((8,), lq.layers.QuantDense(4, input_quantizer=tf.math.sin,
                                                                   kernel_quantizer="ste_sign")),
                           UnsupportedQuantizerError, ["input_quantizer", "sin", "not monotone"]),
    "twn quantizer layer": (lambda: _seq((8,), lq.quantizers.SteTern(ternary_weight_networks=True)),
                            UnsupportedQuantizerError, ["SteTern", "element-wise"]),
    "nan kernel quantizer": (lambda: _seq((8,), lq.layers.QuantDense(4, kernel_quantizer=lambda w: tf.math.log(-tf.abs(w) - 1.0))),
                             UnsupportedLayerError, ["kernel", "non-finite"]),
    "depthwise pad_values": (lambda: _seq((6, 6, 2), lq.layers.QuantDepthwiseConv2D(
        3, padding="same", pad_values=0.5, input_quantizer="ste_sign", depthwise_quantizer="ste_sign")),
        UnsupportedLayerError, ["pad_values", "0.5", "0.0, 1.0"]),
    "channels_first": (lambda: _seq((2, 9, 9), L.Conv2D(4, 3, data_format="channels_first")),
                       UnsupportedLayerError, ["data_format", "channels_first", "channels_last"]),
    "separable channels_first": (lambda: _seq((2, 9, 9), L.SeparableConv2D(4, 3, data_format="channels_first")),
                                 UnsupportedLayerError, ["data_format", "channels_first", "channels_last"]),
    "pad_values": (lambda: _seq((6, 6, 2), lq.layers.QuantConv2D(4, 3, padding="same", pad_values=-1.0, **BIN)),
                   UnsupportedLayerError, ["pad_values", "-1.0", "0.0, 1.0"]),
    "unknown layer": (lambda: _seq((6, 6, 2), L.Conv2DTranspose(3, 3)), UnsupportedLayerError,
                      ["Conv2DTranspose", "supported"]),
    "depthwise reducing input": (lambda: _seq((6, 6, 2), lq.layers.QuantDepthwiseConv2D(
        3, input_quantizer=lq.quantizers.MagnitudeAwareSign(), depthwise_quantizer="ste_sign")),
        UnsupportedQuantizerError, ["input_quantizer", "MagnitudeAwareSign", "element-wise"]),
    "activation": (lambda: _seq((8,), L.Dense(3, activation="elu")), UnsupportedLayerError,
                   ["activation", "elu", "relu"]),
    "relu_inf": (lambda: _seq((8,), L.ReLU(max_value=float("inf"))), UnsupportedLayerError, ["max_value", "finite"]),
    "dense on map": (lambda: _seq((4, 4, 2), L.Dense(3)), UnsupportedLayerError, ["input rank", "Flatten"]),
    "upsampling": (lambda: _seq((4, 4, 2), L.UpSampling2D()), UnsupportedLayerError, ["UpSampling2D"]),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_gives_typed_error_and_touches_nothing(case, tmp_path):
    build, err, words = UNSUPPORTED[case]
    model = build()
    out = tmp_path / "out"
    out.mkdir()
    (out / "user_notes.txt").write_text("mine")
    with pytest.raises(err) as ei:
        larq2mcu.export(model, out, name="m", force=True)
    msg = str(ei.value)
    assert model.layers[-1].name in msg or any(layer.name in msg for layer in model.layers)
    for w in words:
        assert w in msg, (w, msg)
    assert sorted(p.name for p in out.iterdir()) == ["user_notes.txt"]
    assert (out / "user_notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.l2m-")]


def test_structure_errors(tmp_path):
    a, b = keras.Input((4,)), keras.Input((4,))
    two_in = keras.Model([a, b], L.Add()([a, b]))
    with pytest.raises(ModelStructureError, match="2 inputs"):
        larq2mcu.export(two_in, tmp_path / "o")
    d = L.Dense(4)
    shared = keras.Model(a, d(d(a)))
    with pytest.raises(ModelStructureError, match="more than once"):
        larq2mcu.export(shared, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_bad_bn_statistics(tmp_path):
    m = _seq((6,), L.Dense(4), L.BatchNormalization())
    w = m.layers[1].get_weights()
    w[3] = -np.ones(4, np.float32)                       # negative variance
    m.layers[1].set_weights(w)
    with pytest.raises(UnsupportedLayerError, match="moving_variance"):
        larq2mcu.export(m, tmp_path / "o")
    w[3] = np.ones(4, np.float32)
    w[2] = np.array([0, np.nan, 0, 0], np.float32)
    m.layers[1].set_weights(w)
    with pytest.raises(UnsupportedLayerError, match="moving_mean"):
        larq2mcu.export(m, tmp_path / "o")


def test_model_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        larq2mcu.export(tmp_path / "missing.keras", tmp_path / "o")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(ModelLoadError, match="not a model file"):
        larq2mcu.export(txt, tmp_path / "o")
    m = _seq((8,), lq.layers.QuantDense(4, **BIN))
    good = tmp_path / "m.keras"
    m.save(good)
    trunc = tmp_path / "t.keras"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ModelLoadError, match="cannot load"):
        larq2mcu.export(trunc, tmp_path / "o")
    h5 = tmp_path / "c.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ModelLoadError):
        larq2mcu.export(h5, tmp_path / "o")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["1abc", "my-model", "int", "l2m_core", ""])
def test_invalid_names(name, tmp_path):
    m = _seq((8,), lq.layers.QuantDense(4, **BIN))
    with pytest.raises(larq2mcu.InvalidNameError):
        larq2mcu.export(m, tmp_path / "o", name=name)


def test_cli_user_error_is_one_line_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "larq2mcu.cli", "export", str(tmp_path / "nope.keras"),
                        "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "error: model file not found" in r.stderr


def test_cli_model_too_large_for_board(tmp_path):
    """A model that does not fit the board: exit 2, need vs have in bytes, nothing written."""
    m = _seq((64, 64, 8), L.Conv2D(32, 3, padding="same"), L.Flatten(), L.Dense(10))
    path = tmp_path / "big.keras"
    m.save(path)
    r = subprocess.run([sys.executable, "-m", "larq2mcu.cli", "export", str(path), "--board", "qemu_m0",
                        "-o", str(tmp_path / "proj")], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "does not fit qemu_m0" in r.stderr and "need" in r.stderr and "have" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "proj").exists()


def test_cli_unknown_board_suggests(tmp_path):
    m = _seq((8,), lq.layers.QuantDense(4, **BIN))
    path = tmp_path / "m.keras"
    m.save(path)
    r = subprocess.run([sys.executable, "-m", "larq2mcu.cli", "export", str(path), "--board", "qemu_m44",
                        "-o", str(tmp_path / "p")], capture_output=True, text=True)
    assert r.returncode == 2 and "qemu_m4" in r.stderr and "Traceback" not in r.stderr


# -- issue 15: refused before loading, zero-size layers, names, CLI rows, host/C contract --------

import ctypes  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

from click.testing import CliRunner  # noqa: E402

from larq2mcu.cli import main as cli_main  # noqa: E402
from larq2mcu.errors import InputError, InvalidNameError  # noqa: E402


def _cli(*args):
    """Run the CLI in this process → (exit code, stderr); asserts one `error:` line, no traceback."""
    r = CliRunner().invoke(cli_main, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stderr


def _one_error_line(code, err, *words):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)


@pytest.mark.parametrize("name", ["stdint", "string", "Math", "stdio", "l2m_kernels"])
def test_names_shadowing_headers(name, tmp_path):
    m = _seq((8,), lq.layers.QuantDense(4, **BIN))
    with pytest.raises(InvalidNameError, match="shadows the C header|reserved"):
        larq2mcu.export(m, tmp_path / "o", name=name)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("layer", [lambda: lq.layers.QuantDense(0, **BIN), lambda: L.Dense(0)])
def test_zero_unit_dense(layer, tmp_path):
    m = _seq((8,), layer())
    with pytest.raises(UnsupportedLayerError, match=rf"layer '{m.layers[-1].name}' .*units=0 .*≥ 1"):
        larq2mcu.export(m, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_zero_filter_conv(tmp_path):
    """Keras refuses Conv2D(0) itself; a layer whose filters became 0 later is refused by name."""
    m = _seq((6, 6, 2), L.Conv2D(2, 3))
    m.layers[-1].filters = 0
    with pytest.raises(UnsupportedLayerError, match=rf"layer '{m.layers[-1].name}' .*filters=0"):
        larq2mcu.export(m, tmp_path / "o")


def test_h5_lambda_refused_before_its_body_runs(tmp_path):
    marker = tmp_path / "lambda_ran"
    m = _seq((8,), L.Lambda(lambda x, p=str(marker): (open(p, "w").close(), x)[1], name="evil"), L.Dense(2))
    marker.unlink()                    # building the model ran it once; loading must not
    path = tmp_path / "m.h5"
    m.save(path)
    with pytest.raises(UnsupportedLayerError, match="layer 'evil' \\(Lambda\\).*before loading"):
        larq2mcu.export(path, tmp_path / "o")
    assert not marker.exists()
    _one_error_line(*_cli("export", path, "-o", tmp_path / "o"), "Lambda", "evil")
    assert not marker.exists() and not (tmp_path / "o").exists()


def test_h5_custom_quantizer_named_in_full(tmp_path):
    class MyQuant(lq.quantizers.SteSign):
        pass
    keras.utils.get_custom_objects()["MyQuant"] = MyQuant
    try:
        m = _seq((8,), lq.layers.QuantDense(4, input_quantizer="ste_sign", kernel_quantizer=MyQuant(),
                                            kernel_constraint="weight_clip", name="qd"))
        m.save(tmp_path / "c.h5")
    finally:
        del keras.utils.get_custom_objects()["MyQuant"]
    with pytest.raises(UnsupportedLayerError, match="layer 'qd' \\(QuantDense\\): kernel_quantizer='MyQuant'.*"
                                                    "not a Keras or Larq class"):
        larq2mcu.export(tmp_path / "c.h5", tmp_path / "o")


def test_load_error_message_is_not_cut(tmp_path):
    """A bad config value: the loader's whole message reaches the user (no 300-character cut)."""
    import h5py
    m = _seq((8,), L.Dense(4, name="d"))
    path = tmp_path / "m.h5"
    m.save(path)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        cfg["config"]["layers"][1]["config"]["activation"] = "no_such_activation_" + "x" * 400
        f.attrs["model_config"] = json.dumps(cfg)
    with pytest.raises(ModelLoadError) as ei:
        larq2mcu.export(path, tmp_path / "o")
    assert "x" * 400 in str(ei.value) and "\n" not in str(ei.value)


@pytest.fixture(scope="module")
def keras3_files(tmp_path_factory):
    """A model saved by real Keras 3 (.keras and .h5), in a process without TF_USE_LEGACY_KERAS."""
    pytest.importorskip("keras", minversion="3")
    d = tmp_path_factory.mktemp("k3")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="0", KERAS_BACKEND="tensorflow")
    code = ("import keras; m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)]); "
            f"m.save(r'{d}/m.keras'); m.save(r'{d}/m.h5')")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip(f"Keras 3 cannot save here: {r.stderr[-300:]}")
    return d


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_keras3_file_gets_a_hint(keras3_files, ext, tmp_path):
    with pytest.raises(ModelLoadError, match=r"saved with Keras 3\.\d+.*larq needs tf-keras"):
        larq2mcu.export(keras3_files / f"m{ext}", tmp_path / "o")
    _one_error_line(*_cli("export", keras3_files / f"m{ext}", "-o", tmp_path / "o"), "Keras 3", "tf_keras")


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    m = _seq((8, 8, 1), L.Flatten(), lq.layers.QuantDense(4, **BIN))
    path = tmp_path_factory.mktemp("im") / "m.keras"
    m.save(path)
    return path


def test_cli_verify_bad_data(image_model, tmp_path):
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 8, 8), np.float32), y=np.zeros(0, int))
    _one_error_line(*_cli("verify", image_model, "--data", tmp_path / "empty.npz"), "holds no samples")
    _one_error_line(*_cli("verify", image_model, "--data", "digits", "-n", 0), "-n must be at least 1 (got 0)")
    x = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    x[1, 2, 3] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.zeros(3, int))
    _one_error_line(*_cli("verify", image_model, "--data", tmp_path / "nan.npz"), "NaN", "sample 1")


def test_cli_output_folder_rows(image_model, tmp_path, monkeypatch):
    import larq2mcu.frontend as fe

    def slow_part(*a, **k):
        raise AssertionError("the model was loaded before the output folder was checked")
    with monkeypatch.context() as mp_:
        mp_.setattr(fe, "load_model", slow_part)
        _one_error_line(*_cli("export", image_model, "-o", "/proc/l2m_new"), "/proc/l2m_new", "cannot create")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    code, err = _cli("export", image_model, "-o", tmp_path / "link")
    assert code == 0, err
    assert (tmp_path / "link").is_symlink() and (tmp_path / "empty" / "model.h").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "link"]


def test_cli_full_disk_one_line_old_export_intact(image_model, tmp_path):
    """A real ENOSPC (64 KiB tmpfs, private mount namespace) through the CLI."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare (user + mount namespaces) not available")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    m = _seq((8, 8, 1), L.Flatten(), L.Dense(256), L.Dense(64))        # ~200 KB of float weights as text
    big = tmp_path / "big.keras"
    m.save(big)
    small = larq2mcu.export(image_model, tmp_path / "probe", name="small").out_dir
    pages = sum(-(-p.stat().st_size // 4096) + 1 for p in small.rglob("*"))    # tmpfs: whole pages
    size_k = 4 * pages + 48                  # the small export fits, small + big do not
    cli = f'"{sys.executable}" -m larq2mcu.cli export'
    script = (f'mount -t tmpfs -o size={size_k}k tmpfs "{mnt}" && cp -r "{small}" "{mnt}/o" && '
              f'{cli} "{big}" -o "{mnt}/o" --name big; echo "rc=$?"; ls -a "{mnt}" "{mnt}/o"')
    r = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert "rc=2" in r.stdout, (r.stdout, r.stderr)
    _one_error_line(2, r.stderr, "No space left on device", "unchanged")
    listing = r.stdout.split()
    assert "small.c" in listing and "big.c" not in listing and not any(".l2m-" in n for n in listing)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One small export built once (a host build compiles the whole runtime)."""
    m = _seq((8,), lq.layers.QuantDense(4, **BIN))
    exp = larq2mcu.export(m, tmp_path_factory.mktemp("b") / "o", name="m")
    return exp, exp.build_host()


def test_host_arena_checks(built):
    exp, host = built
    x = np.ones((2, 8), np.float32)
    y = host.predict(x)
    need = host.arena_size
    bad = {"too small": np.zeros(1), "object dtype": np.zeros(need, object),
           "misaligned": np.zeros(need + 16, np.uint8)[1:need + 1],
           "strided": np.zeros(2 * need)[::2], "not an array": [0.0] * need,
           "read-only": np.frombuffer(bytes(need + 8), np.float64)}
    msgs = {"too small": f"needs {need}", "object dtype": "dtype object", "misaligned": "8-byte aligned",
            "strided": "C-contiguous", "not an array": "numpy array", "read-only": "writeable"}
    for k, arena in bad.items():
        with pytest.raises(InputError, match=msgs[k]):
            host.predict(x, arena=arena)
    arena = np.zeros(need // 8 + 8)              # large enough for the check, and for a sample inside it
    inside = arena.view(np.float32)[:8].reshape(1, 8)
    with pytest.raises(InputError, match="inside the arena"):
        host.predict(inside, arena=arena)
    assert np.array_equal(host.predict(x, arena=host.new_arena()), y)


def test_c_invoke_checked_statuses(built):
    """<name>_invoke_checked refuses a short arena, misaligned pointers and aliasing before running."""
    exp, host = built
    header = " ".join(exp.files["m.h"].replace("*", " ").split())
    assert "size_t m_arena_size(void);" in header and "Neither input nor output may lie inside the arena" in header
    lib = host._lib
    lib.m_arena_size.restype = ctypes.c_size_t
    f = lib.m_invoke_checked
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    need = lib.m_arena_size()
    assert need == exp.plan.arena_size
    arena, x, y = host.new_arena(), np.ones(9, np.float32), np.zeros(5, np.float32)
    a, xp, yp = arena.ctypes.data, x.ctypes.data, y.ctypes.data
    assert f(xp, yp, a, need - 1) == -3                      # L2M_ERR_ARENA_SIZE
    assert f(xp + 2, yp, a, need) == -2 and f(xp, yp + 1, a, need) == -2   # L2M_ERR_ALIGN
    assert f(a, yp, a, need) == -4 and f(xp, a + 8, a, need) == -4          # L2M_ERR_OVERLAP
    assert f(None, yp, a, need) == -1
    assert not y.any()                                       # nothing written on a refusal
    assert f(xp, yp, a, need) == 0 and np.array_equal(y[:4], host.predict(x[None, :8])[0])


def test_host_close(built):
    _, host = built
    x = np.ones((1, 8), np.float32)
    work = Path(host._finalizer.peek()[2][0])
    with host:
        pass
    host.close()                                   # idempotent
    assert not work.exists()
    with pytest.raises(InputError, match="closed"):
        host.predict(x)

