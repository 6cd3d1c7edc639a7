"""Size before work: lower bounds of the flash and RAM a model needs, from shapes alone.

An export quantizes and packs every kernel and plans the arena before it knows the sizes, so a
model far too large for the target (or for this machine) used to run for a minute and get killed
for memory. These bounds are read from shapes only — the weight datasets' shapes in the model
file (before Keras loads it) and the Keras layers' weight and output shapes (before the IR) — and
are never above what the export will need, so a refusal is always justified:
  * weights: a kernel costs at least ⌈n/8⌉ bytes (a binary kernel packed at the bit bound; a float
    kernel is counted at 4 B per value once its values are known not to be all ±1, which the
    export stores as bits). Biases and batch norms may fold into thresholds and count 0;
  * arena: every layer output that is not a view (Flatten, Reshape, Dropout, the input) is
    materialized, at least one bit per element: 4·⌈numel/32⌉ bytes.
`check` raises ModelTooLargeError (weights above `max_weight_bytes`, default 256 MiB, override
with the argument or L2M_MAX_WEIGHT_BYTES) or BoardError (above the board's flash or RAM).
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import bits
from ..errors import BoardError, ModelTooLargeError

DEFAULT_MAX_WEIGHT_BYTES = 256 * 2 ** 20
_VIEWS = {"InputLayer", "Flatten", "Reshape", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
          "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"}


@dataclass(frozen=True)
class LayerSize:
    """Lower bounds for one Keras layer: weight bytes (with what they count) and output bytes."""
    layer: str
    cls: str
    weight_bytes: int = 0
    what: str = ""
    arena_bytes: int = 0


def max_weight_bytes(value: int | None = None) -> int:
    """The weight limit: `value`, else $L2M_MAX_WEIGHT_BYTES, else DEFAULT_MAX_WEIGHT_BYTES."""
    if value is not None:
        return int(value)
    env = os.environ.get("L2M_MAX_WEIGHT_BYTES", "").strip()
    if env:
        try:
            return int(env)
        except ValueError:
            raise ModelTooLargeError(f"L2M_MAX_WEIGHT_BYTES={env!r} is not a number of bytes") from None
    return DEFAULT_MAX_WEIGHT_BYTES


def _kernel_size(layer: str, cls: str, shape: tuple, binary: bool) -> LayerSize:
    n = int(np.prod(shape, dtype=np.int64))
    dims = "×".join(str(int(d)) for d in shape)
    if binary:
        return LayerSize(layer, cls, -(-n // 8), f"{dims} binary weights at 1 bit each")
    return LayerSize(layer, cls, 4 * n, f"{dims} float weights at 4 B each")


def _binary_quantizer(q) -> bool:
    return q is not None and q != "null"


# ------------------------------------------------------------------------------ model file
def _configs(cfg: dict) -> dict:
    """layer name → its config dict (nested models included)."""
    out = {}
    inner = cfg.get("config", {}) if isinstance(cfg, dict) else {}
    for lay in inner if isinstance(inner, list) else inner.get("layers", []) if isinstance(inner, dict) else []:
        if isinstance(lay, dict) and isinstance(lay.get("config"), dict):
            out[str(lay["config"].get("name"))] = (str(lay.get("class_name")), lay["config"])
            if lay.get("class_name") in ("Functional", "Sequential", "Model"):
                out.update(_configs(lay))
    return out


def _snake(cls: str) -> str:
    """tf-keras' generic_utils.to_snake_case (the .keras weights file names layers by class)."""
    s = re.sub("([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", cls)).lower()
    return s if not s.startswith("_") else "private" + s


def _keras_paths(cfg: dict) -> dict:
    """.keras weights path under `layers/` → layer name: snake_case of the class, then _1, _2, …
    for the next layers of that class, in model order (saving_lib._save_container_state)."""
    used, out = {}, {}
    inner = cfg.get("config", {})
    top = inner if isinstance(inner, list) else inner.get("layers", []) if isinstance(inner, dict) else []
    for lay in top:
        if not (isinstance(lay, dict) and isinstance(lay.get("config"), dict)):
            continue
        name, cls = str(lay["config"].get("name")), str(lay.get("class_name"))
        key = _snake(cls)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        out[key] = name
    return out


def _h5_kernels(f, layers: dict, cfg: dict) -> list:
    """[(layer, shape)] of the kernels in an opened weights file: legacy .h5 (`model_weights/
    <layer>/…/kernel:0`) or the weights of a .keras zip (`layers/<layer>/vars/0`, the kernel of a
    layer with `units`/`filters`)."""
    import h5py
    found = []
    if "layers" in f and "model_weights" not in f:
        for key, name in _keras_paths(cfg).items():
            lc = layers[name][1]
            ds = f["layers"].get(f"{key}/vars/0") if ("units" in lc or "filters" in lc) and key in f["layers"] else None
            if isinstance(ds, h5py.Dataset):
                found.append((name, tuple(ds.shape)))
        return found
    root = f["model_weights"] if "model_weights" in f else f
    for name in root:
        grp = root[name]
        if isinstance(grp, h5py.Group):
            grp.visititems(lambda sub, obj, name=name: found.append((name, tuple(obj.shape)))
                           if isinstance(obj, h5py.Dataset) and "kernel" in sub.rsplit("/", 1)[-1] else None)
    return found


