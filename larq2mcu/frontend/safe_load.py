"""Look inside a model file before anything in it is deserialized.

tf-keras' `load_model` rebuilds every layer from the file's config, and a `Lambda` layer's config
carries Python bytecode that runs while the model is rebuilt (`.h5` has no safe mode). `inspect_file`
reads the config as plain JSON (h5py for `.h5`, zipfile for `.keras`) and refuses, naming the layer:
  * a file saved by Keras 3 (keras_version 3.x): tf-keras cannot read it (larq needs tf-keras);
  * a `Lambda` layer: its body would run — unless the user opted in (`--trust-lambda`,
    `trust_lambda=True`: the file's code is run as the user's own, then the body is traced by
    frontend/lambda_graph.py like an in-memory model's);
  * a class that is neither Keras' nor Larq's (custom layer, quantizer, constraint, …): loading it
    needs the user's code — unless a module the user named (--import, user_code.py) defines it.
A file whose config cannot be read is left to the loader, which reports it as corrupt.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ..errors import ModelLoadError, UnsupportedLayerError

_BUILTIN_MODULES = ("keras", "tf_keras", "larq")
# Keras-internal layers that wrap a TensorFlow op by name (no user code): refused later if unsupported.
_INTERNAL_LAYERS = {"Functional", "Sequential", "Model", "TFOpLambda", "SlicingOpLambda", "InputLayer"}


def _read(path: Path):
    """(keras_version, model config dict) from the file, or (None, None) when unreadable."""
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                meta = json.loads(z.read("metadata.json")) if "metadata.json" in names else {}
                cfg = json.loads(z.read("config.json")) if "config.json" in names else None
            return str(meta.get("keras_version", "")), cfg
        import h5py
        with h5py.File(path, "r") as f:
            version, cfg = f.attrs.get("keras_version", ""), f.attrs.get("model_config")
        def dec(v):
            return (v.decode() if isinstance(v, bytes) else str(v))
        return dec(version), (json.loads(dec(cfg)) if cfg is not None else None)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None, None


def _known_names() -> set:
    from .._tf import tf_modules
    _, keras, lq = tf_modules()
    names = set(_INTERNAL_LAYERS)
    for mod in (keras.layers, keras.initializers, keras.regularizers, keras.constraints, keras.activations,
                keras.models, keras.mixed_precision, lq.layers, lq.quantizers, lq.constraints, lq.activations):
        names |= {n for n in dir(mod) if not n.startswith("_")}
    return names


def _layers(cfg: dict) -> list:
    inner = cfg.get("config", {})
    return inner if isinstance(inner, list) else inner.get("layers", []) if isinstance(inner, dict) else []


_IMPORT_HINT = "; if your own module defines it, name that module with --import MODULE (export(..., imports=[...]))"


def _check_objects(obj, layer: str, cls: str, attr: str, known: set, user=None) -> None:
    """Every nested {'class_name': …} inside a layer's config must be a Keras/Larq object (or one
    that a module the user imported defines, see user_code.py)."""
    if isinstance(obj, list):
        for v in obj:
            _check_objects(v, layer, cls, attr, known, user)
        return
    if not isinstance(obj, dict):
        return
    name, module = obj.get("class_name"), obj.get("module")
    if isinstance(name, str):
        builtin = module is None or str(module).split(".")[0] in _BUILTIN_MODULES
        mine = user is not None and (name in user.names or user.owns(module))
        if not mine and (not builtin or (module is None and name not in known)):
            raise UnsupportedLayerError(layer, cls, attr, name, hint=(
                f"'{name}'{f' from module {module!r}' if module else ''} is not a Keras or Larq class; larq2mcu "
                "does not load custom objects from a file (loading would run their code)" + _IMPORT_HINT))
    for k, v in obj.items():
        _check_objects(v, layer, cls, attr, known, user)


def _check_model(cfg: dict, known: set, user=None, trust_lambda: bool = False) -> None:
    for layer in _layers(cfg):
        if not isinstance(layer, dict):
            continue
        cls = str(layer.get("class_name"))
        lc = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        name = str(lc.get("name", "?"))
        if cls == "Lambda" and trust_lambda:
            continue
        if cls == "Lambda":
            raise UnsupportedLayerError(name, cls, hint=(
                "a Lambda layer holds Python code, which would run while the file is loaded; larq2mcu refused "
                "the file before loading it. Replace the Lambda by built-in layers, or build the model with your code "
                "and pass the Model object to larq2mcu.export (an in-memory model's Lambda bodies are traced "
                "with tf.function and their TF ops exported), or, if you trust the file's code, pass --trust-lambda "
                "(export(..., trust_lambda=True))"))
        if cls not in known:
            raise UnsupportedLayerError(name, cls, hint=(
                "not a Keras or Larq class (a custom layer); larq2mcu does not load custom code from a file"
                + _IMPORT_HINT))
        if cls in ("Functional", "Sequential", "Model") or (user is not None and cls in user.names
                                                             and _layers(layer)):
            _check_model(layer, known, user, trust_lambda)   # nested model: refused later, but look inside now
            continue
        for k, v in lc.items():
            _check_objects(v, name, cls, k, known, user)


def inspect_file(path: Path, user=None, trust_lambda: bool = False) -> None:
    """Raise ModelLoadError / UnsupportedLayerError for what must not be deserialized (see above).
    `user` (user_code.UserObjects): classes of modules the user imported, accepted by name;
    `trust_lambda`: Lambda layers accepted (their code will run when the file is loaded)."""
    version, cfg = _read(path)
    if version and version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 3:
        raise ModelLoadError(f"{path} was saved with Keras {version}; larq needs tf-keras (Keras 2): build and "
                             "save the model with tf_keras (TF_USE_LEGACY_KERAS=1, or `import tf_keras as keras`)")
    if not isinstance(cfg, dict):
        return
    known = _known_names() | (user.names if user is not None else set())
    top = str(cfg.get("class_name"))
    if top not in ("Functional", "Sequential", "Model") and not (user is not None and top in user.names):
        raise ModelLoadError(f"{path} holds a model of class '{top}', not a tf.keras Sequential or functional "
                             "model; larq2mcu does not load custom model classes from a file" + _IMPORT_HINT)
    _check_model(cfg, known, user, trust_lambda)
