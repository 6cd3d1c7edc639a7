"""Issue 17, latency as a product feature: the latency.json sidecar (larq2mcu.latency_report)
that `run --out`, `export --board` (emulated boards) and `validate --store` write and the text
and HTML reports read; `run` over several boards with progress; export(cpu=) and
`export --board --preprocess`."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from larq2mcu import latency_report, report
from larq2mcu.board.profiles import load_boards

BOARDS = load_boards()


def _measurement(board="qemu_m4", total=1000):
    layers = [dict(index=0, op="BinaryDense", layer="d0", instructions=700),
              dict(index=1, op="Dense", layer="d1", instructions=250)]
    return dict(board=board, layers=layers, glue=total - 950, total=total, clock_hz=25_000_000,
                ms=total * 1000 / 25e6, image_flash=30_000, sections={".text": 20_000, ".rodata": 9_000,
                                                                         ".data": 1_000, ".bss": 2_000},
                stack_hwm=600, static_ram=3_000, ram_total=3_600, flash_capacity=4_194_304,
                ram_capacity=4_194_304, fits=True)


def test_sidecar_merges_boards_and_drops_stale_entries(tmp_path):
    latency_report.store(tmp_path, "emulated", _measurement("qemu_m4"), "h1", "usad8")
    latency_report.store(tmp_path, "emulated", _measurement("qemu_m7", 1200), "h1", "usad8")
    d = latency_report.load(tmp_path, "h1", "usad8")
    assert sorted(d["emulated"]) == ["qemu_m4", "qemu_m7"] and d["emulated"]["qemu_m7"]["total"] == 1200
    assert latency_report.load(tmp_path, "h2") is None              # another model
    assert latency_report.load(tmp_path, "h1", "ref") is None       # other kernels, other counts
    latency_report.store(tmp_path, "emulated", _measurement("qemu_m4", 999), "h2", "ref")
    d = latency_report.load(tmp_path, "h2", "ref")
    assert list(d["emulated"]) == ["qemu_m4"] and d["emulated"]["qemu_m4"]["total"] == 999
    with pytest.raises(ValueError):
        latency_report.merged(None, "cycles", _measurement(), "h")
    (tmp_path / latency_report.SIDECAR).write_text("{not json")
    assert latency_report.load(tmp_path, "h2") is None


def test_text_lines_show_layers_total_ms_and_footprint():
    tgt = dict(board="nucleo_f446re", emulated=False, samples=4, bit_identical=4, ok=True, tick_hz=16_000_000,
               mean_ticks=32_000.0, mean_ms=2.0, accuracy=dict(board=0.75, host=0.75),
               layers=[dict(index=0, layer="d0", op="BinaryDense", ticks=24_000.0, instructions=None),
                       dict(index=1, layer="d1", op="Dense", ticks=8_000.0, instructions=None)])
    text = "\n".join(latency_report.text_lines({"emulated": {"qemu_m4": _measurement()},
                                                "target": {"nucleo_f446re": tgt}}))
    assert re.search(r"0  d0\s+BinaryDense\s+700\s+70\.0 %", text) and re.search(r"1  d1\s+Dense\s+250\s+25\.0 %", text)
    assert "total 1,000 instructions = 0.040 ms at 25 MHz" in text
    assert "fits qemu_m4: flash 30,000 of 4,194,304 B" in text and ".text 20,000, .rodata 9,000, .data 1,000" in text
    assert "RAM 3,600 of 4,194,304 B (0.1 %, .data 1,000 + .bss 2,000 + measured stack high-water mark 600)" in text
    assert ".bss" not in text.split("linked image incl. code: ")[1].split(")")[0]
    assert "32,000 ticks per inference = 2.000 ms at 16 MHz" in text
    assert re.search(r"0  d0\s+BinaryDense\s+24,000 ticks\s+1\.500 ms", text)
    assert "4/4 bit-identical" in text and "accuracy vs labels: board 75.00 %" in text
    too_big = dict(_measurement(), ram_total=5_000_000)
    assert latency_report.footprint_line(too_big).startswith("does NOT fit qemu_m4")
    assert latency_report.text_lines(None) == []


def _need(name):
    from larq2mcu import board as targets
    err = targets.toolchain_available(BOARDS[name], emulator=True)
    if err is not None:
        pytest.skip(str(err))


class _Progress:
    """Records what a rich Progress would show."""

    def __init__(self):
        self.tasks = {}

    def add_task(self, description, total=None):
        self.tasks[0] = dict(description=description, total=total, completed=0)
        return 0

    def update(self, task, **kw):
        self.tasks[task].update(kw)

    def advance(self, task, n=1):
        self.tasks[task]["completed"] += n


@pytest.fixture(scope="module")
def run_out(tmp_path_factory, tfm):
    """`run` on qemu_m4 (usad8) and qemu_m3 (clz), its export kept with latency.json."""
    _need("qemu_m4")
    from model_cases import dense_mix

    from larq2mcu.board.project import run_and_compare
    from larq2mcu.dev import zoo
    m = dense_mix()
    zoo.randomize_bn(m)
    out = tmp_path_factory.mktemp("run") / "exp"
    prog = _Progress()
    text, ok = run_and_compare(m, ["qemu_m4", "qemu_m3"], None, 3, "sym", "net", out_dir=out, progress=prog)
    return m, out, text, ok, prog


@pytest.mark.toolchain
def test_run_keeps_export_with_latency_and_report_shows_it(run_out):
    m, out, text, ok, prog = run_out
    assert ok and "board qemu_m4:" in text and "board qemu_m3:" in text
    t = prog.tasks[0]
    assert t["total"] == 4 and t["completed"] == 4    # 1 build of 3 samples + 1 latency build, per board
    side = json.loads((out / latency_report.SIDECAR).read_text())
    assert list(side["emulated"]) == ["qemu_m4"] and side["kernel_variant"] == "usad8"   # m3 runs clz kernels
    d = side["emulated"]["qemu_m4"]
    rep = report.report_dir(out)
    for r in d["layers"]:
        assert re.search(rf"{r['index']}\s+{re.escape(r['layer'][:24])}\s+{r['op']}\s+{r['instructions']:,}\s", rep)
    assert f"total {d['total']:,} instructions" in rep and f"fits qemu_m4: flash {d['image_flash']:,} of" in rep
    assert d["image_flash"] >= d["sections"][".text"] > 0 and d["stack_hwm"] > 0
    from larq2mcu import html_report
    from larq2mcu.cli_util import report_data
    data, note = report_data(out)
    page = html_report.render_html(data)
    assert not note and 'id="latency"' in page and f"{d['total']:,} instructions per inference" in page
    assert f"{d['image_flash']:,} / 4,194,304 B" in page      # fit bars from the linked image


@pytest.mark.toolchain
def test_validation_results_stored_beside_the_export(run_out, tmp_path):
    """`validate --store`: the per-layer ticks of the serial run go to the export's latency.json
    (the same model and kernels only); the report shows them beside the instructions."""
    import larq2mcu
    from larq2mcu.board.validate import on_target, store_result
    _need("qemu_m4")
    m, out, _, _, _ = run_out
    exp = larq2mcu.export(m, tmp_path / "lib", name="net", cpu="cortex-m4")
    assert exp.kernel_variant == "usad8"
    x = np.random.default_rng(5).normal(size=(2, 40)).astype(np.float32)
    v = on_target(exp.out_dir, "net", BOARDS["qemu_m4"], x, exp.build_host().predict(x), emulated=True,
                  workdir=tmp_path / "w", rows=exp.rows())
    assert v.ok
    assert "stored in" in store_result(v, out, exp.model_hash, exp.kernel_variant)
    rep = report.report_dir(out)
    assert "measured on qemu_m4 (emulated UART, 2 samples, 2/2 bit-identical" in rep
    assert "instructions per inference on qemu_m4" in rep          # the emulated entry is kept
    other = tmp_path / "other"
    shutil.copytree(exp.out_dir, other)
    man = json.loads((other / "larq2mcu.json").read_text())
    (other / "larq2mcu.json").write_text(json.dumps(dict(man, model_hash="0" * 16)))
    assert store_result(v, other, exp.model_hash, exp.kernel_variant).startswith("not stored")
    assert not (other / latency_report.SIDECAR).exists()


@pytest.mark.toolchain
@pytest.mark.parametrize("board_name,twin,variant", [("qemu_m0", None, "hs"), ("nucleo_f446re", "qemu_m4", "usad8")])
def test_export_board_project_measures_and_reports_latency(board_name, twin, variant, tmp_path, tfm):
    """export --board: latency.json is one of the project's files, the fit line is the measured
    one (code + stack), and `report` on the project shows it. A real board is measured on its
    emulated twin (instructions, stack) with its own linked image's sections and capacities."""
    _need(twin or board_name)
    from model_cases import dense_mix

    from larq2mcu.board.project import export_project
    from larq2mcu.cli_util import report_text
    out = tmp_path / "proj"
    exp, files, b = export_project(dense_mix(), out, "net", board_name, None, force=False)
    assert latency_report.SIDECAR in files
    man = json.loads((out / "larq2mcu.json").read_text())
    assert latency_report.SIDECAR in man["files"] and man["kernel_variant"] == variant
    d = json.loads((out / latency_report.SIDECAR).read_text())["emulated"][board_name]
    assert man["fit"] == latency_report.footprint_line(d) and "stack high-water mark" in man["fit"]
    assert d.get("emulated_on") == twin and d["flash_capacity"] == BOARDS[board_name].flash
    assert d["ram_total"] == d["static_ram"] + d["stack_hwm"] <= BOARDS[board_name].ram and d["stack_hwm"] > 0
    assert d["ms"] == pytest.approx(d["total"] * 1000 / BOARDS[board_name].clock_hz)
    text = report_text(out)
    assert f"total {d['total']:,} instructions" in text and f"fits {board_name}: flash" in text
    if twin:   # the board's image carries its UART console and serial link: more code than the twin's
        assert "QEMU qemu_m4 with this board's flags" in text
        from larq2mcu import board as targets
        from larq2mcu.board import latency
        twin_elf = targets.build(out / "lib" / "net", BOARDS[twin], np.zeros((1, 40), np.float32), None, tmp_path / "t")
        assert d["image_flash"] > latency.flash_ram(latency.sections(twin_elf, "arm-none-eabi"))[0]