def file_sizes(path: Path, cfg: dict | None) -> list:
    """Kernel lower bounds from the weight datasets' shapes in a .h5 or .keras file (no weight
    data is read). A float kernel counts 1 bit per value here (its values are not read)."""
    if not isinstance(cfg, dict):
        return []
    try:
        import h5py
    except ImportError:
        return []
    layers = _configs(cfg)
    try:
        if Path(path).suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as z, z.open("model.weights.h5") as fh, h5py.File(fh, "r") as f:
                kernels = _h5_kernels(f, layers, cfg)
        else:
            with h5py.File(path, "r") as f:
                kernels = _h5_kernels(f, layers, cfg)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return []           # unreadable: the loader reports it
    out = []
    for name, shape in kernels:
        cls, lc = layers.get(name, ("?", {}))
        ks = _kernel_size(name, cls, shape, True)
        binary_k = _binary_quantizer(lc.get("kernel_quantizer"))
        what = ks.what if binary_k else ks.what.replace("binary", "float").replace("at", "at least")
        out.append(LayerSize(name, cls, ks.weight_bytes, what))
    return out


def read_config(path: Path):
    """The model config dict of a .h5/.keras file, or None (see safe_load)."""
    try:
        if Path(path).suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as z:
                return json.loads(z.read("config.json"))
        import h5py
        with h5py.File(path, "r") as f:
            cfg = f.attrs.get("model_config")
        return None if cfg is None else json.loads(cfg.decode() if isinstance(cfg, bytes) else str(cfg))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, ImportError):
        return None


# ------------------------------------------------------------------------------ Keras model
def _numel(shape) -> int:
    if isinstance(shape, list):
        return max((_numel(s) for s in shape), default=0)
    return int(np.prod([int(d) for d in shape[1:] if d is not None], dtype=np.int64))


def model_sizes(model) -> list:
    """Per layer: kernel lower bounds from the weight variables' shapes (a float kernel whose
    values are not all ±1 at 4 B per value) and the output's 4·⌈numel/32⌉ bytes."""
    out = []
    for lay in model.layers:
        cls = type(lay).__name__
        binary_k = getattr(lay, "kernel_quantizer", None) is not None
        for v in lay.weights:
            if "kernel" not in v.name.rsplit("/", 1)[-1]:
                continue
            shape = tuple(int(d) for d in v.shape)
            w1 = binary_k or bool(np.all(np.abs(v.numpy()) == 1.0))
            out.append(_kernel_size(lay.name, cls, shape, w1))
        if cls not in _VIEWS:
            try:
                n = _numel(lay.output_shape)
            except (AttributeError, RuntimeError, ValueError, TypeError):
                continue
            out.append(LayerSize(lay.name, cls, arena_bytes=4 * bits.words(n)))
    return out


# ------------------------------------------------------------------------------------ check
def check(sizes: list, limit: int | None = None, board=None, stage: str = "layer shapes") -> None:
    """Refuse when the summed weight bounds exceed `limit` (max_weight_bytes) or, with `board`
    (a board.profiles.Board), its flash, or the largest output bound exceeds its RAM."""
    if not sizes:
        return
    total = sum(s.weight_bytes for s in sizes)
    big = max(sizes, key=lambda s: s.weight_bytes)
    lim = max_weight_bytes(limit)
    where = f"layer '{big.layer}' ({big.cls}): {big.what} need at least {big.weight_bytes:,} B"
    if total > lim:
        raise ModelTooLargeError(
            f"the model's weights need at least {total:,} B, above the limit of {lim:,} B ({where}; estimated "
            f"from the {stage} before building any weight array); pass --max-weight-bytes (or set "
            f"L2M_MAX_WEIGHT_BYTES) to raise the limit", layer=big.layer, need=total, limit=lim)
    if board is None:
        return
    if total > board.flash:
        raise BoardError(f"does not fit {board.name}: flash: need at least {total:,} B for the weights alone, "
                         f"have {board.flash:,} B ({where}; estimated from the {stage})")
    arena = max(sizes, key=lambda s: s.arena_bytes)
    if arena.arena_bytes > board.ram:
        raise BoardError(f"does not fit {board.name}: RAM: need at least {arena.arena_bytes:,} B for the output "
                         f"of layer '{arena.layer}' ({arena.cls}) alone, have {board.ram:,} B (estimated from the "
                         f"{stage})")
