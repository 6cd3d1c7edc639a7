"""Shared fixtures. TF is imported through larq2mcu._tf so TF_USE_LEGACY_KERAS is set first."""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tfm():
    from larq2mcu._tf import tf_modules
    return tf_modules()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
