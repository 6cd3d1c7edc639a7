"""larq2mcu: export Larq/Keras binarized neural networks to freestanding bit-packed C."""
from __future__ import annotations

import os as _os

# Must happen before anything imports TensorFlow (larq needs Keras 2 = tf-keras).
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .version import __version__  # noqa: E402

from .errors import (  # noqa: E402
    BoardError, BuildError, DataError, EmulationError, InputError, InvalidNameError, InvalidVariantError,
    Larq2McuError,
    ModelLoadError, ModelStructureError, OutputDirError, ToolchainMissingError, UnsupportedLayerError,
    UnsupportedQuantizerError, VerificationError)


# Binding the function *after* importing the submodule of the same name keeps
# `larq2mcu.export(...)` callable (a later `import larq2mcu.export` does not rebind it).
from .export import Export, export  # noqa: E402


__all__ = [
    "export", "Export", "__version__", "Larq2McuError", "UnsupportedLayerError", "UnsupportedQuantizerError",
    "ModelLoadError", "ModelStructureError", "InvalidNameError", "InvalidVariantError", "OutputDirError", "InputError",
    "DataError", "BoardError", "BuildError", "ToolchainMissingError", "EmulationError",
    "VerificationError",
]
