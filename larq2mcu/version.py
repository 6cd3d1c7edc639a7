"""The package version, in a leaf module: everything that stamps it (banners, manifests, reports)
imports it from here, never from the package `__init__` that imports them."""
__version__ = "0.1.0"
