"""Which Larq quantizers larq2mcu can export.

The sign family (SteSign, ApproxSign, SwishSign) differs only in its gradient; in the forward pass
each is sign(x) with sign(0) = sign(−0.0) = +1, i.e. bit = (x < 0). Anything else (SteTern,
DoReFa, MagnitudeAwareSign, SteHeaviside, NoOp, custom callables) changes the forward values and
is rejected rather than mis-exported.
"""
from __future__ import annotations

from ..errors import UnsupportedQuantizerError

SIGN_QUANTIZERS = ("SteSign", "ApproxSign", "SwishSign")
SIGN_FUNCTIONS = ("ste_sign", "approx_sign", "swish_sign")


def is_sign(q) -> bool:
    """True for a larq sign-family quantizer object or function."""
    if q is None:
        return False
    mod = getattr(type(q), "__module__", "")
    if type(q).__name__ in SIGN_QUANTIZERS and mod.startswith("larq"):
        return True
    fn_mod = getattr(q, "__module__", "") or ""
    return getattr(q, "__name__", None) in SIGN_FUNCTIONS and fn_mod.startswith("larq")


def describe(q) -> str:
    """Name of a quantizer for error messages: its `__name__` (functions), else its class name."""
    return type(q).__name__ if not hasattr(q, "__name__") else q.__name__


def classify(layer, attribute: str) -> bool:
    """Return True for a sign quantizer, False for None; raise for anything else."""
    q = getattr(layer, attribute, None)
    if q is None:
        return False
    if is_sign(q):
        return True
    raise UnsupportedQuantizerError(
        layer.name, type(layer).__name__, attribute, describe(q),
        list(SIGN_FUNCTIONS) + [None],
        hint="Only sign quantizers have an exact bitwise export; ste_tern, dorefa_quantizer, "
             "magnitude_aware_sign and ste_heaviside are not supported yet")
