"""larq2mcu: export Larq/Keras binarized neural networks to freestanding bit-packed C."""
from __future__ import annotations

import os as _os
import sys as _sys

# Must happen before anything imports TensorFlow (larq needs Keras 2 = tf-keras). setdefault: a
# value the user set is theirs (larq2mcu._tf still insists on "1" when it imports TensorFlow).
if "tensorflow" in _sys.modules and _os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    import warnings as _warnings
    _warnings.warn("TensorFlow was imported before larq2mcu without TF_USE_LEGACY_KERAS=1, so it may use "
                   "Keras 3, which larq cannot work with; set os.environ['TF_USE_LEGACY_KERAS'] = '1' "
                   "before the first `import tensorflow` (README: Install)", RuntimeWarning, stacklevel=2)
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .version import __version__  # noqa: E402

from .errors import (  # noqa: E402
    BoardError, BuildError, DataError, EmulationError, InputError, InvalidNameError, InvalidVariantError,
    Larq2McuError,
    ModelLoadError, ModelStructureError, OutputDirError, ToolchainMissingError, UnsupportedLayerError,
    UnsupportedQuantizerError, VerificationError)
from .errors import ModelTooLargeError  # noqa: E402


# Binding the function *after* importing the submodule of the same name keeps
# `larq2mcu.export(...)` callable (a later `import larq2mcu.export` does not rebind it).
from .export import Export, export  # noqa: E402


__all__ = [
    "export", "Export", "__version__", "Larq2McuError", "UnsupportedLayerError", "UnsupportedQuantizerError",
    "ModelLoadError", "ModelStructureError", "InvalidNameError", "InvalidVariantError", "OutputDirError", "InputError",
    "DataError", "BoardError", "BuildError", "ToolchainMissingError", "EmulationError",
    "VerificationError", "ModelTooLargeError",
]
