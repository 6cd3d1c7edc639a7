"""Offline data loaders. Nothing here downloads: every loader reads files that are already on disk
and raises `DataError` saying exactly which files to put where when they are missing.

Images come back as stored (uint8, N×H×W or N×H×W×C), labels as int64. `preprocess` turns images
into float32 NHWC network inputs. Sources:

* `load_idx_dir`      a folder of IDX files (MNIST layout), gzipped or plain, train part optional
* `load_npz`          .npz with x_train/y_train/x_test/y_test, or x/y (test-only)
* `load_keras_cache`  ~/.keras/datasets/mnist.npz or ~/.keras/datasets/fashion-mnist/*.gz
* `load_fashion_mnist` Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
* `load_mnist`        real MNIST test set (10k) from $LARQ2MCU_MNIST_DIR (see there); `split` for 8k/2k
* `load_digits`       scikit-learn's bundled 8×8 digits: always available, the default
* `load`              dispatch on a string spec
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import DataError, InputError

FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_DEBIAN_PACKAGE = "dataset-fashion-mnist"
MNIST_ENV = "LARQ2MCU_MNIST_DIR"
IDX_TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
IDX_TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DIGITS_MAX = 16  # sklearn digits are 4-bit counts 0..16, not 0..255
PREPROCESS_MODES = ("sym", "unit", "none")


@dataclass(frozen=True, eq=False)  # eq=False: comparing ndarray fields with == is ambiguous
class Dataset:
    """A train/test split. `x_train`/`y_train` are None for test-only sources.

    `max_value` is the full-scale pixel value (255 for 8-bit images, 16 for sklearn digits);
    pass it to `preprocess`, or use `inputs()` which does.
    """

    x_train: np.ndarray | None
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    source: str
    max_value: float = 255

    @property
    def has_train(self) -> bool:
        """True when the training split is present and non-empty."""
        return self.x_train is not None and len(self.x_train) > 0

    @property
    def num_classes(self) -> int:
        """1 + the largest label of the test split (and of the training split when present)."""
        ys = [self.y_test] + ([self.y_train] if self.has_train else [])
        return int(max(int(y.max()) for y in ys if len(y)) + 1)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample NHWC shape after `preprocess` (channel axis added for H×W images)."""
        shape = tuple(int(d) for d in self.x_test.shape[1:])
        return shape + (1,) if len(shape) == 2 else shape

    def inputs(self, mode: str = "sym") -> tuple[np.ndarray | None, np.ndarray]:
        """(x_train, x_test) preprocessed with this data set's `max_value`."""
        xtr = preprocess(self.x_train, mode, self.max_value) if self.has_train else None
        return xtr, preprocess(self.x_test, mode, self.max_value)


# ----------------------------------------------------------------------------------------- IDX
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (gzip is detected by its magic bytes, not the name)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: corrupt gzip file ({e}); re-copy it") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic {raw[:4].hex()})")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path}: IDX header says shape {dims} ({expected} bytes) but the file has "
                        f"{len(raw)} bytes (truncated download?)")
    arr = np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # native order, writable copy


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _idx_pair(folder: Path, stems: tuple[str, str]) -> tuple[np.ndarray, np.ndarray] | None:
    files = [_find_idx(folder, s) for s in stems]
    if files[0] is None and files[1] is None:
        return None
    if None in files:
        missing = stems[files.index(None)]
        raise DataError(f"{folder}: found {files[1 - files.index(None)].name} but not "
                        f"{missing}[.gz]; both files of the pair are needed")
    x, y = read_idx(files[0]), read_idx(files[1]).astype(np.int64)
    if len(x) != len(y):
        raise DataError(f"{folder}: {files[0].name} has {len(x)} images but {files[1].name} "
                        f"has {len(y)} labels")
    return x, y


def _idx_help(folder: Path) -> str:
    names = ", ".join(f"{s}.gz" for s in IDX_TEST + IDX_TRAIN)
    return (f"put the IDX files {names} (gzipped or not; the two t10k files alone give a "
            f"test-only data set) into {folder}")