def test_export_cpu_argument_picks_the_variant(tmp_path, tfm):
    from model_cases import dense_mix

    import larq2mcu
    from larq2mcu.errors import BoardError
    m = dense_mix()
    assert larq2mcu.export(m, tmp_path / "a", cpu="cortex-m0").kernel_variant == "hs"
    assert larq2mcu.export(m, tmp_path / "b", cpu="cortex-m4", kernel_variant="ref").kernel_variant == "ref"
    assert larq2mcu.export(m, tmp_path / "c").kernel_variant == "ref"
    with pytest.raises(BoardError, match="unknown cpu 'cortex-m5'"):
        larq2mcu.export(m, tmp_path / "d", cpu="cortex-m5")


def test_export_board_preprocess_option(tmp_path, tfm, monkeypatch):
    """--preprocess reaches the samples embedded in the board project (same choices as verify)."""
    from click.testing import CliRunner
    from model_cases import dense_mix

    import larq2mcu.board.project as project
    from larq2mcu import cli
    seen = []
    monkeypatch.setattr(project, "export_project",
                        lambda *a, **kw: seen.append(kw["mode"]) or (_ for _ in ()).throw(SystemExit(0)))
    path = tmp_path / "m.keras"
    dense_mix().save(path)
    for mode in ("none", "unit"):
        r = CliRunner().invoke(cli.main, ["export", str(path), "-o", str(tmp_path / mode), "--board", "qemu_m4",
                                          "--data", "x.npz", "--preprocess", mode])
        assert r.exit_code == 0, r.output
    assert seen == ["none", "unit"]
    r = CliRunner().invoke(cli.main, ["export", str(path), "-o", str(tmp_path / "z"), "--board", "qemu_m4",
                                      "--preprocess", "bogus"])
    assert r.exit_code == 2 and "'sym', 'unit', 'none'" in r.output
