"""Offline data loaders: fabricated IDX/npz files, sklearn digits, and the real data sets when
present (skipped with the path otherwise)."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from larq2mcu import datasets as D
from larq2mcu.errors import DataError, InputError


def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}[arr.dtype]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write_idx(folder, stem, arr, gz):
    data = _idx_bytes(arr)
    if gz:
        (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
    else:
        (folder / stem).write_bytes(data)


def _fake(n, rng, hw=(5, 4)):
    return (rng.integers(0, 256, (n,) + hw, dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.uint8))


@pytest.mark.parametrize("gz", [True, False])
def test_idx_dir_full(tmp_path, gz):
    rng = np.random.default_rng(0)
    xtr, ytr = _fake(7, rng)
    xte, yte = _fake(3, rng)
    _write_idx(tmp_path, "train-images-idx3-ubyte", xtr, gz)
    _write_idx(tmp_path, "train-labels-idx1-ubyte", ytr, gz)
    _write_idx(tmp_path, "t10k-images-idx3-ubyte", xte, gz)
    _write_idx(tmp_path, "t10k-labels-idx1-ubyte", yte, gz)
    ds = D.load_idx_dir(tmp_path)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train, xtr)
    np.testing.assert_array_equal(ds.y_train, ytr)
    np.testing.assert_array_equal(ds.x_test, xte)
    np.testing.assert_array_equal(ds.y_test, yte)
    assert ds.input_shape == (5, 4, 1) and ds.has_train
    assert str(tmp_path) in ds.source
    assert D.load(str(tmp_path)).x_test.shape == (3, 5, 4)  # dispatch on a folder


def test_idx_test_only_and_other_dtype(tmp_path):
    xte = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5  # int32, big-endian on disk
    _write_idx(tmp_path, "t10k-images-idx3-ubyte", xte, True)
    _write_idx(tmp_path, "t10k-labels-idx1-ubyte", np.array([1, 2], np.uint8), False)
    ds = D.load_idx_dir(tmp_path)
    assert ds.x_train is None and ds.y_train is None and not ds.has_train
    np.testing.assert_array_equal(ds.x_test, xte)


def test_idx_errors(tmp_path):
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte") as e:
        D.load_idx_dir(tmp_path)
    assert str(tmp_path) in str(e.value)
    with pytest.raises(DataError, match="does not exist"):
        D.load_idx_dir(tmp_path / "nope")
    rng = np.random.default_rng(1)
    x, y = _fake(3, rng)
    _write_idx(tmp_path, "t10k-images-idx3-ubyte", x, True)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):  # half a pair
        D.load_idx_dir(tmp_path)
    _write_idx(tmp_path, "t10k-labels-idx1-ubyte", y[:2], True)
    with pytest.raises(DataError, match="3 images but"):
        D.load_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(y)[:-1]))
    with pytest.raises(DataError, match="truncated"):
        D.load_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"hello world")
    with pytest.raises(DataError, match="not an IDX file"):
        D.load_idx_dir(tmp_path)


def test_npz_both_key_styles(tmp_path):
    rng = np.random.default_rng(2)
    (xtr, ytr), (xte, yte) = _fake(6, rng), _fake(4, rng)
    f = tmp_path / "full.npz"
    np.savez(f, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    ds = D.load(str(f))
    np.testing.assert_array_equal(ds.x_train, xtr)
    assert ds.y_test.dtype == np.int64 and ds.name == "full"
    g = tmp_path / "test_only.npz"
    np.savez(g, x=xte, y=yte)
    ds = D.load_npz(g)
    assert ds.x_train is None and len(ds.x_test) == 4
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=xte)
    with pytest.raises(DataError, match="x_train, y_train, x_test, y_test"):
        D.load_npz(bad)
    with pytest.raises(DataError, match="missing.npz"):
        D.load_npz(tmp_path / "missing.npz")


def test_keras_cache(tmp_path):
    with pytest.raises(DataError, match="mnist.npz") as e:
        D.load_keras_cache("mnist", cache_dir=tmp_path)
    assert str(tmp_path) in str(e.value)
    (tmp_path / "fashion-mnist").mkdir()  # what a failed Keras download leaves behind
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz") as e:
        D.load_keras_cache("fashion_mnist", cache_dir=tmp_path)
    assert str(tmp_path / "fashion-mnist") in str(e.value)
    rng = np.random.default_rng(3)
    (xtr, ytr), (xte, yte) = _fake(6, rng), _fake(4, rng)
    np.savez(tmp_path / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    ds = D.load_keras_cache("mnist", cache_dir=tmp_path)
    assert ds.name == "mnist" and ds.source.startswith("keras-cache:")
    _write_idx(tmp_path / "fashion-mnist", "t10k-images-idx3-ubyte", xte, True)
    _write_idx(tmp_path / "fashion-mnist", "t10k-labels-idx1-ubyte", yte, True)
    assert D.load_keras_cache("fashion-mnist", cache_dir=tmp_path).name == "fashion-mnist"


def test_digits_default():
    ds = D.load()
    assert ds.name == "digits" and ds.max_value == 16
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape[1:] == (8, 8)
    assert len(ds.x_train) + len(ds.x_test) == 1797 and len(ds.x_test) == 359
    assert ds.x_train.max() == 16 and ds.num_classes == 10
    again = D.load_digits()
    np.testing.assert_array_equal(ds.x_test, again.x_test)  # deterministic split
    xtr, xte = ds.inputs("sym")
    assert xtr.shape == (1438, 8, 8, 1) and xtr.dtype == np.float32
    assert xtr.min() == -1.0 and xtr.max() == 1.0


def test_preprocess():
    x = np.array([[[0, 255], [51, 128]]], np.uint8)
    s = D.preprocess(x, "sym")
    assert s.shape == (1, 2, 2, 1) and s.dtype == np.float32
    np.testing.assert_allclose(s[0, :, :, 0], [[-1, 1], [-0.6, 128 / 127.5 - 1]], atol=1e-6)
    np.testing.assert_allclose(D.preprocess(x, "unit")[0, 0, :, 0], [0, 1])
    np.testing.assert_allclose(D.preprocess(np.full((1, 2, 2, 3), 16, np.uint8), "sym", 16), 1)
    np.testing.assert_allclose(D.preprocess(np.ones((2, 3, 3), np.float32), "sym"), 1)
    with pytest.raises(InputError, match="mode"):
        D.preprocess(x, "minmax")
    with pytest.raises(InputError, match="shape"):
        D.preprocess(np.zeros((4, 4)), "sym")


def test_split_fake():
    rng = np.random.default_rng(4)
    x, y = _fake(50, rng)
    ds = D.Dataset(None, None, x, y.astype(np.int64), "fake", "mem")
    a, b = D.split(ds, 40, seed=0), D.split(ds, 40, seed=0)
    assert len(a.x_train) == 40 and len(a.x_test) == 10
    np.testing.assert_array_equal(a.x_train, b.x_train)
    # the two parts partition the original set
    both = np.concatenate([a.x_train, a.x_test]).reshape(50, -1)
    assert sorted(map(bytes, both)) == sorted(map(bytes, x.reshape(50, -1)))
    assert not np.array_equal(D.split(ds, 40, seed=1).y_train, a.y_train)
    with pytest.raises(DataError, match="n_train"):
        D.split(ds, 50)


def test_load_unknown():
    with pytest.raises(DataError, match="digits, mnist, fashion-mnist"):
        D.load("imagenet")


def test_mnist_missing_messages(tmp_path, monkeypatch):
    monkeypatch.setenv(D.MNIST_ENV, str(tmp_path / "empty"))
    with pytest.raises(DataError) as e:
        D.load_mnist()
    msg = str(e.value)
    assert str(tmp_path / "empty") in msg and D.MNIST_ENV in msg
    assert "t10k-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    monkeypatch.delenv(D.MNIST_ENV)
    monkeypatch.setattr(D, "_mnist_candidates", lambda: [tmp_path / "shared" / "mnist"])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    with pytest.raises(DataError) as e:
        D.load("mnist")
    msg = str(e.value)
    assert str(tmp_path / "shared" / "mnist") in msg and D.MNIST_ENV in msg
    assert "t10k-images-idx3-ubyte.gz" in msg and "mnist.npz" in msg


def test_mnist_env_dir(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    x, y = _fake(12, rng, (28, 28))
    _write_idx(tmp_path, "t10k-images-idx3-ubyte", x, True)
    _write_idx(tmp_path, "t10k-labels-idx1-ubyte", y, True)
    monkeypatch.setenv(D.MNIST_ENV, str(tmp_path))
    ds = D.load_mnist()
    assert ds.name == "mnist" and ds.x_train is None and len(ds.x_test) == 12


def test_fashion_missing_message(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=str(tmp_path)):
        D.load_fashion_mnist(tmp_path)
    monkeypatch.setattr(D, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    with pytest.raises(DataError) as e:
        D.load("fashion-mnist")
    msg = str(e.value)
    assert "dataset-fashion-mnist" in msg and str(tmp_path / "debian") in msg
    assert str(tmp_path / "kh" / "datasets" / "fashion-mnist") in msg


def _real_or_skip(loader, where):
    try:
        return loader()
    except DataError as e:
        pytest.skip(f"real data set absent ({where}): {e}")


def test_real_mnist_split(monkeypatch):
    monkeypatch.delenv(D.MNIST_ENV, raising=False)
    ds = _real_or_skip(D.load_mnist, f"${D.MNIST_ENV} or " + ", ".join(
        map(str, D._mnist_candidates())))
    assert ds.x_test.shape == (10000, 28, 28) and ds.x_test.dtype == np.uint8
    assert ds.y_test.dtype == np.int64 and ds.num_classes == 10
    a, b = D.split(ds), D.split(ds)
    assert a.x_train.shape == (8000, 28, 28) and a.x_test.shape == (2000, 28, 28)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert set(np.unique(a.y_test)) == set(range(10))


def test_real_fashion_mnist():
    ds = _real_or_skip(D.load_fashion_mnist,
                       f"{D.FASHION_MNIST_DEBIAN_DIR} (apt-get install dataset-fashion-mnist)")
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10


def test_mnist_search_has_no_repository_path_when_installed(tmp_path, monkeypatch):
    """An installed package (no pyproject.toml beside it) looks only in the per-user data folder
    (then the Keras cache); the error names $LARQ2MCU_MNIST_DIR and that folder."""
    fake = tmp_path / "site-packages" / "larq2mcu" / "datasets.py"
    fake.parent.mkdir(parents=True)
    monkeypatch.setattr(D, "__file__", str(fake))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.delenv(D.MNIST_ENV, raising=False)
    assert D._mnist_candidates() == [tmp_path / "xdg" / "larq2mcu" / "mnist"]
    with pytest.raises(DataError) as e:
        D.load("mnist")
    assert D.MNIST_ENV in str(e.value) and str(tmp_path / "xdg" / "larq2mcu" / "mnist") in str(e.value)
    rng = np.random.default_rng(2)
    x, y = _fake(5, rng, (28, 28))
    (tmp_path / "xdg" / "larq2mcu" / "mnist").mkdir(parents=True)
    _write_idx(tmp_path / "xdg" / "larq2mcu" / "mnist", "t10k-images-idx3-ubyte", x, True)
    _write_idx(tmp_path / "xdg" / "larq2mcu" / "mnist", "t10k-labels-idx1-ubyte", y, True)
    assert len(D.load("mnist").x_test) == 5


def test_npz_float_data_keep_their_scale(tmp_path):
    """Float .npz data within [-1, 1] have full scale 1.0 (not 255); 8-bit-valued floats keep 255."""
    x = np.random.default_rng(3).uniform(-1, 1, (4, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(4))
    np.savez(tmp_path / "b.npz", x=(x + 1) * 127.5, y=np.arange(4))
    assert D.load_npz(tmp_path / "a.npz").max_value == 1.0 and D.load_npz(tmp_path / "b.npz").max_value == 255
    np.testing.assert_allclose(D.load_npz(tmp_path / "a.npz").inputs("unit")[1][..., 0], x)
