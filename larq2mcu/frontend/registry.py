"""Layer handlers, registered by Keras layer class, and the graph builder they write into.

A handler is `fn(b: Builder, layer, inputs: list[str]) -> str`: it reads the Keras layer, emits
IR ops through `b`, and returns the IR tensor holding the layer's output. Lookup is by exact
class (a user subclass of Dense may override `call`, so it must not silently match Dense).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import ir
from ..errors import UnsupportedLayerError

_REGISTRY: list = []          # (classes_getter, handler, supported)
_RESOLVED: dict | None = None
_SUPPORTED: set = set()       # class names listed as supported (not those registered to be rejected)


def register(classes: Callable, supported: bool = True):
    """Decorator: `classes(keras, lq)` returns the layer classes the handler accepts.
    `supported=False` marks a handler that only raises a precise error for those classes, so
    they are not offered as supported in the message for an unknown layer."""
    def deco(fn):
        _REGISTRY.append((classes, fn, supported))
        return fn
    return deco


def handler_for(layer):
    """The handler registered for type(layer) exactly (classes resolved on first call);
    UnsupportedLayerError listing the supported classes otherwise."""
    global _RESOLVED
    if _RESOLVED is None:
        from .._tf import tf_modules
        _, keras, lq = tf_modules()
        _RESOLVED = {}
        for getter, fn, supported in _REGISTRY:
            for cls in getter(keras, lq):
                _RESOLVED[cls] = fn
                if supported:
                    _SUPPORTED.add(cls.__name__)
    fn = _RESOLVED.get(type(layer))
    if fn is None:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, supported=sorted(_SUPPORTED))
    return fn


class Builder:
    """Accumulates tensors and ops; hands out unique names."""

    def __init__(self):
        self.tensors: dict = {}
        self.ops: list = []
        self._n = 0

    def _name(self, stem: str) -> str:
        self._n += 1
        return f"t{self._n}_{stem}"

    def tensor(self, shape, dtype, stem="t", packing=None, origin=None) -> str:
        """Add a tensor named `t<n>_<stem>` (BITS default to ir.default_packing) and return its name."""
        shape = tuple(int(s) for s in shape)
        if dtype == ir.BITS and packing is None:
            packing = ir.default_packing(shape)
        name = self._name(stem)
        self.tensors[name] = ir.Tensor(name, shape, dtype, packing, origin)
        return name

    def emit(self, cls, inputs, shape, dtype, layer: str, packing=None, **attrs) -> str:
        """Append op `cls(**attrs)` reading `inputs` into a fresh output tensor of `shape`/`dtype`
        (no origin); return the output's name."""
        out = self.tensor(shape, dtype, stem=cls.__name__.lower(), packing=packing)
        self.ops.append(cls(name=f"op{len(self.ops)}_{cls.__name__}", inputs=tuple(inputs),
                            output=out, layer=layer, **attrs))
        return out

    def shape(self, t: str) -> tuple:
        """Per-sample shape of tensor `t`."""
        return self.tensors[t].shape

    def dtype(self, t: str) -> str:
        """ir.F32 or ir.BITS for tensor `t`."""
        return self.tensors[t].dtype

    def producer(self, t: str):
        """The op emitted so far whose output is `t`, or None."""
        for op in reversed(self.ops):
            if op.output == t:
                return op
        return None

    def as_bits(self, t: str, layer: str) -> str:
        """sign(t) as a BITS tensor (t itself when it already is one)."""
        if self.dtype(t) == ir.BITS:
            return t
        out = self.emit(ir.Quantize, [t], self.shape(t), ir.BITS, layer)
        src = self.tensors[t].origin
        if src is not None and src.transform == "identity":
            self.set_origin(out, ir.Origin(src.layer, "sign"))
        return out

    def as_f32(self, t: str, layer: str) -> str:
        """t as an F32 tensor of ±1.0 values (a Dequantize; t itself when it already is F32)."""
        if self.dtype(t) == ir.F32:
            return t
        return self.emit(ir.Dequantize, [t], self.shape(t), ir.F32, layer)

    def set_origin(self, t: str, origin) -> None:
        """Give `t` the Keras `origin` unless it already has one (the first origin set wins)."""
        old = self.tensors[t]
        if old.origin is None:
            self.tensors[t] = ir.Tensor(old.name, old.shape, old.dtype, old.packing, origin)


def cfg(layer, key, default=None):
    """layer.get_config()[key], or `default` when the config lacks it."""
    return layer.get_config().get(key, default)


def require(layer, attribute: str, value, supported) -> None:
    """Raise UnsupportedLayerError unless `value` is one of `supported`."""
    if value not in supported:
        raise UnsupportedLayerError(layer.name, type(layer).__name__, attribute, value, list(supported))


def np_weight(var) -> np.ndarray:
    """A Keras variable (or array-like) as a float32 numpy array."""
    return np.asarray(var.numpy() if hasattr(var, "numpy") else var, dtype=np.float32)