def load_idx_dir(path: str | Path, name: str | None = None) -> Dataset:
    """Load an MNIST-layout IDX folder. The t10k pair is required; the train pair is optional
    (x_train/y_train are None without it)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"IDX folder {folder} does not exist; {_idx_help(folder)}")
    test = _idx_pair(folder, IDX_TEST)
    if test is None:
        raise DataError(f"no t10k-images-idx3-ubyte[.gz] / t10k-labels-idx1-ubyte[.gz] in "
                        f"{folder}; {_idx_help(folder)}")
    train = _idx_pair(folder, IDX_TRAIN)
    xtr, ytr = train if train is not None else (None, None)
    return Dataset(xtr, ytr, test[0], test[1], name or folder.name, f"idx:{folder}")


# ----------------------------------------------------------------------------------------- npz
def load_npz(path: str | Path, name: str | None = None) -> Dataset:
    """Load x_train/y_train/x_test/y_test, or x/y (test-only), from an .npz file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path} does not exist; save arrays with np.savez('{path}', "
                        f"x_train=..., y_train=..., x_test=..., y_test=...) or with x=..., y=...")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    nm = name or path.stem
    if {"x_test", "y_test"} <= arrays.keys():
        xtr, ytr = arrays.get("x_train"), arrays.get("y_train")
        if (xtr is None) != (ytr is None):
            raise DataError(f"{path}: has only one of x_train / y_train")
        return Dataset(xtr, None if ytr is None else ytr.astype(np.int64), arrays["x_test"],
                       arrays["y_test"].astype(np.int64), nm, f"npz:{path}", full_scale(arrays["x_test"]))
    if {"x", "y"} <= arrays.keys():
        return Dataset(None, None, arrays["x"], arrays["y"].astype(np.int64), nm, f"npz:{path}",
                       full_scale(arrays["x"]))
    raise DataError(f"{path}: keys {sorted(arrays)}; expected x_train, y_train, x_test, y_test "
                    f"(or x, y for a test-only set)")


