"""bench/opkinds.py: counted calls are charged to the step that made them, in order, so two
steps of one kernel family each get their own work; gcc's clone suffixes do not break the match;
calls that no step made (the output copy) are kept, without work."""
from __future__ import annotations

from bench import BINARY_KERNELS
from bench.opkinds import attribute, families


def _steps():
    return [{"kind": "BatchNorm", "fns": ["l2m_batchnorm_f32_ref"], "elements": 10, "in_elements": 10,
             "binary_macs": 0, "float_macs": 0},
            {"kind": "BinaryConv2D", "fns": ["l2m_conv2d_b32_b32_hs"], "elements": 32, "in_elements": 64,
             "binary_macs": 900, "float_macs": 0},
            {"kind": "BatchNorm", "fns": ["l2m_batchnorm_f32_ref"], "elements": 7, "in_elements": 7,
             "binary_macs": 0, "float_macs": 0},
            {"kind": "AvgPool2D", "fns": ["l2m_avgpool_f32_f32_opt"], "elements": 4, "in_elements": 16,
             "binary_macs": 0, "float_macs": 0}]


def test_calls_are_charged_in_order():
    calls = [("l2m_batchnorm_f32_ref", 100), ("l2m_conv2d_b32_b32_hs.constprop.0", 500),
             ("l2m_batchnorm_f32_ref", 70), ("l2m_avgpool_f32_f32_opt", 30), ("memcpy", 9)]
    assert [i for _, _, i in attribute(calls, _steps())] == [0, 1, 2, 3, None]
    fam = families(calls, _steps(), BINARY_KERNELS)
    assert fam["l2m_batchnorm_f32"]["instructions"] == 170 and fam["l2m_batchnorm_f32"]["work"] == 17
    assert fam["l2m_conv2d_b32_b32"]["unit"] == "BMAC" and fam["l2m_conv2d_b32_b32"]["work"] == 900
    assert fam["l2m_avgpool_f32_f32"]["unit"] == "input element" and fam["l2m_avgpool_f32_f32"]["work"] == 16
    assert fam["memcpy"]["work"] == 0 and fam["memcpy"]["instructions"] == 9


def test_an_old_run_without_steps_has_instructions_only():
    fam = families([("l2m_batchnorm_f32_ref", 5), ("l2m_batchnorm_f32_ref", 6)], None, BINARY_KERNELS)
    assert fam == {"l2m_batchnorm_f32": {"instructions": 11, "work": 0, "unit": "element", "binary": False}}


def test_xtensa_clone_names_are_matched():
    """Xtensa gcc spells a clone f$constprop$0: its calls were left unattributed (lx106 rows)."""
    calls = [("l2m_batchnorm_f32_ref", 100), ("l2m_conv2d_b32_b32_hs$constprop$0", 500)]
    assert [i for _, _, i in attribute(calls, _steps())] == [0, 1]
    assert "l2m_conv2d_b32_b32" in families(calls, _steps(), BINARY_KERNELS)


def test_board_table_rows_line_up_by_step():
    """`_ref` makes one call more per conv (its BatchNorm kernel): rows are steps, not call
    positions, so every later row still compares the same layer across variants."""
    from bench.report import _board_table
    fast = {"calls": [["l2m_conv2d_b32_f32_hs.constprop.0", 500], ["l2m_softmax_f32_f32_ref", 40],
                      ["memcpy", 9]],
            "steps": [{"fns": ["l2m_conv2d_b32_f32_hs"]}, {"fns": ["l2m_softmax_f32_f32_ref"]}],
            "instructions": 549, "binary_kernel_instructions": 500, "image_flash": 1, "image_ram": 1,
            "stack_hwm": 1}
    ref = {"calls": [["l2m_conv2d_b32_f32_ref", 900], ["l2m_batchnorm_f32_ref", 60],
                     ["l2m_softmax_f32_f32_ref", 40], ["memcpy", 9]],
           "steps": [{"fns": ["l2m_conv2d_b32_f32_ref", "l2m_batchnorm_f32_ref"]},
                     {"fns": ["l2m_softmax_f32_f32_ref"]}],
           "instructions": 1009, "binary_kernel_instructions": 900, "image_flash": 1, "image_ram": 1,
           "stack_hwm": 1}
    m = {"binary_layers": [["conv", 1000]], "binary_macs": 1000, "arena": 0}
    rows = [r for r in _board_table(m, "qemu_m0", {"hs": fast, "ref": ref}) if r.startswith("| ")]
    body = rows[1:-1]   # header, then steps, then the total
    assert [r.split(" | ")[1] for r in body] == ["`l2m_conv2d_b32_f32`", "`l2m_softmax_f32_f32`", "`memcpy`"]
    assert [r.split(" | ")[3:5] for r in body] == [["500", "960"], ["40", "40"], ["9", "9"]]
