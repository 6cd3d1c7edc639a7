"""Level 1: the numpy reference (on the frontend's graph, before any pass) equals Keras:
every intermediate bit tensor bit for bit, floats to rounding, classes exactly."""
from __future__ import annotations

import numpy as np
import pytest

import model_cases as mc
from larq2mcu import ir, reference
from larq2mcu.export import lower
from larq2mcu.verify import FLOAT_ATOL, FLOAT_RTOL, keras_outputs


@pytest.mark.parametrize("case", sorted(mc.CASES))
def test_reference_matches_keras(case):
    m = mc.build(case, seed=3)
    x = mc.inputs(m, 48, seed=3)
    _, src, *_ = lower(m, "m")
    vals = reference.run(src, x, keep_all=True)
    layer_names = {layer.name for layer in m.layers}
    named = {t: tt for t, tt in src.tensors.items() if tt.origin and tt.origin.layer in layer_names}
    ko = keras_outputs(m, [tt.origin.layer for tt in named.values()], x)
    y_k = ko["__output__"]
    y_r = vals[src.outputs[0]].astype(np.float32).reshape(y_k.shape)
    assert np.all(np.abs(y_r - y_k) <= FLOAT_ATOL + FLOAT_RTOL * np.abs(y_k))
    if y_k.ndim == 2 and y_k.shape[1] > 1:
        assert np.array_equal(y_r.argmax(1), y_k.argmax(1))
    checked = 0
    for t, tt in named.items():
        k = np.asarray(ko[tt.origin.layer]).reshape(vals[t].shape)
        if tt.dtype == ir.BITS:
            assert np.array_equal(vals[t], np.where(k < 0, -1, 1)), f"{case}: bits of {tt.origin}"
            checked += 1
    assert checked > 0 or case == "dense_mix"


def test_reference_binary_conv_is_integer_dot():
    """A hand-computed 1-channel example of both paddings (docs/MATH.md §2)."""
    x = np.array([[[[1], [-1]], [[-1], [-1]]]], np.int8)           # 2x2x1
    w = np.ones((3, 3, 1, 1), np.int8)
    zero = reference.binary_conv_acc(x, w, (1, 1), (1, 1, 1, 1), pad_one=False)
    one = reference.binary_conv_acc(x, w, (1, 1), (1, 1, 1, 1), pad_one=True)
    assert zero[0, :, :, 0].tolist() == [[-2, -2], [-2, -2]]        # sum of the 4 pixels, padding 0
    assert one[0, :, :, 0].tolist() == [[3, 3], [3, 3]]             # + 5 padded taps of +1
