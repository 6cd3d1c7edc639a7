"""User code a model file needs: `--import MODULE` (CLI) / `export(..., imports=[...], custom_objects={...})`.

A model saved with classes of its own (a `Model` subclass such as larq-zoo's `BinaryDenseNet`,
custom layers, quantizers, constraints) cannot be rebuilt from the file alone, and safe_load
refuses such a file before anything in it is deserialized. The user may name the modules that
define those classes; they are imported (their code runs: the user asked for it) *before* the file
is inspected, and what they define becomes loadable:

  * every class a module (or a submodule already imported under it) defines — `__module__`
    inside the named module;
  * the entries of a module-level dict `custom_objects` or `CUSTOM_OBJECTS`;
  * every object of Keras' global custom-object registry (`keras.utils.register_keras_serializable`,
    larq's `register_keras_custom_object`) that the import added or whose `__module__` lies inside
    a named module;
  * the `custom_objects` given to the API.
They are passed to `load_model(custom_objects=...)`, and safe_load accepts exactly those names
(and `module` fields inside the named modules). A `Lambda` layer stays refused: its code comes from
the file, not from a module the user named (only the explicit `trust_lambda` / --trust-lambda
accepts it). A module that cannot be imported is a ModelLoadError.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelLoadError


@dataclass
class UserObjects:
    """What the imported modules make loadable: `objects` {config name: class/function} for
    Keras' custom_objects, `modules` the imported module names (prefixes for `module` fields)."""
    objects: dict = field(default_factory=dict)
    modules: tuple = ()

    @property
    def names(self) -> set:
        """Config class names safe_load accepts: the keys, and each class' own __name__."""
        return set(self.objects) | {getattr(o, "__name__", k) for k, o in self.objects.items()}

    def owns(self, module) -> bool:
        """True when a config's `module` field names one of the imported modules (or a submodule)."""
        m = str(module or "")
        return any(m == p or m.startswith(p + ".") for p in self.modules)


def _import(spec: str):
    """Import a dotted module name, or a .py file by path (registered under its stem)."""
    try:
        if spec.endswith(".py") or "/" in spec or "\\" in spec:
            p = Path(spec)
            if not p.is_file():
                raise ModelLoadError(f"--import {spec}: no such Python file")
            s = importlib.util.spec_from_file_location(p.stem, p)
            mod = importlib.util.module_from_spec(s)
            sys.modules[p.stem] = mod
            s.loader.exec_module(mod)
            return mod
        return importlib.import_module(spec)
    except ModelLoadError:
        raise
    except Exception as e:       # ImportError, or anything the module's own code raises
        why = " ".join(str(e).split())
        raise ModelLoadError(f"--import {spec}: cannot import it: {type(e).__name__}: {why}") from None


def _defined_in(obj, prefixes) -> bool:
    m = getattr(obj, "__module__", None) or ""
    return any(m == p or m.startswith(p + ".") for p in prefixes)


def import_user_modules(specs=(), custom_objects=None) -> UserObjects:
    """Import `specs` (module names or .py paths) and collect what they make loadable (module doc)."""
    from .._tf import tf_modules
    _, keras, _ = tf_modules()
    specs = [specs] if isinstance(specs, str) else list(specs or ())
    registry = keras.utils.get_custom_objects()
    before = dict(registry)
    res = UserObjects()
    mods = [_import(s) for s in specs]
    prefixes = tuple(m.__name__ for m in mods)
    res.modules = prefixes
    for name, obj in registry.items():
        if name not in before or before[name] is not obj or _defined_in(obj, prefixes):
            res.objects[name] = obj
    for mod in [m for n, m in list(sys.modules.items()) if m is not None and any(
            n == p or n.startswith(p + ".") for p in prefixes)]:
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and _defined_in(obj, prefixes):
                res.objects.setdefault(name, obj)
    for mod in mods:
        for attr in ("custom_objects", "CUSTOM_OBJECTS"):
            d = getattr(mod, attr, None)
            if isinstance(d, dict):
                res.objects.update({str(k): v for k, v in d.items()})
    if custom_objects:
        res.objects.update({str(k): v for k, v in dict(custom_objects).items()})
    return res
