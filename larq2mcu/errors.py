"""Typed errors. Every user mistake maps to one of these; the CLI prints the message and exits 2.

Each message names what was wrong (layer, class, attribute, value) and what is supported, so the
user can fix the model without reading our source.
"""
from __future__ import annotations


class Larq2McuError(Exception):
    """Base class. `exit_code` is what the CLI returns for it."""

    exit_code = 2


class UnsupportedLayerError(Larq2McuError):
    """A layer (or one attribute of it) that larq2mcu cannot export."""

    def __init__(self, layer: str, cls: str, attribute: str | None = None, value=None,
                 supported=None, hint: str | None = None):
        self.layer, self.cls, self.attribute, self.value, self.supported = (
            layer, cls, attribute, value, supported)
        if attribute is None:
            msg = f"layer '{layer}' ({cls}) is not supported"
        else:
            msg = f"layer '{layer}' ({cls}): {attribute}={value!r} is not supported"
        if supported is not None:
            sup = ", ".join(map(str, supported)) if isinstance(supported, (list, tuple, set, frozenset)) \
                else str(supported)
            msg += f"; supported: {sup}"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)


class UnsupportedQuantizerError(UnsupportedLayerError):
    """A quantizer whose evaluation shows no exact export (not element-wise, not monotone, neither a
    step function nor a clip; see frontend/quantizers.py), naming what was seen."""


class ModelLoadError(Larq2McuError):
    """The model path does not exist, is not a Keras model, or is corrupt."""


class ModelStructureError(Larq2McuError):
    """A graph-level problem: several inputs/outputs, shared layers, undefined shapes, …"""


class UnsupportedOutputError(ModelStructureError):
    """A model output that larq2mcu cannot export (the model input returned as an output, an output
    dtype other than float32/sign, output names whose C macros would clash); `output` is its Keras
    name, `index` its position in model.outputs."""

    def __init__(self, output: str, index: int, why: str):
        self.output, self.index = output, index
        super().__init__(f"model output '{output}' (output {index}): {why}")


class InvalidNameError(Larq2McuError):
    """The model name is not a valid C identifier prefix."""


class InvalidVariantError(Larq2McuError):
    """A kernel variant name that larq2mcu.variants does not list."""


class OutputDirError(Larq2McuError):
    """The output path is a file, is not writable, or holds foreign files (without --force)."""


class InputError(Larq2McuError):
    """Data given to predict/verify has the wrong shape, dtype or values."""


class DataError(Larq2McuError):
    """A data set is missing or unreadable; the message says where to put the files."""


class BoardError(Larq2McuError):
    """Unknown board, invalid boards.yaml entry, or a model that does not fit the board."""


class BuildError(Larq2McuError):
    """The C compiler (host or cross) failed; the message carries its output."""

    exit_code = 1


class ToolchainMissingError(Larq2McuError):
    """A compiler, QEMU or PlatformIO is not installed; the message says how to install it."""


class EmulationError(Larq2McuError):
    """A guest run under QEMU faulted, timed out, or returned a non-zero status."""

    exit_code = 1


class VerificationError(Larq2McuError):
    """Host C and Keras disagree."""

    exit_code = 1


class ModelTooLargeError(Larq2McuError):
    """The model needs more weight bytes than the limit (estimated from shapes before any weight
    array is built); `layer` is the largest layer, `need` and `limit` are bytes."""

    def __init__(self, msg: str, layer: str | None = None, need: int | None = None, limit: int | None = None):
        self.layer, self.need, self.limit = layer, need, limit
        super().__init__(msg)
