"""The report, the manifest and the board-fit check show the generated header's numbers, for
every kernel variant (the variants lay binary weights out differently: the bit-sliced engine's
rows and counter planes take other bytes than packed weights and thresholds)."""
from __future__ import annotations

import json
import re

import pytest

import model_cases as mc
from larq2mcu import report, variants
from larq2mcu.board import runs as boardrun
from larq2mcu._tf import tf_modules

tf, keras, lq = tf_modules()


def _conv32():
    """The issue's case: a 3×3, 32→32 thresholded binary conv (sliced with clz/usad8/zbb)."""
    return mc._seq((8, 8, 32), [
        lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, use_bias=False, **mc.BIN),
        keras.layers.BatchNormalization(), lq.layers.QuantConv2D(8, 1, use_bias=False, **mc.BIN),
        keras.layers.Flatten(), keras.layers.Dense(3)])


def _macro(text: str, name: str) -> int:
    return int(re.search(rf"#define M_{name} (\d+)", text).group(1))


@pytest.fixture(scope="module")
def model():
    from larq2mcu.dev import zoo
    keras.utils.set_random_seed(3)
    return zoo.randomize_bn(_conv32(), seed=3)


@pytest.mark.parametrize("variant", list(variants.VARIANTS))
def test_report_manifest_and_fit_equal_the_header(model, tmp_path, variant):
    import larq2mcu
    exp = larq2mcu.export(model, tmp_path / "o", name="m", kernel_variant=variant)
    header = exp.files["m.h"]
    weights_h, arena_h = _macro(header, "WEIGHT_BYTES"), _macro(header, "ARENA_SIZE")
    arrays = re.findall(r"static const (\w+) m_\w+\[(\d+)\]", exp.files["m_weights.c"])
    assert weights_h == sum((1 if t == "int8_t" else 4) * int(n) for t, n in arrays)
    assert sum(r.weight_bytes for r in exp.rows()) == weights_h
    manifest = json.loads((tmp_path / "o" / "larq2mcu.json").read_text())
    assert manifest["weight_bytes"] == weights_h and manifest["kernel_variant"] == variant
    assert report.totals(manifest["report"])["weight_bytes"] == weights_h
    assert manifest["arena_size"] == manifest["report"]["arena_size"] == arena_h
    assert boardrun.footprint(exp) == (weights_h, arena_h)
    assert f"weights (flash): {weights_h:,} B total" in exp.report()
    assert f"weights (flash): {weights_h:,} B" in report.report_dir(tmp_path / "o")


def test_variants_really_differ_in_layout(model, tmp_path):
    """Guards the test above: with the sliced engine the bytes differ from ref (1344 vs 1280 in
    the issue), so equality is not trivially true."""
    import larq2mcu
    ref = larq2mcu.export(model, tmp_path / "r", name="m").weight_bytes
    clz = larq2mcu.export(model, tmp_path / "c", name="m", kernel_variant="clz").weight_bytes
    assert clz != ref
