"""The one place TensorFlow and Larq are imported.

Larq 0.14 needs Keras 2 (tf-keras); TF 2.16+ selects it only when TF_USE_LEGACY_KERAS=1 is set
before TensorFlow's first import, so the package sets it at import time (larq2mcu/__init__.py)
and every module gets tf/larq through `tf_modules()`.
"""
from __future__ import annotations

import logging
import os
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def tf_modules():
    """Return (tf, keras, larq) with logging silenced."""
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import sys
    if "tensorflow" in sys.modules and "larq" in sys.modules:
        import tensorflow as tf
        import tf_keras as keras
        import larq
    else:
        # TF's C++ side logs (oneDNN, CUDA stubs) to fd 2 before absl is initialised; the
        # environment variables above cannot reach those lines, so hide fd 2 during the import.
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import tensorflow as tf
                import tf_keras as keras
                import larq
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf, keras, larq
