"""The op table is complete and consistent: every IR op kind has every part, every kernel a
lowering can name is declared in the runtime headers, and the variant table is the only list."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

import model_cases as mc
from larq2mcu import codegen, ir, variants
from larq2mcu.errors import InvalidVariantError
from larq2mcu.ops import OPS, opdef

PARTS = ("reference", "lower", "cost", "bounds")


def _op_kinds():
    """Every concrete op kind of ir.py: Op subclasses that ops are made of (not the shared bases)."""
    bases = {ir.Op, ir.Pool2D}
    return [c for _, c in inspect.getmembers(ir, inspect.isclass) if issubclass(c, ir.Op) and c not in bases]


@pytest.mark.parametrize("kind", _op_kinds(), ids=lambda c: c.__name__)
def test_every_op_kind_has_every_part(kind):
    d = opdef(kind)
    for part in PARTS:
        assert callable(getattr(d, part)), f"{kind.__name__} lacks {part}"
    attrs = {f.name for f in dataclasses.fields(kind)} - {"name", "inputs", "output", "layer"}
    assert set(d.hash_fields) == attrs, f"{kind.__name__}: the model hash must see every attribute"


def test_table_has_no_stray_entries():
    assert set(OPS) == set(_op_kinds())


def test_unknown_kind_is_a_clear_error():
    @dataclasses.dataclass(frozen=True, eq=False)
    class Mystery(ir.Op):
        pass
    with pytest.raises(NotImplementedError, match="Mystery has no entry in the op table"):
        opdef(Mystery(name="m", inputs=(), output="y"))


@pytest.mark.parametrize("variant", list(variants.VARIANTS))
def test_lowered_kernels_exist_in_the_runtime(variant, tmp_path):
    """Every function a lowering calls is a runtime kernel or a function the model defines itself."""
    import larq2mcu
    declared = codegen.runtime_kernels() | {"memset", "memcpy"}
    for case in ("conv_pad1_s1", "pooling_mix", "densenet_concat", "dense_mix", "reshape_mix"):
        exp = larq2mcu.export(mc.build(case), tmp_path / case, name="m", kernel_variant=variant)
        own = {s.spec.name for s in exp.lowered.steps if s.spec}
        for s in exp.lowered.steps:
            for c in s.calls:
                assert c.fn in declared | own, f"{case}/{variant}: {c.fn} is neither a runtime kernel nor defined"
            if s.spec:
                assert s.spec.engine.startswith("l2mi_")


def test_variant_table_is_the_only_list():
    from larq2mcu.cli import main
    kernels = next(p for p in main.commands["export"].params if p.name == "kernels")
    assert list(kernels.type.choices) == list(variants.VARIANTS)
    for v in variants.VARIANTS.values():
        if v.specialised:
            assert f"l2m_conv2d_b32_b32_{v.name}" in codegen.runtime_kernels()
    with pytest.raises(InvalidVariantError, match="unknown kernel variant 'usad9'; valid: ref, hs"):
        variants.get_variant("usad9")


def test_misspelt_variant_is_refused_before_export(tmp_path):
    import larq2mcu
    with pytest.raises(InvalidVariantError, match="usad9"):
        larq2mcu.export(mc.build("dense_mix"), tmp_path / "o", kernel_variant="usad9")
    assert not (tmp_path / "o").exists()