def full_scale(x: np.ndarray) -> float:
    """Full-scale value of stored images: 255 for integers and for floats above 1 (8-bit values
    stored as float), 1.0 for floats within [-1, 1] (already network-range data)."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating) and x.size and float(np.nanmax(np.abs(x))) <= 1.0:
        return 1.0
    return 255


# ------------------------------------------------------------------------------- named sources
def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded data sets: $KERAS_HOME/datasets or ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def load_keras_cache(name: str, cache_dir: str | Path | None = None) -> Dataset:
    """Read a data set Keras has already downloaded: "mnist" (mnist.npz) or "fashion-mnist"
    (fashion-mnist/*.gz). `cache_dir` defaults to `keras_cache_dir()`."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else keras_cache_dir()
    key = name.lower().replace("_", "-")
    if key == "mnist":
        f = root / "mnist.npz"
        if not f.is_file():
            raise DataError(f"Keras cache file {f} not found; copy mnist.npz (keys x_train, "
                            f"y_train, x_test, y_test) there")
        return replace(load_npz(f), name="mnist", source=f"keras-cache:{f}")
    if key == "fashion-mnist":
        folder = root / "fashion-mnist"
        if _find_idx(folder, IDX_TEST[0]) is None:  # a failed Keras download leaves it empty
            raise DataError(f"Keras cache {folder} has no data; {_idx_help(folder)}")
        return replace(load_idx_dir(folder), name="fashion-mnist", source=f"keras-cache:{folder}")
    raise DataError(f"no Keras cache loader for {name!r}; known: mnist, fashion-mnist")


def load_fashion_mnist(path: str | Path | None = None) -> Dataset:
    """Fashion-MNIST (60k/10k, 28×28 uint8) from `path`, else Debian's /usr/share/datasets/
    fashion-mnist, else the Keras cache."""
    if path is not None:
        folder = Path(path).expanduser()
        if _find_idx(folder, IDX_TEST[0]) is None:
            raise DataError(f"Fashion-MNIST not found in {folder}; {_idx_help(folder)}")
        return replace(load_idx_dir(folder), name="fashion-mnist")
    if _find_idx(FASHION_MNIST_DEBIAN_DIR, IDX_TEST[0]) is not None:
        return replace(load_idx_dir(FASHION_MNIST_DEBIAN_DIR), name="fashion-mnist")
    if _find_idx(keras_cache_dir() / "fashion-mnist", IDX_TEST[0]) is not None:
        return load_keras_cache("fashion-mnist")
    raise DataError(
        f"Fashion-MNIST not found. Install the Debian package: `sudo apt-get install "
        f"{FASHION_MNIST_DEBIAN_PACKAGE}` (files land in {FASHION_MNIST_DEBIAN_DIR}), or "
        f"{_idx_help(keras_cache_dir() / 'fashion-mnist')}")


def user_data_dir() -> Path:
    """Per-user data folder: $XDG_DATA_HOME/larq2mcu, else ~/.local/share/larq2mcu."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "larq2mcu"


def _mnist_candidates() -> list[Path]:
    """Search order for an MNIST IDX folder when $LARQ2MCU_MNIST_DIR is not set: the per-user data
    folder, then, only when running from a source checkout (the package sits beside pyproject.toml),
    the checkout's ../shared/datasets/mnist. An installed package has no repository to look in."""
    out = [user_data_dir() / "mnist"]
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file() and (repo / "larq2mcu" / "datasets.py").is_file():
        out.append((repo / ".." / "shared" / "datasets" / "mnist").resolve())
    return out


def load_mnist(path: str | Path | None = None) -> Dataset:
    """Real MNIST from an IDX folder: normally the 10k test set only (x_train None; use `split`).

    Search order: `path`; $LARQ2MCU_MNIST_DIR (an explicit setting must be valid, it is never
    silently skipped); `user_data_dir()/mnist`; in a source checkout <repo>/../shared/datasets/mnist;
    finally the Keras cache mnist.npz (which also has the 60k train part)."""
    env = os.environ.get(MNIST_ENV)
    explicit = path if path is not None else env
    if explicit:
        folder = Path(explicit).expanduser()
        if _find_idx(folder, IDX_TEST[0]) is None:
            how = "path" if path is not None else f"${MNIST_ENV}"
            raise DataError(f"MNIST not found in {folder} (from {how}); {_idx_help(folder)}")
        return replace(load_idx_dir(folder), name="mnist")
    candidates = _mnist_candidates()
    for folder in candidates:
        if _find_idx(folder, IDX_TEST[0]) is not None:
            return replace(load_idx_dir(folder), name="mnist")
    if (keras_cache_dir() / "mnist.npz").is_file():
        return load_keras_cache("mnist")
    where = " or ".join(str(c) for c in candidates)
    raise DataError(f"MNIST not found. Set ${MNIST_ENV} to a folder holding "
                    f"{IDX_TEST[0]}.gz and {IDX_TEST[1]}.gz, or put them into {where} "
                    f"(or put mnist.npz into {keras_cache_dir()})")


def split(ds: Dataset, n_train: int = 8000, seed: int = 0) -> Dataset:
    """Split the test set of `ds` (e.g. the 10k MNIST test images) into a train part of
    `n_train` images and a held-out rest, by a fixed permutation of `seed`. Any train part of
    `ds` is discarded, so the result never mixes the two original splits."""
    n = len(ds.x_test)
    if not 0 < n_train < n:
        raise DataError(f"split: n_train={n_train} must be between 1 and {n - 1} "
                        f"({ds.name} has {n} test images)")
    perm = np.random.default_rng(seed).permutation(n)
    tr, te = perm[:n_train], perm[n_train:]
    return Dataset(ds.x_test[tr], ds.y_test[tr], ds.x_test[te], ds.y_test[te], ds.name,
                   f"{ds.source} (test set split n_train={n_train} seed={seed})", ds.max_value)


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8×8 digits (1797 images, values 0..16, uint8; max_value 16),
    split by a fixed permutation of `seed` (default: 1438 train / 359 test)."""
    try:
        from sklearn.datasets import load_digits as _sk_digits
    except ImportError:
        raise DataError("the digits data set ships with scikit-learn: pip install scikit-learn") \
            from None
    d = _sk_digits()
    x = d.images.astype(np.uint8)  # exact: the values are integers 0..16
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    te, tr = perm[:n_test], perm[n_test:]
    return Dataset(x[tr], y[tr], x[te], y[te], "digits", "sklearn.datasets.load_digits",
                   DIGITS_MAX)


def load(spec: str | os.PathLike = "digits") -> Dataset:
    """Dispatch: "digits" (default), "mnist", "fashion-mnist", "keras:<name>", a .npz file, or
    an IDX folder."""
    s = str(spec)
    key = s.lower().replace("_", "-")
    if key == "digits":
        return load_digits()
    if key == "mnist":
        return load_mnist()
    if key in ("fashion-mnist", "fashionmnist"):
        return load_fashion_mnist()
    if key.startswith("keras:"):
        return load_keras_cache(s.split(":", 1)[1])
    p = Path(s).expanduser()
    if p.suffix == ".npz":
        return load_npz(p)
    if p.is_dir():
        return load_idx_dir(p)
    raise DataError(f"unknown data set {s!r}: use digits, mnist, fashion-mnist, keras:mnist, "
                    f"keras:fashion-mnist, a path to an .npz file, or a folder of IDX files")


def preprocess(x: np.ndarray, mode: str = "sym", max_value: float | None = None) -> np.ndarray:
    """Images (N,H,W) or (N,H,W,C) → float32 NHWC.

    mode "sym" maps [0, max_value] to [-1, 1] (what sign-binarized inputs need: with sign(0)=+1,
    unit-scaled images would binarize to all +1); "unit" maps it to [0, 1]; "none" keeps the
    values as given (already-scaled float data).
    max_value defaults to 255 for integer images and 1.0 for float images; sklearn digits need
    16 (use `Dataset.max_value` / `Dataset.inputs`, which carry it)."""
    x = np.asarray(x)
    if mode not in PREPROCESS_MODES:
        raise InputError(f"preprocess: mode={mode!r}; supported: {', '.join(map(repr, PREPROCESS_MODES))}")
    if x.ndim not in (3, 4):
        raise InputError(f"preprocess: expected a batch of images (N,H,W) or (N,H,W,C), got "
                         f"shape {x.shape}")
    if mode == "none":
        out = x.astype(np.float32)
        return out[..., None] if out.ndim == 3 else out
    if max_value is None:
        max_value = 255.0 if np.issubdtype(x.dtype, np.integer) else 1.0
    if max_value <= 0:
        raise InputError(f"preprocess: max_value={max_value} must be positive")
    out = x.astype(np.float32) / np.float32(max_value)
    if mode == "sym":
        out = out * np.float32(2.0) - np.float32(1.0)
    return out[..., None] if out.ndim == 3 else out


def scaling_warning(x: np.ndarray, mode: str, max_value: float | None = None) -> str | None:
    """A warning when `preprocess(x, "sym", max_value)` would re-normalise data that look already
    scaled: float data whose values all lie in [-1, 1] with the default full scale of 1.0.
    sym computes 2x - 1, so [-1, 1] data become [-3, 1] and [0, 1] network inputs become [-1, 1];
    "unit" (x / 1.0) and "none" leave such data unchanged and get no warning."""
    x = np.asarray(x)
    if mode != "sym" or x.size == 0 or not np.issubdtype(x.dtype, np.floating):
        return None
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    if (max_value is not None and float(max_value) != 1.0) or hi > 1.0 or lo < -1.0:
        return None
    looks = "[-1, 1]" if lo < 0 else "[0, 1]"
    return (f"the data are {x.dtype} in [{lo:.3g}, {hi:.3g}], which looks already scaled to {looks}; "
            f"--preprocess sym re-normalises them to [{2 * lo - 1:.3g}, {2 * hi - 1:.3g}]. "
            f"Pass --preprocess none to use them as given")


def load_samples(spec: str, model_shape: tuple, n: int, mode: str, warn=None):
    """First n held-out samples of data set `spec` (see `load`), preprocessed with `mode` and
    shaped for a model input of `model_shape`; mnist without a train part gives its held-out 2k.
    `warn(text)` is called when the data look already scaled (see scaling_warning)."""
    ds = load(spec)
    if spec == "mnist" and not ds.has_train:
        ds = split(ds)        # held-out 2k of the 10k test set (train on the other 8k)
    if n < 1:
        raise InputError(f"-n must be at least 1 (got {n})")
    _, x = ds.inputs(mode)
    x, y = x[:n], ds.y_test[:n]
    if tuple(x.shape[1:]) != tuple(model_shape):
        if int(np.prod(x.shape[1:])) == int(np.prod(model_shape)):
            x = x.reshape((len(x),) + tuple(model_shape))
        else:
            raise InputError(f"data samples have shape {x.shape[1:]}, the model expects {tuple(model_shape)}")
    if len(x) == 0:
        raise InputError(f"{spec} holds no samples")
    bad = ~np.isfinite(np.asarray(x, np.float64)).reshape(len(x), -1)
    if bad.any():
        rows = np.flatnonzero(bad.any(1))
        raise InputError(f"{spec}: {int(bad.sum())} NaN or infinite values in {len(rows)} of the {len(x)} samples "
                         f"(first: sample {int(rows[0])}); Keras and the C code cannot be compared on them "
                         "(NaN binarizes to +1 in C): clean the data")
    warning = scaling_warning(ds.x_test[:n], mode, ds.max_value)
    if warning and warn is not None:
        warn(warning)
    return x, y
